"""systemd's notify protocol (sd_notify(3)), without libsystemd.

`Notifier.from_env()` is inert when NOTIFY_SOCKET is unset (not run by
systemd), so the daemon can call it unconditionally. The watchdog interval is
WATCHDOG_USEC when WATCHDOG_PID is unset or ours.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    def __init__(self, address: str | None) -> None:
        self.address = address
        self.sent: list[str] = []     # what was sent, for logs and tests

    @classmethod
    def from_env(cls) -> Notifier:
        address = os.environ.get("NOTIFY_SOCKET") or None
        if address and address.startswith("@"):
            address = "\0" + address[1:]
        return cls(address)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, **fields: str | int) -> bool:
        """Send `KEY=VALUE` lines (e.g. READY=1, STATUS=...); False if it failed."""
        if not self.address:
            return False
        text = "\n".join(f"{k.upper()}={v}" for k, v in fields.items())
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(text.encode(), self.address)
        except OSError:
            return False
        self.sent.append(text)
        return True

    @staticmethod
    def watchdog_interval() -> float | None:
        """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None."""
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        try:
            return max(0.1, int(usec) / 2e6)
        except ValueError:
            return None

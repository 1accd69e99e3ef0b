"""A watchdog device for a lab node: a FIFO that "reboots" the node when nobody pets it.

    python -m hbd_lab.watchdog PREFIX NODE DEVICE TIMEOUT_S

ha.cf's `watchdog DEVICE` makes the daemon write to a watchdog device at each
heartbeat; a kernel whose daemon stops writing reboots. In the lab DEVICE is
a FIFO in the node's directory, and this process reads it (it runs in the
lab's switch namespace, so the lab's teardown ends it). Like Linux's
watchdog it is armed by the first write; when no byte arrives for TIMEOUT
seconds it powers the node off (`fence_plugin.power_off`: every process
killed, cables pulled; the drill's recovery boots it) and disarms until the
next write. A last byte of 'V' is the magic close: disarmed. Every event is
a line in DEVICE.log. The FIFO is held open for writing too, so a reader
never sees end-of-file between two writers.
"""

from __future__ import annotations

import os
import select
import sys
import time

from hbd_lab import fence_plugin


def log(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{time.monotonic():.6f} {text}\n")


def run(prefix: str, node: str, device: str, timeout: float, lifetime: float = 3600.0) -> int:
    if not os.path.exists(device):
        os.mkfifo(device, 0o600)
    fd = os.open(device, os.O_RDWR | os.O_NONBLOCK)
    journal = device + ".log"
    armed_at: float | None = None          # last pet while armed
    start = time.monotonic()
    log(journal, f"ready: {node}, timeout {timeout:g} s")
    while time.monotonic() - start < lifetime:
        wait = 0.5 if armed_at is None else max(0.0, armed_at + timeout - time.monotonic())
        ready, _, _ = select.select([fd], [], [], wait)
        now = time.monotonic()
        if ready:
            data = os.read(fd, 4096)
            if data and armed_at is None:
                log(journal, "armed")
            armed_at = now if data else armed_at
            if data.endswith(b"V"):
                log(journal, "magic close: disarmed")
                armed_at = None
        elif armed_at is not None and now >= armed_at + timeout:
            log(journal, f"not petted for {now - armed_at:.3f} s: rebooting {node}")
            fence_plugin.power_off(prefix, node)
            armed_at = None
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: python -m hbd_lab.watchdog PREFIX NODE DEVICE TIMEOUT_S", file=sys.stderr)
        return 2
    return run(argv[0], argv[1], argv[2], float(argv[3]))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

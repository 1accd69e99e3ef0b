"""Self-fencing of a hung node: the watchdog device, and the immediate reboot.

`watchdog DEVICE` in ha.cf, as heartbeat 3.0.6 does it (heartbeat.c:
hb_init_watchdog, hb_tickle_watchdog, hb_close_watchdog; read, not copied):

* at start the device is opened write-only (close-on-exec), its timeout set with
  the WDIOC_SETTIMEOUT ioctl to deadtime + 10 ms rounded up to whole seconds
  (`heartbeat_timeout`; a device that refuses is logged and kept), and it is
  petted once;
* it is petted with a one-byte write each time heartbeat's main loop handles its
  own status message: once per keepalive, from the same loop that sends the
  heartbeats, so a hung loop stops petting and the kernel reboots the node
  `timeout` seconds later;
* a write that fails is logged and the device closed with the magic 'V';
* a clean stop writes 'V' and closes: a driver with magic close (WDIOF_MAGICCLOSE)
  disarms, one without it (or a kernel with nowayout) reboots the node unless
  something opens the device again in time. heartbeat does no more; neither do we.

`open_watchdog(device, timeout)` gives a `Watchdog`; the runtime calls `pet()` from
its timer path (never from a task of its own: a hung core must stop the pets)
and `close()` on a clean stop. The device is opened non-blocking, so a pet is one
write(2) that never blocks the loop; a device that would block (only a fake can)
counts as a missed pet, logged, not a failure. Nothing raises out of `pet()` or
`close()`; errors are values and log lines. Fakes for tests: a FIFO (with a
reader: the kernel refuses a non-blocking writer without one) or a regular file;
their ioctl fails (ENOTTY), which is logged at info and the device kept.

`reboot_now(reason)`: the failed-stop path (heartbeat's ResourceManager runs
`reboot -nf` when a stop fails). hbd syncs first, with a bound (a hung NFS mount
must not keep the node up), then writes 'b' to /proc/sysrq-trigger: an immediate
reboot, without unmounting. Tests point `sysrq_trigger` at a file.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import struct
import threading
from collections.abc import Callable
from typing import Any

from hbd import logs
from hbd.resources.outcome import OpResult

WDIOC_SETTIMEOUT = 0xC0045706     # _IOWR('W', 6, int)
PET = b"\0"                      # heartbeat writes one NUL byte; any byte pets
MAGIC_CLOSE = b"V"
SYSRQ_TRIGGER = "/proc/sysrq-trigger"
SYNC_TIMEOUT = 5.0


def heartbeat_timeout(deadtime: float) -> int:
    """heartbeat's watchdog timeout for `deadtime` seconds: deadtime + 10 ms, in whole
    seconds rounded up (1 s deadtime: 2 s; 10 s: 11 s)."""
    millis = round(deadtime * 1000) + 10
    return (millis + 999) // 1000


class Watchdog:
    """An open (or failed) watchdog device. See the module docstring."""

    def __init__(self, device: str, fd: int = -1, *, timeout: int | None = None,
                 error: str = "", min_interval: float = 0.0, log: Any = None) -> None:
        self.device = device
        self.timeout = timeout          # seconds the device was set to, if it took it
        self.error = error              # the last problem, in words ("" when none)
        self.pets = 0                   # successful writes
        self.missed = 0                 # writes that would have blocked
        self.min_interval = min_interval
        self._fd = fd
        self._last: float | None = None
        self._log = log or logs.get("hbd.watchdog")

    @property
    def is_open(self) -> bool:
        return self._fd >= 0

    def pet(self, now: float | None = None) -> bool:
        """One write to the device. With `now` (monotonic seconds), a call within
        `min_interval` of the last pet is skipped (True: nothing to do yet)."""
        if self._fd < 0:
            return False
        if now is not None and self._last is not None and now - self._last < self.min_interval:
            return True
        try:
            written = os.write(self._fd, PET)
        except BlockingIOError:
            self.missed += 1
            if self.missed == 1 or self.missed % 100 == 0:
                self._log.warning("watchdog pet would block; skipped", device=self.device,
                                  missed=self.missed)
            return False
        except OSError as exc:
            written, self.error = -1, f"write to {self.device} failed: {exc.strerror}"
        if written != len(PET):
            self.error = self.error or f"short write to {self.device}"
            self._log.error("watchdog write failed: closing the device", device=self.device,
                            reason=self.error)
            self.close()
            return False
        self.pets += 1
        self._last = now
        return True

    def close(self) -> str | None:
        """Write the magic 'V' and close (a clean stop). None, or what went wrong."""
        if self._fd < 0:
            return None
        fd, self._fd = self._fd, -1
        problem = None
        try:
            if os.write(fd, MAGIC_CLOSE) != len(MAGIC_CLOSE):
                problem = f"short write of the magic 'V' to {self.device}"
        except OSError as exc:
            problem = f"cannot write the magic 'V' to {self.device}: {exc.strerror}"
        try:
            os.close(fd)
        except OSError as exc:
            problem = problem or f"cannot close {self.device}: {exc.strerror}"
        if problem:
            self.error = f"{self.error}; {problem}" if self.error else problem
            self._log.error("watchdog not disarmed cleanly", device=self.device, reason=problem)
        else:
            self._log.info("watchdog closed (magic close)", device=self.device)
        return problem


def open_watchdog(device: str, timeout: float | None, *, min_interval: float = 0.0,
                  log: Any = None) -> Watchdog:
    """Open `device`, set its timeout (whole seconds, rounded up; None: leave it),
    pet it once. Never raises: a device that cannot be opened gives a closed
    Watchdog whose `error` says why (and the error is logged)."""
    log = log or logs.get("hbd.watchdog")
    try:
        fd = os.open(device, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENXIO:
            reason += " (a FIFO with no reader)"
        log.error("cannot open watchdog device", device=device, reason=reason)
        return Watchdog(device, error=f"cannot open {device}: {reason}", log=log)
    dog = Watchdog(device, fd, min_interval=min_interval, log=log)
    if timeout is not None:
        dog.timeout = _set_timeout(fd, device, math.ceil(timeout), log)
    log.info("using watchdog device", device=device, timeout=dog.timeout)
    dog.pet()
    return dog


def _set_timeout(fd: int, device: str, seconds: int, log: Any) -> int | None:
    wanted = max(1, seconds)
    try:
        answer = fcntl.ioctl(fd, WDIOC_SETTIMEOUT, struct.pack("i", wanted))
    except OSError as exc:
        level = "info" if exc.errno in (errno.ENOTTY, errno.EINVAL) else "error"
        getattr(log, level)("watchdog timeout not set", device=device, wanted=wanted,
                            reason=exc.strerror)
        return None
    actual = struct.unpack("i", answer)[0]     # drivers may round it
    if actual != wanted:
        log.warning("watchdog device chose another timeout", device=device,
                    wanted=wanted, actual=actual)
    return actual


def reboot_now(reason: str, *, sysrq_trigger: str = SYSRQ_TRIGGER,
               sync_timeout: float = SYNC_TIMEOUT,
               sync: Callable[[], None] = os.sync, log: Any = None) -> OpResult:
    """Reboot this node at once: sync (at most `sync_timeout` seconds), then sysrq 'b'.
    Returns only when the reboot could not be asked for (or `sysrq_trigger` is a
    test's file): the result says which."""
    log = log or logs.get("hbd.watchdog")
    log.critical("rebooting this node now", reason=reason)
    done = threading.Event()

    def syncing() -> None:
        try:
            sync()
        finally:
            done.set()

    threading.Thread(target=syncing, name="hbd-sync", daemon=True).start()
    synced = done.wait(sync_timeout)
    if not synced:
        log.critical("sync did not finish; rebooting without it", waited=sync_timeout)
    try:
        with open(sysrq_trigger, "wb", buffering=0) as trigger:
            trigger.write(b"b")
    except OSError as exc:
        detail = f"cannot reboot: writing 'b' to {sysrq_trigger} failed: {exc.strerror}"
        log.critical("reboot failed", reason=detail)
        return OpResult(False, detail)
    return OpResult(True, f"reboot requested through {sysrq_trigger} "
                          f"({'after' if synced else 'without'} sync): {reason}")

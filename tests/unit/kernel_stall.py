"""Processes that are really stuck in the kernel, for tests of bounded waits (root).

A process in uninterruptible sleep ("D") does not die on SIGKILL until the kernel
lets it go: a script on a dead NFS server or a failing disk. Two honest ways to
make one, whichever this machine has:

* `FuseStall`: a FUSE file system served by the test, which answers the kernel's
  INIT and then reads requests without ever answering. A process that touches it
  waits for the answer; once the request has been read by the server, a fatal
  signal leaves it in `wait_event` (uninterruptible) until the server answers or
  the connection is aborted (fs/fuse/dev.c, request_wait_answer). `close()` aborts
  it: the process then dies of the signal it got.
* `FreezerStall`: a cgroup v1 freezer group; a frozen task sits in state D and a
  pending SIGKILL does not end it until the group is thawed (cgroup v2's freezer
  lets SIGKILL through, so only v1 will do).

Both: `body` is the shell line the script runs (it must `exec` it, so the script
itself is the stuck process), `await hold(pid)` makes that process stuck for good
once it runs, `close()` lets it go.
"""

from __future__ import annotations

import ctypes
import os
import select
import struct
import time
from pathlib import Path

from tests.waiting import until

MS_NOSUID, MS_NODEV, MNT_DETACH = 2, 4, 2
FUSE_INIT = 26
FREEZER = Path("/sys/fs/cgroup/freezer")


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


class FuseStall:
    def __init__(self, mountpoint: Path) -> None:
        self.mountpoint = mountpoint
        self.body = f'exec stat "{mountpoint}/stuck"\n'
        self._fd = -1
        self._mounted = False

    @staticmethod
    def unavailable() -> str | None:
        if os.geteuid() != 0:
            return "mounting a FUSE file system needs root"
        if not os.path.exists("/dev/fuse"):
            return "no /dev/fuse"
        return None

    def open(self) -> None:
        self.mountpoint.mkdir(exist_ok=True)
        self._fd = os.open("/dev/fuse", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        options = f"fd={self._fd},rootmode=40000,user_id=0,group_id=0".encode()
        if _libc().mount(b"hbd-test", str(self.mountpoint).encode(), b"fuse",
                         ctypes.c_ulong(MS_NOSUID | MS_NODEV), options) != 0:
            errno = ctypes.get_errno()
            self.close()
            raise OSError(errno, f"mount fuse: {os.strerror(errno)}")
        self._mounted = True
        request = self._read(timeout=10)
        _, opcode, unique = struct.unpack_from("<IIQ", request)
        if opcode != FUSE_INIT:
            raise OSError(f"FUSE: INIT expected, got opcode {opcode}")
        major, minor, readahead = struct.unpack_from("<III", request, 40)
        # fuse_init_out: major minor max_readahead flags max_background
        # congestion_threshold max_write time_gran max_pages map_alignment flags2
        # max_stack_depth, then padding to its 64 bytes
        out = struct.pack("<IIIIHHIIHHII", major, minor, readahead, 0, 1, 1, 4096, 1, 1, 0,
                          0, 0).ljust(64, b"\0")
        os.write(self._fd, struct.pack("<IiQ", 16 + len(out), 0, unique) + out)

    def _read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            raise TimeoutError("no FUSE request came")
        return os.read(self._fd, 1 << 20 | 4096)

    def _take(self) -> bool:
        """Read (and keep unanswered) a request, if one is there."""
        try:
            return bool(os.read(self._fd, 1 << 20 | 4096))
        except BlockingIOError:
            return False

    async def hold(self, pid: int) -> None:
        # its stat(2) asks the server; once read, the request is the server's to
        # answer, and it never will
        await until(self._take, timeout=10, what=f"the FUSE request of {pid}")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)          # aborts the connection: waiting requests fail
            self._fd = -1
        if self._mounted:
            _libc().umount2(str(self.mountpoint).encode(), MNT_DETACH)
            self._mounted = False


class FreezerStall:
    def __init__(self, name: str) -> None:
        self.group = FREEZER / name
        self.body = "exec sleep 1000\n"

    @staticmethod
    def unavailable() -> str | None:
        if os.geteuid() != 0:
            return "the cgroup freezer needs root"
        if not (FREEZER / "cgroup.procs").exists():
            return f"no cgroup v1 freezer at {FREEZER}"
        return None

    def open(self) -> None:
        self.group.mkdir()

    async def hold(self, pid: int) -> None:
        (self.group / "cgroup.procs").write_text(str(pid))
        (self.group / "freezer.state").write_text("FROZEN")

        def frozen() -> bool:
            with open(f"/proc/{pid}/stat") as handle:
                return handle.read().rpartition(")")[2].split()[0] == "D"
        await until(frozen, what=f"{pid} frozen in state D")

    def close(self) -> None:
        if not self.group.exists():
            return
        (self.group / "freezer.state").write_text("THAWED")
        deadline = time.monotonic() + 10
        while (self.group / "cgroup.procs").read_text().split() and time.monotonic() < deadline:
            time.sleep(0.05)              # the killed task dies once thawed
        self.group.rmdir()


def make_stall(tmp_path: Path) -> FuseStall | FreezerStall | str:
    """A stall this machine can make, opened; or why none can be made."""
    reasons = []
    for kind in (FuseStall, FreezerStall):
        reason = kind.unavailable()
        if reason is None:
            stall = (FuseStall(tmp_path / "fuse") if kind is FuseStall
                     else FreezerStall(f"hbd-test-{os.getpid()}-{tmp_path.name}"))
            try:
                stall.open()
                return stall
            except OSError as exc:
                stall.close()
                reason = str(exc)
        reasons.append(f"{kind.__name__}: {reason}")
    return "; ".join(reasons)


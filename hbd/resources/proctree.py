"""The processes of one operation (a resource script, a `stonith` run): find them all,
kill them all, and never wait for them without a bound.

Why not the process group alone: a script's child that calls setsid() (as
daemons and `setsid CMD` do) leaves the group, and once its parent exits it
is an orphan that `killpg` never reaches. So the tree of an operation is
found in /proc each time it is needed:

1. every process that descends (parent chain) from the operation's root;
2. every process whose environment carries the operation's marker
   (`HBD_OPERATION=<token>`, put in the root's environment by the runner and
   inherited by everything it starts), and everything that descends from one.

Rule 2 finds orphans wherever they were reparented (init, or a subreaper).
Only processes that started no earlier than the root are looked at, so the
environment of long-lived processes is never read. A process that re-executes
itself with an emptied environment *after* it has left the tree escapes; a
cgroup per operation would close that gap (not used: the daemon would need
systemd's `Delegate=yes` and a cgroup v2 hierarchy of its own).

Why not PR_SET_CHILD_SUBREAPER on the daemon: orphans would become hbd's
children, but which operation each came from would still be unknown (the
marker is what tells), and every daemon that a start script leaves running
(apache from its init script) would then be hbd's child, for hbd to reap for
as long as it runs. The marker finds the same orphans without changing whose
children they are.

Signals go through pidfds, after checking that the process still has the start
time it was found with: a pid reused between the scan and the signal is never
hit. The scans read /proc in a thread of their own with a timeout (reading a
process's environment can block on a process stuck in the kernel), so a kill
never blocks the event loop and never waits without a bound. Processes that
outlive SIGKILL (uninterruptible sleep, "D") are reported, not waited for.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

MARKER = "HBD_OPERATION"
POLL = 0.1                 # seconds between two scans while a tree is dying
SCAN_TIMEOUT = 5.0         # a /proc scan that takes longer is given up
ENVIRON_CAP = 256 * 1024   # bytes of /proc/PID/environ read at most
STATE_NAMES = {"D": "uninterruptible sleep", "T": "stopped", "t": "traced",
               "R": "running", "S": "sleeping", "Z": "zombie", "I": "idle"}

_counter = itertools.count(1)
T = TypeVar("T")


@dataclass(frozen=True)
class Member:
    """One process of a tree, as /proc/PID/stat showed it."""

    pid: int
    ppid: int
    start: int       # clock ticks since boot: with the pid, identifies the process
    state: str       # one letter: R, S, D, T, Z, ...
    comm: str

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X", "x")

    def describe(self) -> str:
        state = STATE_NAMES.get(self.state, self.state)
        return f"pid {self.pid} ({self.comm}, state {self.state}: {state})"


def new_token() -> str:
    """A marker value unique to one operation of this daemon."""
    return f"{os.getpid()}.{next(_counter)}.{secrets.token_hex(4)}"


def ticks_now() -> int:
    """Clock ticks since boot now, on the clock of /proc/PID/stat's start time, less
    one tick: every process started from now on has a start time at least this."""
    try:
        with open("/proc/uptime", "rb") as handle:
            uptime = float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, int(uptime * os.sysconf("SC_CLK_TCK")) - 1)


def marked_env(env: dict[str, str], token: str) -> dict[str, str]:
    """`env` with the operation's marker first (children that re-order their
    environment keep it anyway; first makes it cheap to find)."""
    return {MARKER: token, **{k: v for k, v in env.items() if k != MARKER}}


# --- reading /proc -----------------------------------------------------------------

def read_stat(pid: int) -> Member | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    head, _, tail = raw.rpartition(b")")
    fields = tail.split()
    if len(fields) < 20:
        return None
    comm = head.partition(b"(")[2].decode("utf-8", "replace")
    try:
        return Member(pid, int(fields[1]), int(fields[19]), fields[0].decode(), comm)
    except (ValueError, UnicodeError):
        return None


def _all_processes() -> dict[int, Member]:
    found: dict[int, Member] = {}
    try:
        names = [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return found
    for name in names:
        member = read_stat(int(name))
        if member is not None:
            found[member.pid] = member
    return found


def _carries(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            environ = handle.read(ENVIRON_CAP)
    except OSError:
        return False
    return environ.startswith(needle[1:]) or needle in environ


def scan(root: int, token: str, root_start: int | None = None) -> list[Member]:
    """The operation's processes now (zombies included, the caller filters)."""
    procs = _all_processes()
    if root_start is None:
        root_start = procs[root].start if root in procs else 0
    me = os.getpid()
    candidates = {pid: m for pid, m in procs.items() if m.start >= root_start and pid != me}
    children: dict[int, list[int]] = {}
    for member in candidates.values():
        children.setdefault(member.ppid, []).append(member.pid)
    needle = f"\0{MARKER}={token}\0".encode()
    seeds = [pid for pid in candidates if pid == root or _carries(pid, needle)]
    tree: dict[int, Member] = {}
    while seeds:
        pid = seeds.pop()
        if pid in tree or pid not in candidates:
            continue
        tree[pid] = candidates[pid]
        seeds.extend(children.get(pid, ()))
    return sorted(tree.values(), key=lambda m: m.pid)


# --- signalling ----------------------------------------------------------------------

def send(member: Member, sig: int) -> bool:
    """Signal `member` if it is still the process that was found; True if sent."""
    try:
        fd = os.pidfd_open(member.pid)
    except OSError:
        return False
    try:
        now = read_stat(member.pid)
        if now is None or now.start != member.start:
            return False
        signal.pidfd_send_signal(fd, sig)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _live_members(root: int, token: str, root_start: int | None) -> list[Member]:
    return [m for m in scan(root, token, root_start) if m.alive]


async def in_thread(func: Callable[..., T], *args: object, timeout: float) -> T:
    """Run `func` in a thread of its own; TimeoutError after `timeout` (the thread,
    stuck in the kernel, is left behind rather than waited for)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(ok: bool, value: object) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)  # type: ignore[arg-type]
        else:
            future.set_exception(value)  # type: ignore[arg-type]

    def work() -> None:
        try:
            value: object = func(*args)
            ok = True
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            value, ok = exc, False
        try:
            loop.call_soon_threadsafe(deliver, ok, value)
        except RuntimeError:            # the loop is closed: nobody waits any more
            pass

    threading.Thread(target=work, name="hbd-proctree", daemon=True).start()
    return await asyncio.wait_for(future, timeout)


# --- killing a tree ----------------------------------------------------------------------

async def live_members(root: int, token: str,
                       root_start: int | None = None) -> list[Member] | None:
    """The tree's live processes; None when /proc could not be read in time."""
    try:
        return await in_thread(_live_members, root, token, root_start, timeout=SCAN_TIMEOUT)
    except TimeoutError:
        return None


async def kill_tree(root: int, token: str, *, grace: float, reap: float,
                    root_start: int | None = None) -> list[Member] | None:
    """SIGTERM the tree (each process once), give it `grace` seconds, SIGKILL what
    is left (again each round, for processes forked meanwhile) and give that `reap`
    seconds. Returns the processes still alive then: [] when the whole tree is gone
    (or zombies), None when /proc could not be read to tell."""
    loop = asyncio.get_running_loop()
    phases = [(signal.SIGKILL, reap)]
    if grace > 0:
        phases.insert(0, (signal.SIGTERM, grace))
    signalled: set[tuple[int, int]] = set()
    left: list[Member] | None = None
    for sig, period in phases:
        deadline = loop.time() + period
        signal_group(root, sig)
        while True:
            left = await live_members(root, token, root_start)
            if left is None:                 # cannot see the tree: the group at least
                signal_group(root, sig)
            for member in left or ():
                if sig == signal.SIGKILL or (member.pid, member.start) not in signalled:
                    send(member, sig)
                    signalled.add((member.pid, member.start))
            if left == [] or loop.time() >= deadline:
                break
            await asyncio.sleep(min(POLL, max(0.0, deadline - loop.time())))
        if left == []:
            return []
    return left


def describe(members: list[Member], limit: int = 5) -> str:
    shown = ", ".join(m.describe() for m in members[:limit])
    more = len(members) - limit
    return shown + (f" and {more} more" if more > 0 else "")

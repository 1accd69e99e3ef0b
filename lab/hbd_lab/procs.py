"""One way to supervise a daemon inside a lab node: hbd, heartbeat 3.0.6, keepalived.

`Daemon(node_ns, argv, log_path)` starts `argv` in the node's namespaces, in a
session of its own (it outlives the command that started it), with stdout and
stderr appended to `log_path` after a `--- start N ---` banner. Everything it
then knows about "its" processes comes from /proc: the process it started and
every descendant (a daemon's children, the scripts they run, and for
heartbeat everything in the PID namespace it makes, whose init is a child of
the process started here). A pid file (`adopt_pid`) lets a later command find
a daemon started by an earlier one (`hbd lab up`, then `hbd lab drill`).

| action | what it does |
|---|---|
| `terminate()` | SIGTERM to the daemon (its graceful stop), no wait |
| `stop()` | terminate and wait for the exit; `TimeoutExpired` after the timeout |
| `kill()` | every process frozen, then SIGKILLed: a crash, whatever it holds stays held |
| `freeze()` / `thaw()` | SIGSTOP every process until none runs (a hung daemon) / SIGCONT |

`signal_rounds()` is the helper under all of them (and under the lab's
machine-wide freeze and power-off): it sends a signal to every process a
listing returns, again to those that appeared meanwhile (a child forked
between two signals), for a bounded number of rounds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING
from collections.abc import Callable, Iterable

if TYPE_CHECKING:
    from hbd_lab.netns import Node

ROUNDS = 5


def state(pid: int) -> str | None:
    """The one-letter state of /proc/PID/stat (R, S, T, Z...), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    return state(pid) not in (None, "Z")


def descendants(pid: int) -> list[int]:
    """Every descendant of `pid`, from /proc (a snapshot; processes come and go)."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text(errors="replace")
                kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, frontier = [], [pid]
    while frontier:
        below = kids.get(frontier.pop(), [])
        found += below
        frontier += below
    return found


def signal_rounds(listing: Callable[[], Iterable[int]], sig: int,
                  rounds: int = ROUNDS) -> list[int]:
    """Send `sig` to every pid `listing()` returns, then to any that appeared since,
    at most `rounds` times; returns the pids signalled."""
    sent: set[int] = set()
    for _ in range(rounds):
        new = [pid for pid in listing() if pid not in sent]
        if not new:
            break
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        sent.update(new)
    return sorted(sent)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll `predicate` until true or `timeout` seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def freeze(listing: Callable[[], Iterable[int]], timeout: float = 5.0) -> bool:
    """SIGSTOP everything `listing()` returns until no listed process is running."""
    def all_stopped() -> bool:
        signal_rounds(listing, signal.SIGSTOP)
        return all(state(pid) in ("T", "t", "Z", None) for pid in listing())
    return wait_until(all_stopped, timeout)


def kill(listing: Callable[[], Iterable[int]], timeout: float = 10.0) -> bool:
    """Freeze, then SIGKILL everything: no process sees another die first (no
    graceful shutdown, no respawn). True once all are gone."""
    pids = signal_rounds(listing, signal.SIGSTOP)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    signal_rounds(listing, signal.SIGKILL)
    return wait_until(lambda: not any(map(alive, pids)) and not list(listing()), timeout)


class Daemon:
    """One daemon (and its descendants) in a lab node's namespaces."""

    def __init__(self, ns: Node, argv: Callable[[], list[str]], log_path: Path, *,
                 adopt_pid: Callable[[], int | None] = lambda: None) -> None:
        self.ns = ns
        self._argv = argv
        self.log_path = Path(log_path)
        self._adopt_pid = adopt_pid
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    # --- starting ------------------------------------------------------------------
    def start(self, env: dict[str, str] | None = None, argv: list[str] | None = None) -> None:
        """Start it (`argv` instead of the usual command line, if given)."""
        if self.running():
            raise RuntimeError(f"{self.log_path.name}: already running on {self.ns.name}")
        self.starts += 1
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self.proc = self.ns.popen(argv or self._argv(), stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL,
                                      env={**os.environ, **(env or {})})

    # --- what runs -----------------------------------------------------------------
    def pid(self) -> int | None:
        """The process started here (or adopted from a pid file), while it runs."""
        if self.proc is not None:
            return self.proc.pid if self.proc.poll() is None else None
        pid = self._adopt_pid()
        return pid if pid is not None and alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None

    def pids(self) -> list[int]:
        """The daemon first, then every descendant; empty once it is gone."""
        pid = self.pid()
        return [] if pid is None else [pid, *descendants(pid)]

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    # --- acting on it ----------------------------------------------------------------
    def terminate(self, sig: int = signal.SIGTERM) -> None:
        """The daemon's graceful stop (SIGTERM to it alone), without waiting."""
        pid = self.pid()
        if pid is not None:
            self.thaw()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def wait(self, timeout: float = 10.0) -> int | None:
        """The exit status once it exits (`subprocess.TimeoutExpired` after `timeout`)."""
        if self.proc is not None:
            return self.proc.wait(timeout)
        pid = self._adopt_pid()
        if pid is not None and not wait_until(lambda: not alive(pid), timeout):
            raise subprocess.TimeoutExpired(str(pid), timeout)
        return 0

    def stop(self, timeout: float = 30.0) -> int | None:
        if not self.running():
            return self.returncode
        self.terminate()
        return self.wait(timeout)

    def kill(self, timeout: float = 10.0) -> None:
        """A crash: every process frozen then killed; what it holds stays held."""
        if not self.running():
            return
        kill(self.pids, timeout)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)

    def freeze(self, timeout: float = 5.0) -> bool:
        return freeze(self.pids, timeout)

    def thaw(self) -> None:
        signal_rounds(self.pids, signal.SIGCONT)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

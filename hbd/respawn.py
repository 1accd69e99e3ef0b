"""ha.cf's `respawn USER COMMAND` programs, run and restarted as heartbeat 3.0.6 does.

heartbeat.c (`start_a_child_client`, `ManagedChildDied`,
`shutdown_last_client_child`; read, not copied) and Debian's 3.0.6 binary:

* once communication is up, every program is started in line order;
* a start first checks that the program (the command's first word) exists
  and is executable ("Cannot exec ..."; the program is then never started
  again). The child gets its own process group, USER's uid, primary gid
  and supplementary groups (initgroups), stdin/stdout/stderr on /dev/null,
  no other descriptor, and runs `/bin/sh -c "exec COMMAND"` (3.0.6 puts
  `exec ` in front, so the shell is replaced by the program). It inherits
  the daemon's environment, where `env NAME=value` lines are `HA_NAME`. A
  child that cannot take the identity or exec exits 100 (never restarted);
* when it exits: status 100 is final; otherwise the run counts as short when
  it lasted under 30 s (counted from the fork, so the restart pause is part
  of it) and a longer run resets the count; the 11th short run in a row
  logs `Client COMMAND "respawning too fast"` and the program is left
  stopped for good; any other exit restarts it, after a 1 s pause when the
  run was short;
* from the moment shutdown begins nothing is restarted; once the resources
  are released, the programs are stopped one at a time in reverse line
  order: SIGTERM to the process group, and the next one only when it has
  died. heartbeat waits without a bound; hbd waits `stop_grace` seconds,
  then SIGKILLs the group and waits `kill_wait` more.

hbd's part beyond that: heartbeat API clients (`ClientKind.API_CLIENT`) are
never run; user look-ups and the executable check run in a thread with a
bound (a hung name service never stalls the loop nor the shutdown); an unknown
user is a log line and a counter (heartbeat refuses to start); the working
directory is `/`; systemd's variables meant for hbd alone (`NOTIFY_SOCKET`,
`WATCHDOG_*`, `LISTEN_*`) are not passed on. Nothing here raises out: failures are log lines, counters
and the program's `state`. `Limits` holds heartbeat's constants; tests shrink
them. `after_exit` is the pure restart rule.

Size: about 410 lines: heartbeat's respawn rules are many small ones (user, groups,
restart pacing, stop order), kept together.
"""

from __future__ import annotations

import asyncio
import enum
import os
import pwd
import signal
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hbd import logs
from hbd.config.model import Respawn
from hbd.resources import proctree

FINAL_STATUS = 100        # a program exiting with it is not restarted (nor is one that cannot exec)
SHELL = "/bin/sh"
# the daemon's own variables, not passed on: systemd's (for hbd's pid only) and the
# marker of hbd's resource operations (hbd.resources.proctree)
DAEMON_ONLY = frozenset(("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS",
                         "LISTEN_PID", "LISTEN_FDNAMES", proctree.MARKER))


@dataclass(frozen=True)
class Limits:
    short_run: float = 30.0       # a run shorter than this is a short run
    restart_delay: float = 1.0    # pause before restarting after a short run
    max_short_runs: int = 10      # one more short run in a row than this: respawning too fast
    stop_grace: float = 10.0      # after SIGTERM at shutdown, before SIGKILL of the group
    kill_wait: float = 5.0        # after SIGKILL, before giving up on the process
    lookup_timeout: float = 10.0  # user look-up and executable check, in a thread


class Outcome(enum.Enum):
    RESTART = "restart"
    FINAL = "final"              # exit status 100
    TOO_FAST = "too-fast"        # the 11th short run in a row


def after_exit(returncode: int, ran_for: float, short_runs: int,
               limits: Limits = Limits()) -> tuple[Outcome, int]:
    """What follows a program's exit outside shutdown, and the new count of short
    runs in a row. `returncode` as asyncio gives it (negative: killed by a signal)."""
    if returncode == FINAL_STATUS:
        return Outcome.FINAL, short_runs
    count = short_runs + 1 if ran_for < limits.short_run else 0
    if count > limits.max_short_runs:
        return Outcome.TOO_FAST, 0
    return Outcome.RESTART, count


def pause_before(short_runs: int, limits: Limits = Limits()) -> float:
    """The pause before a restart: heartbeat sleeps 1 s when the last run was short."""
    return limits.restart_delay if short_runs > 0 else 0.0


class State(enum.Enum):
    WAITING = "waiting"      # not started yet
    STARTING = "starting"    # look-up, pause before a restart
    RUNNING = "running"
    STOPPING = "stopping"    # shutdown: signalled, not dead yet
    STOPPED = "stopped"      # by shutdown, or never started because shutdown came first
    FINISHED = "finished"    # exited with status 100
    GAVE_UP = "gave-up"      # respawning too fast
    FAILED = "failed"        # unknown user, cannot exec, cannot set up the child


@dataclass(frozen=True)
class Identity:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


def look_up(user: str, program: str) -> Identity | tuple[str, str]:
    """USER's identity, or (counter, why) the program cannot start. Runs in a thread."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return "unknown_user", f"Invalid uid [{user}] specified for client child"
    if not os.access(program, os.X_OK):
        return "cannot_exec", f"Cannot exec {program}: not an executable file"
    groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
    return Identity(entry.pw_name, entry.pw_uid, entry.pw_gid, tuple(groups))


def identity_kwargs(ident: Identity) -> dict[str, Any]:
    """Popen's identity arguments. An unprivileged daemon (tests) can only run
    programs as itself: then it changes nothing."""
    if os.geteuid() != 0 and ident.uid == os.geteuid():
        return {}
    return {"user": ident.uid, "group": ident.gid, "extra_groups": list(ident.groups)}


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"killed by signal {-returncode}"
    return f"exited with return code {returncode}"


class Counters:
    def __init__(self) -> None:
        self.values: dict[str, int] = dict.fromkeys(
            ("started", "restarted", "exited", "final", "too_fast", "unknown_user",
             "cannot_exec", "lookup_failed", "setup_failed", "killed", "unkillable"), 0)

    def add(self, name: str) -> None:
        self.values[name] += 1


class Client:
    """One respawned program and the task that runs it. See the module docstring."""

    def __init__(self, entry: Respawn, env: dict[str, str], limits: Limits,
                 counters: Counters, log: Any) -> None:
        self.entry = entry
        self.env = env
        self.limits = limits
        self.counters = counters
        self.log = log.bind(respawn=entry.command, user=entry.user, line=entry.line)
        self.state = State.WAITING
        self.pid: int | None = None
        self.runs = 0
        self.short_runs = 0
        self.last_exit: int | None = None
        self.launched = asyncio.Event()   # the first start was tried (the next one may go)
        self.shutdown = asyncio.Event()   # shutdown began: nothing is started any more
        self.halt = asyncio.Event()       # stop the running program now
        self.task: asyncio.Task[None] | None = None

    def start(self, after: asyncio.Event | None) -> None:
        self.task = asyncio.get_running_loop().create_task(self._supervise(after))
        self.task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.state = State.FAILED
            self.log.error("respawn supervisor failed; the program is no longer watched",
                           reason=repr(task.exception()))

    def info(self) -> dict[str, object]:
        return {"line": self.entry.line, "user": self.entry.user, "command": self.entry.command,
                "state": self.state.value, "pid": self.pid, "runs": self.runs,
                "short_runs": self.short_runs, "last_exit": self.last_exit}

    async def _first(self, *aws: Any, timeout: float | None = None) -> None:
        """Until the first of `aws` completes, or `timeout`; the others are cancelled."""
        tasks = [asyncio.ensure_future(a) for a in aws]
        try:
            await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()

    async def _supervise(self, after: asyncio.Event | None) -> None:
        try:
            if after is not None:                    # line order: the previous start first
                await self._first(after.wait(), self.shutdown.wait())
            loop = asyncio.get_running_loop()
            pause: float | None = 0.0
            while pause is not None and not self.shutdown.is_set():
                began = loop.time()              # heartbeat counts a run from the fork
                self.state = State.STARTING
                if pause:
                    await self._first(self.shutdown.wait(), timeout=pause)
                    if self.shutdown.is_set():
                        break
                returncode = await self._run_once()
                if returncode is None:           # could not start, or stopped by shutdown
                    return
                pause = self._after(returncode, loop.time() - began)
            if self.state in (State.WAITING, State.STARTING, State.RUNNING):
                self.state = State.STOPPED
        finally:
            self.launched.set()
            self.pid = None

    def _after(self, returncode: int, ran_for: float) -> float | None:
        """Log the exit; the pause before the restart, or None when there is none."""
        self.last_exit = returncode
        self.counters.add("exited")
        if self.shutdown.is_set():       # heartbeat: no restart, logged at debug only
            self.log.debug(f"client \"{self.entry.command}\" died early during shutdown.",
                           status=describe_exit(returncode))
            self.pid, self.state = None, State.STOPPED
            return None
        if returncode < 0:
            self.log.error(f"Client {self.entry.command} (pid={self.pid}) killed by "
                           f"signal {-returncode}.")
        elif returncode != 0:
            self.log.error(f"Client {self.entry.command} exited with return code "
                           f"{returncode}.")
        outcome, self.short_runs = after_exit(returncode, ran_for, self.short_runs, self.limits)
        self.pid = None
        if outcome is Outcome.FINAL:
            self.state = State.FINISHED
            self.counters.add("final")
            self.log.info("respawn program exited with status 100: not restarted (heartbeat's "
                          "rule)")
            return None
        if outcome is Outcome.TOO_FAST:
            self.state = State.GAVE_UP
            self.counters.add("too_fast")
            self.log.error(f'Client {self.entry.command} "respawning too fast"',
                           short_runs=self.limits.max_short_runs + 1)
            return None
        self.log.warning(f'Respawning client "{self.entry.command}":')
        self.counters.add("restarted")
        return pause_before(self.short_runs, self.limits)

    async def _run_once(self) -> int | None:
        """Start the program and wait for it; its return code, or None when it could
        not start or shutdown stopped it."""
        ident = await self._identity()
        if ident is None or self.shutdown.is_set():
            if ident is not None:
                self.state = State.STOPPED
            return None
        proc = await self._spawn(ident)
        self.launched.set()
        if proc is None:
            return None
        waiting = asyncio.ensure_future(proc.wait())
        try:
            await self._first(asyncio.shield(waiting), self.halt.wait())
            if not waiting.done():
                await self._terminate(proc, waiting)
                return None
            return waiting.result()
        finally:
            waiting.cancel()

    async def _identity(self) -> Identity | None:
        program = self.entry.argv[0]
        found: Identity | tuple[str, str]
        try:
            found = await proctree.in_thread(look_up, self.entry.user, program,
                                             timeout=self.limits.lookup_timeout)
        except TimeoutError:
            took = self.limits.lookup_timeout
            found = ("lookup_failed", f"looking up user {self.entry.user} took over {took:g} s")
        except Exception as exc:  # noqa: BLE001 - a broken name service is a log line
            found = ("lookup_failed", f"looking up user {self.entry.user} failed: {exc}")
        if isinstance(found, Identity):
            return found
        counter, why = found
        self.state = State.FAILED
        self.counters.add(counter)
        self.log.error(f"{why}; {program} is not started")
        return None

    async def _spawn(self, ident: Identity) -> asyncio.subprocess.Process | None:
        command = self.entry.command
        try:
            proc = await asyncio.create_subprocess_exec(
                "sh", "-c", "exec " + command, executable=SHELL,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=self.env, cwd="/", process_group=0,
                **identity_kwargs(ident))
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            self.state = State.FAILED
            self.counters.add("setup_failed")
            self.log.error(f"Cannot setup child process {command}: {exc}; not restarted")
            return None
        self.pid, self.state = proc.pid, State.RUNNING
        self.runs += 1
        self.counters.add("started")
        self.log.info(f'Starting "{command}" as uid {ident.uid}  gid {ident.gid} '
                      f"(pid {proc.pid})")
        return proc

    async def _terminate(self, proc: asyncio.subprocess.Process,
                         waiting: asyncio.Future[int]) -> None:
        """Shutdown: SIGTERM the group, `stop_grace`, SIGKILL it, `kill_wait`."""
        self.state = State.STOPPING
        for sig, bound in ((signal.SIGTERM, self.limits.stop_grace),
                           (signal.SIGKILL, self.limits.kill_wait)):
            if sig == signal.SIGKILL:
                self.counters.add("killed")
                self.log.warning(f"Client {self.entry.command} still running "
                                 f"{self.limits.stop_grace:g} s after SIGTERM: killing its "
                                 f"process group", pid=proc.pid)
            else:
                self.log.info(f"killing {self.entry.command} process group {proc.pid} with "
                              f"signal {int(sig)}")
            if proc.returncode is None:      # never signal a group whose leader is reaped
                proctree.signal_group(proc.pid, sig)
            await self._first(asyncio.shield(waiting), timeout=bound)
            if waiting.done():
                self.state = State.STOPPED
                self.last_exit = waiting.result()
                return
        self.counters.add("unkillable")
        self.state = State.STOPPED
        self.log.error(f"Client {self.entry.command} still alive {self.limits.kill_wait:g} s "
                       "after SIGKILL: left behind", pid=proc.pid)

    def stop_bound(self) -> float:
        lim = self.limits
        return lim.lookup_timeout + lim.stop_grace + lim.kill_wait + 1.0


def exported_env(env: Iterable[tuple[str, str]],
                 base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The programs' environment: the daemon's, `base` (hbd's HA_* script variables),
    then each ha.cf `env NAME=value` as HA_NAME."""
    out = {k: v for k, v in os.environ.items() if k not in DAEMON_ONLY}
    out.update(base or {})
    for name, value in env:
        out[f"HA_{name}"] = value
    return out


class Respawner:
    """The `respawn` programs of one daemon: `start()` once communication is up,
    `begin_shutdown()` when shutdown begins (no more restarts), `await close()` once
    the resources are released (stop in reverse line order). `counters()` for
    `hbctl status --json`."""

    def __init__(self, entries: Iterable[Respawn], env: Iterable[tuple[str, str]] = (),
                 log: Any = None, *, base_env: Mapping[str, str] | None = None,
                 limits: Limits = Limits()) -> None:
        self.log = log if log is not None else logs.get("hbd.respawn")
        self.limits = limits
        self._counters = Counters()
        entries = tuple(entries)
        self.skipped = sum(1 for e in entries if not e.runs)    # heartbeat API clients
        environment = exported_env(env, base_env)
        self.clients = [Client(e, environment, limits, self._counters, self.log)
                        for e in entries if e.runs]
        self.started = False
        self.shutting_down = False

    def start(self) -> None:
        """Start every program, in line order. Idempotent; nothing after shutdown began."""
        if self.started or self.shutting_down:
            return
        self.started = True
        previous: asyncio.Event | None = None
        for client in self.clients:
            client.start(previous)
            previous = client.launched

    def begin_shutdown(self) -> None:
        """From now on nothing is started or restarted (heartbeat: shutdown_in_progress);
        running programs keep running until `close()`."""
        self.shutting_down = True
        for client in self.clients:
            client.shutdown.set()

    async def close(self) -> None:
        """Stop the programs one at a time, last line first; each wait is bounded."""
        self.begin_shutdown()
        for client in reversed(self.clients):
            client.halt.set()
            task = client.task
            if task is None:                 # never started
                client.state = State.STOPPED
                continue
            done, _ = await asyncio.wait({task}, timeout=client.stop_bound())
            if not done:
                self.log.error("respawn program did not stop in time; left behind",
                               respawn=client.entry.command, pid=client.pid)
                task.cancel()
        self.log.info("respawn programs stopped", programs=len(self.clients))

    def counters(self) -> dict[str, object]:
        out: dict[str, object] = dict(self._counters.values)
        out["running"] = sum(1 for c in self.clients if c.state is State.RUNNING)
        out["api_clients_not_run"] = self.skipped
        out["programs"] = [c.info() for c in self.clients]
        return out

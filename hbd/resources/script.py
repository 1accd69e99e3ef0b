"""Run script resources: heartbeat resource.d scripts, LSB init scripts, OCF agents.

The subprocess edge for every non-native haresources resource (classes and
look-up order: `hbd/config/agents.py`). `run()` returns an `OpResult` and never
raises for a failing, missing, unsafe or hung script.

Calls. script/heartbeat (resource.d, or a bare name found in init.d):
`SCRIPT ARG1 ... OP`, the `::` arguments first, as heartbeat 3.0.6's
ResourceManager runs `$spath $arg OP` with `$arg` the `::` list split into
words (so empty arguments vanish). lsb: `SCRIPT OP`. ocf: `AGENT start|stop|
monitor` (STATUS is monitor) with OCF_ROOT, OCF_RA_VERSION_MAJOR=1,
OCF_RA_VERSION_MINOR=0, OCF_RESOURCE_INSTANCE, OCF_RESOURCE_TYPE,
OCF_RESOURCE_PROVIDER, OCF_RESKEY_<key> per `key=value` (OCF RA API 1.1,
"Parameter passing", ClusterLabs/OCF-spec ra/1.1/resource-agent-api.md) and
OCF_RESKEY_CRM_meta_timeout, the timeout in ms as Pacemaker sets it. Without
OCF_RA_VERSION_MAJOR, resource-agents' ocf-shellfuncs treats the agent as an
init script and names the instance "default".

Results. start/stop of every class: exit 0 is success. status of
script/heartbeat/lsb is read exactly as heartbeat 3.0.6 reads it
(`we_own_resource` in heartbeat/lib/ResourceManager.in, Debian's
/usr/share/heartbeat/ResourceManager): the exit code is ignored and the whole
*stdout* (not stderr) goes through a shell `case`:
  1. `*[Nn][Oo][Tt]\\ *[Rr]unning*` -> not running ("not " with "running" or
     "Running" anywhere after it; "cannot ... running" counts);
  2. `*[Rr]unning*|*OK*` -> running;  3. anything else -> not running.
`StatusScan` applies the rule to the stream, so it holds for any length of
output while only the last `OUTPUT_CAP` bytes are kept for details. OCF (RA API
1.1, "Exit status codes"): monitor 0 = running, 7 = cleanly not running
(ok=False, rc=7, "... is not running"); other codes fail with their meaning in
the detail. stop must exit 0 (the spec: "a successful stop shall return 0").

Environment. Nothing is inherited: PATH=/usr/sbin:/usr/bin:/sbin:/bin, LANG=C,
HA_DIR (parent of resource.d), HA_RCDIR, HA_RESOURCEDIR, HA_FUNCS (when the
shellfuncs file exists), HA_RSCTMP=/run/resource-agents, HA_LOGD=no (no
ha_logger), HA_debug=0, then the daemon's `env` (HA_LOGFACILITY, HA_LOGFILE,
HA_DEBUGLOG, HA_CURHOST, as heartbeat exports them), and HBD_OPERATION (a
token naming the operation, see Processes). Verified with Debian's
resource.d/IPaddr and ocf:heartbeat:IPaddr2 (tests/netns/test_agents.py): they
need nothing else (ocf-directories defaults HA_BIN=/usr/libexec/heartbeat for
findif and send_arp) except an existing HA_RSCTMP: IPaddr's start fails with
"Generic error" when it cannot touch $HA_RSCTMP/IPaddr-<nic>, and IPaddr2's
send_arp cannot write its pid file. The runner creates HA_RSCTMP (1755) when it
is missing, as heartbeat's master process creates its rsctmp. With neither
HA_LOGFACILITY nor HA_LOGFILE, ha_log writes to stderr, into the captured output.

Processes. No shell: a literal argv (a script without "#!" goes to /bin/sh, as
a shell would do), stdin /dev/null, cwd /, its own session and process group.
stdout/stderr come through our own pipes: a daemon left behind holding them
neither delays the result nor gets SIGPIPE (after the exit they get `EOF_GRACE`,
then are drained in the background until `close()`). On timeout the whole tree
of the operation gets SIGTERM, `kill_grace`, then SIGKILL (hbd/resources/
proctree.py: the process group, every descendant, and every orphan that
carries the operation's `HBD_OPERATION` marker, `setsid` ones included), and
`reap_timeout` to die. Nothing is waited for without a bound: a process that
outlives SIGKILL (uninterruptible sleep in the kernel) is named in the failed
result and left behind, so a hung script can fail its group but never hang it.
A script that exits on its own may leave daemons running (a start does): they
are not touched.

Safety. A script runs only if the file and every directory and symlink on the
way (each symlink's target checked the same way) are owned by a trusted uid
(root by default) and not writable by group or others; a writable directory
passes only with the sticky bit (as /tmp), where others cannot replace entries
that a trusted uid owns.

Size: about 450 lines: one concern (running an agent once, bounded), most of it
heartbeat's status rules and the process-tree kill.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hbd.config.agents import Agent, AgentClass, AgentDirs, agent_of, ocf_params
from hbd.config.haresources import NATIVE_RESOURCES
from hbd.config.load import find_agent, script_problem
from hbd.config.model import Resource
from hbd.core.events import ResourceOpKind
from hbd.pathsafety import unsafe_path
from hbd.resources import proctree
from hbd.resources.outcome import OpResult

SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_HA_DIR = "/etc/ha.d"
DEFAULT_RSCTMP = "/run/resource-agents"   # resource-agents' ocf-directories default
OUTPUT_CAP = 8192          # bytes of output kept (the tail) for failure details
EOF_GRACE = 0.5            # seconds to wait for the pipes to close after the exit
OCF_NOT_RUNNING = 7
OCF_MEANINGS = {
    1: "generic error", 2: "invalid or excess arguments", 3: "unimplemented action",
    4: "insufficient privileges", 5: "program not installed", 6: "program not configured",
    7: "not running", 8: "running promoted", 9: "failed promoted",
}
_OCF_ACTIONS = {ResourceOpKind.START: "start", ResourceOpKind.STOP: "stop",
                ResourceOpKind.STATUS: "monitor"}
_INSTANCE_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")

# --- heartbeat's status rule ---------------------------------------------------

_NOT = re.compile(rb"[Nn][Oo][Tt] ")
_RUNNING = re.compile(rb"[Rr]unning")
_OK = re.compile(rb"OK")


class StatusScan:
    """heartbeat's `we_own_resource` match over a status output fed in chunks."""

    _OVERLAP = len(b"running") - 1     # a match may straddle two chunks

    def __init__(self) -> None:
        self._carry = b""
        self._offset = 0                   # stream offset of _carry[0]
        self._not_end: int | None = None   # end of the first "not "
        self._said_running = False
        self._said_not_running = False

    def feed(self, chunk: bytes) -> None:
        buf = self._carry + chunk
        if self._not_end is None and (found := _NOT.search(buf)):
            self._not_end = self._offset + found.end()
        for match in _RUNNING.finditer(buf):
            self._said_running = True
            if self._not_end is not None and self._offset + match.start() >= self._not_end:
                self._said_not_running = True
        if _OK.search(buf):
            self._said_running = True
        keep = min(len(buf), self._OVERLAP)
        self._offset += len(buf) - keep
        self._carry = buf[len(buf) - keep:]

    @property
    def running(self) -> bool:
        return self._said_running and not self._said_not_running


def status_says_running(stdout: bytes) -> bool:
    """True when heartbeat 3.0.6 would take this status output for "running"."""
    scan = StatusScan()
    scan.feed(stdout)
    return scan.running


# --- safety: hbd/pathsafety.py (shared with check-config) ------------------------


# --- output capture ----------------------------------------------------------------

class _Tail:
    """The last `cap` bytes of a process's output (stdout and stderr as they arrive)."""

    def __init__(self, cap: int) -> None:
        self._buf = bytearray()
        self._cap = cap
        self.dropped = 0

    def feed(self, data: bytes) -> None:
        self._buf += data
        excess = len(self._buf) - self._cap
        if excess > 0:
            del self._buf[:excess]
            self.dropped += excess

    def text(self) -> str:
        lines = [line.strip() for line in self._buf.decode("utf-8", "replace").splitlines()]
        text = " | ".join(line for line in lines if line)
        cut = self.dropped > 0 or len(text) > self._cap
        text = text[-self._cap:]
        return f"...{text}" if cut and text else text


class _Sink(asyncio.Protocol):
    def __init__(self, tail: _Tail, scan: StatusScan | None) -> None:
        self._tail, self._scan = tail, scan
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self._tail.feed(data)
        if self._scan is not None:
            self._scan.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass(frozen=True)
class _Finished:
    rc: int | None       # None when it timed out
    output: str          # tail of stdout and stderr, one line
    running: bool        # heartbeat's status rule over stdout
    leftover: str = ""   # after a timeout: what outlived the kill, in words


@dataclass
class _Op:
    """A running operation: its root process and what finds the rest of its tree."""
    proc: asyncio.subprocess.Process
    token: str
    since: int           # proctree.ticks_now() before the spawn


# --- the runner -------------------------------------------------------------------

class ScriptRunner:
    """Runs resource.d scripts, init scripts and OCF agents; see the module docstring."""

    def __init__(self, dirs: AgentDirs, *, timeout: float = 60.0, kill_grace: float = 5.0,
                 reap_timeout: float = 5.0, env: Mapping[str, str] | None = None,
                 trusted_uids: Sequence[int] = (0,)) -> None:
        if timeout <= 0 or kill_grace < 0 or reap_timeout <= 0:
            raise ValueError(f"timeout {timeout} and reap_timeout {reap_timeout} must be > 0, "
                             f"kill_grace {kill_grace} >= 0")
        self._dirs = dirs
        self._timeout = timeout
        self._kill_grace = kill_grace
        self._reap = reap_timeout
        self._trusted = tuple(trusted_uids)
        self._env = _base_env(dirs) | dict(env or {})
        self._running: dict[int, _Op] = {}
        self._background: set[asyncio.Task] = set()
        self._lingering: list[tuple[asyncio.BaseTransport, _Sink]] = []
        self._rsctmp_ready = False

    def check(self, resource: Resource) -> str | None:
        """None if the resource's script is found and safe to run, else the reason."""
        return self._locate(resource)[2]

    async def run(self, resource: Resource, op: ResourceOpKind, *,
                  instance: str = "") -> OpResult:
        what = f"{op.value} of {resource.spec}"
        agent, path, problem = self._locate(resource)
        if agent is None or problem is not None:
            return OpResult(False, f"{what} refused: {problem}")
        argv, env = self._command(agent, path, resource, op, instance)
        self._ensure_rsctmp()
        try:
            finished = await self._execute(argv, env)
        except OSError as exc:
            return OpResult(False, f"{what}: cannot run {path}: {exc.strerror}")
        if finished.rc is None:
            head = f"{what} timed out after {self._timeout:g} s; killed"
            if finished.leftover:
                head = f"{head}; {finished.leftover}"
            return OpResult(False, _joined(head, finished.output))
        if agent.cls is AgentClass.OCF:
            return _ocf_result(resource.spec, op, finished.rc, finished)
        return _script_result(resource.spec, op, finished.rc, finished)

    async def close(self) -> None:
        """Kill (TERM, then KILL) every script's tree still running, each wait bounded;
        stop draining."""
        await asyncio.gather(*(self._kill(op) for op in list(self._running.values())),
                             *list(self._background), return_exceptions=True)
        for transport, _ in self._lingering:
            transport.close()
        self._lingering.clear()

    def _ensure_rsctmp(self) -> None:
        """Make HA_RSCTMP if it is missing, as heartbeat's master process makes rsctmp."""
        path = self._env.get("HA_RSCTMP", "")
        if self._rsctmp_ready or not path or os.path.isdir(path):
            self._rsctmp_ready = True
            return
        try:
            os.makedirs(path, mode=0o755)
            os.chmod(path, 0o1755)           # as resource-agents' tmpfiles.d entry
            self._rsctmp_ready = True
        except OSError:
            pass                             # the script will say what it misses

    # --- finding and building ------------------------------------------------------

    def _locate(self, resource: Resource) -> tuple[Agent | None, str, str | None]:
        """(agent, script, None), or why it cannot run. The script is heartbeat's
        `scriptpath`: the first candidate that is an executable file."""
        try:
            agent = agent_of(resource, tuple(NATIVE_RESOURCES))
        except ValueError as exc:
            return None, "", str(exc)
        if agent.cls is AgentClass.NATIVE:
            return None, "", f"{resource.name} is native (run by hbd itself), not a script"
        path, looked = find_agent(agent, self._dirs)
        if path is None:
            return agent, "", script_problem(resource.name, looked)
        problem = unsafe_path(path, self._trusted)
        return agent, path, (problem and f"unsafe script {path}: {problem}")

    def _command(self, agent: Agent, path: str, resource: Resource, op: ResourceOpKind,
                 instance: str) -> tuple[list[str], dict[str, str]]:
        env = dict(self._env)
        if agent.cls is AgentClass.LSB:
            return [path, op.value], env
        if agent.cls is not AgentClass.OCF:
            return [path, *(arg for arg in resource.args if arg), op.value], env
        env.update(ocf_params(resource.args))
        env.update({
            "OCF_ROOT": self._dirs.ocf_root,
            "OCF_RA_VERSION_MAJOR": "1",
            "OCF_RA_VERSION_MINOR": "0",
            "OCF_RESOURCE_INSTANCE": _INSTANCE_UNSAFE.sub("_", instance or resource.spec),
            "OCF_RESOURCE_TYPE": agent.type,
            "OCF_RESOURCE_PROVIDER": agent.provider,
            "OCF_RESKEY_CRM_meta_timeout": str(round(self._timeout * 1000)),
        })
        return [path, _OCF_ACTIONS[op]], env

    # --- processes -------------------------------------------------------------------

    async def _execute(self, argv: list[str], env: dict[str, str]) -> _Finished:
        tail, scan = _Tail(OUTPUT_CAP), StatusScan()
        token, since = proctree.new_token(), proctree.ticks_now()
        pipes, write_ends = [], []
        try:
            for sink in (_Sink(tail, scan), _Sink(tail, None)):
                read_end, write_end = os.pipe()
                write_ends.append(write_end)
                pipes.append(await _attach(read_end, sink))
            proc = await _spawn(argv, proctree.marked_env(env, token), *write_ends)
        except OSError:
            for transport, _ in pipes:
                transport.close()
            raise
        finally:
            for fd in write_ends:
                os.close(fd)
        timed_out, leftover = await self._wait(_Op(proc, token, since))
        await self._settle(pipes)
        return _Finished(None if timed_out else proc.returncode, tail.text(), scan.running,
                         leftover)

    async def _wait(self, op: _Op) -> tuple[bool, str]:
        """Wait for the script to exit: (False, "") when it did; (True, what outlived
        the kill) when it ran too long and its tree was killed."""
        self._running[op.proc.pid] = op
        try:
            await asyncio.wait_for(op.proc.wait(), self._timeout)
            return False, ""
        except TimeoutError:
            return True, await self._kill(op)
        except asyncio.CancelledError:
            proctree.signal_group(op.proc.pid, signal.SIGKILL)
            task = asyncio.get_running_loop().create_task(self._kill(op, grace=0.0))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            raise
        finally:
            self._running.pop(op.proc.pid, None)

    async def _settle(self, pipes: list[tuple[asyncio.BaseTransport, _Sink]]) -> None:
        """Give the pipes EOF_GRACE to close; keep draining those a leftover child holds."""
        waiting = [sink.closed for _, sink in pipes if not sink.closed.done()]
        if waiting:
            await asyncio.wait(waiting, timeout=EOF_GRACE)
        self._lingering = [(t, s) for t, s in self._lingering + pipes if not s.closed.done()]

    async def _kill(self, op: _Op, grace: float | None = None) -> str:
        """SIGTERM the operation's tree, `kill_grace`, SIGKILL, `reap_timeout`; then
        `reap_timeout` for the script to be reaped. "" when all is gone, else what is
        left in words. Never waits longer than those bounds."""
        left = await proctree.kill_tree(
            op.proc.pid, op.token, grace=self._kill_grace if grace is None else grace,
            reap=self._reap, root_start=op.since)
        if left is None:
            return "could not check that all its processes are gone (/proc did not answer)"
        if left:
            return (f"{proctree.describe(left)} still alive {self._reap:g} s after SIGKILL "
                    "and left behind")
        try:   # the script is a zombie now: the loop's child watcher reaps it at once
            await asyncio.wait_for(asyncio.shield(op.proc.wait()), self._reap)
        except TimeoutError:
            return f"pid {op.proc.pid} was not reaped within {self._reap:g} s"
        return ""


# --- helpers -------------------------------------------------------------------------

def _base_env(dirs: AgentDirs) -> dict[str, str]:
    ha_dir = os.path.dirname(dirs.resource_d.rstrip("/")) if dirs.resource_d else DEFAULT_HA_DIR
    env = {"PATH": SAFE_PATH, "LANG": "C", "HA_DIR": ha_dir, "HA_RCDIR": f"{ha_dir}/rc.d",
           "HA_RESOURCEDIR": dirs.resource_d or f"{ha_dir}/resource.d",
           "HA_RSCTMP": DEFAULT_RSCTMP, "HA_LOGD": "no", "HA_debug": "0"}
    for funcs in (f"{ha_dir}/shellfuncs", f"{DEFAULT_HA_DIR}/shellfuncs"):
        if os.path.isfile(funcs):
            env["HA_FUNCS"] = funcs
            break
    return env


async def _spawn(argv: list[str], env: dict[str, str], out_w: int,
                 err_w: int) -> asyncio.subprocess.Process:
    async def start(*command: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, stdout=out_w, stderr=err_w, env=env,
            cwd="/", start_new_session=True)
    try:
        return await start(*argv)
    except OSError as exc:
        if exc.errno != errno.ENOEXEC:     # no "#!" line: a shell would run it with sh
            raise
        return await start("/bin/sh", *argv)


async def _attach(fd: int, sink: _Sink) -> tuple[asyncio.BaseTransport, _Sink]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(lambda: sink, os.fdopen(fd, "rb", buffering=0))
    return transport, sink


def _joined(head: str, output: str) -> str:
    return f"{head}; output: {output}" if output else head


def _ocf_result(spec: str, op: ResourceOpKind, rc: int, done: _Finished) -> OpResult:
    if rc == 0:
        return OpResult(True, f"{spec} is running" if op is ResourceOpKind.STATUS
                        else f"{op.value} of {spec} succeeded", rc)
    if rc == OCF_NOT_RUNNING and op is ResourceOpKind.STATUS:
        return OpResult(False, f"{spec} is not running", rc)
    if rc < 0:
        return OpResult(False, _joined(f"{_OCF_ACTIONS[op]} of {spec} failed: killed by "
                                       f"{_signal_name(rc)}", done.output), rc)
    meaning = OCF_MEANINGS.get(rc, "unknown code")
    head = f"{_OCF_ACTIONS[op]} of {spec} failed: OCF rc {rc} ({meaning})"
    if rc == OCF_NOT_RUNNING:
        head += "; a successful stop must exit 0"
    return OpResult(False, _joined(head, done.output), rc)


def _script_result(spec: str, op: ResourceOpKind, rc: int, done: _Finished) -> OpResult:
    if op is ResourceOpKind.STATUS:
        if done.running:
            return OpResult(True, f"{spec} is running (status exit {rc})", rc)
        return OpResult(False, _joined(f"{spec} is not running (status exit {rc})",
                                       done.output), rc)
    if rc == 0:
        return OpResult(True, f"{op.value} of {spec} succeeded", rc)
    how = f"killed by {_signal_name(rc)}" if rc < 0 else f"exit {rc}"
    return OpResult(False, _joined(f"{op.value} of {spec} failed: {how}", done.output), rc)


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"

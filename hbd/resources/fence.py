"""STONITH: reset a node through cluster-glue's `stonith` command, as heartbeat does.

ha.cf forms (heartbeat 3.0.6):

* `stonith TYPE CONFIGFILE`: `stonith -t TYPE -F CONFIGFILE -T reset NODE`;
* `stonith_host HOST TYPE PARAMS...`: used when HOST is `*` or this node.

Device parameters never appear on a command line (/proc/PID/cmdline is readable
by every local user; /proc/PID/environ only by the process's owner):

* positional parameters (`stonith_host * baytech 10.0.0.3 login secret`), which
  heartbeat hands to the device as its one configuration string, go through a
  pipe: `stonith -F /dev/fd/N`. cluster-glue reads a `-F` file exactly as a `-p`
  string (its first line that does not start with `#`, at most 1023 bytes), and
  nothing is ever written to disk;
* `name=value` parameters (all of them in that form) go in the environment with
  `stonith -E`: cluster-glue then reads each of the device's configuration names
  (`stonith -t TYPE -n`, asked first) with getenv(). A name the device lists but
  the line does not give is set empty (with `-E`, cluster-glue refuses an unset
  one, where name=value arguments would just leave it out); a name the device
  does not list stays in the environment, where external plugins see it as they
  did before.

Devices are tried in ha.cf order until one reports success (exit 0). Each run
has a timeout, after which its whole process tree (plugins included, see
hbd/resources/proctree.py) is killed, every wait bounded; a failure is a value,
never an exception.

Self-fencing (issue 9: a stop that failed leaves a group that no node may start
until this node is known to be down): `self_fence(method, reason)` resets this
node through its STONITH devices (`Fencer.fence_self`) or reboots it at once
(`hbd.watchdog.reboot_now`: sync, then sysrq 'b'); STONITH falls back to the
reboot when no device could do it.
"""

from __future__ import annotations

import asyncio
import enum
import os
import re
import signal
from collections.abc import Callable, Sequence

from hbd.config.model import Stonith
from hbd.core.actions import Fence
from hbd.core.events import FenceFinished
from hbd.resources import proctree
from hbd.resources.outcome import OpResult
from hbd.watchdog import reboot_now

STONITH = "/usr/sbin/stonith"
SAFE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
CONFIG_LINE_MAX = 1022      # cluster-glue reads a -F line into char[1024] with fgets
OUTPUT_CAP = 500            # characters of output kept for a failure's detail
EOF_GRACE = 0.5             # seconds for the output to close after the exit
NAMES_TIMEOUT = 30.0        # `stonith -t TYPE -n` lists names; it must not take long
_NAME_VALUE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*=")


class Method(enum.Enum):
    """How a node takes itself down (`self_fence`)."""

    STONITH = "stonith"     # through its own STONITH devices, reboot if none can
    REBOOT = "reboot"       # sync, then sysrq 'b' (heartbeat: reboot -nf)


def devices_for(devices: Sequence[Stonith], me: str) -> list[Stonith]:
    return [d for d in devices if d.host in ("*", me)]


def is_named(device: Stonith) -> bool:
    """True when every parameter is `name=value` (passed with -E)."""
    return bool(device.params) and not device.from_file and \
        all(_NAME_VALUE.match(p) for p in device.params)


def named_params(device: Stonith) -> dict[str, str]:
    return dict(p.split("=", 1) for p in device.params)


def config_line(device: Stonith) -> str:
    """The positional parameters as the one line cluster-glue reads from -F (a
    parameter never starts with '#': ha.cf's comments are gone by then)."""
    return " ".join(device.params)


def stonith_argv(device: Stonith, node: str, binary: str = STONITH, *,
                 param_fd: int | None = None) -> list[str]:
    """The command line, which holds no parameter: `param_fd` is the pipe that
    carries the positional ones."""
    argv = [binary, "-t", device.device_type]
    if device.from_file:
        argv += ["-F", device.params[0]]
    elif is_named(device):
        argv += ["-E"]
    elif device.params:
        if param_fd is None:
            raise ValueError("positional stonith parameters need a pipe")
        argv += ["-F", f"/dev/fd/{param_fd}"]
    return argv + ["-T", "reset", node]


class Fencer:
    def __init__(self, devices: Sequence[Stonith], me: str, *,
                 on_finished: Callable[[FenceFinished], None], timeout: float = 120.0,
                 kill_grace: float = 5.0, reap_timeout: float = 5.0,
                 binary: str = STONITH) -> None:
        self.me = me
        self.devices = devices_for(devices, me)
        self.on_finished = on_finished
        self.timeout = timeout
        self.kill_grace = kill_grace
        self.reap_timeout = reap_timeout
        self.binary = binary
        self.tasks: set[asyncio.Task] = set()
        self.killing: set[asyncio.Task] = set()

    def fence(self, action: Fence) -> None:
        task = asyncio.get_running_loop().create_task(self._run(action))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, action: Fence) -> None:
        result = await self.reset(action.node)
        asyncio.get_running_loop().call_soon(
            self.on_finished, FenceFinished(action.op_id, action.node, result.ok, result.detail))

    async def reset(self, node: str) -> OpResult:
        if not self.devices:
            return OpResult(False, "no stonith or stonith_host line applies to this node")
        failures = []
        for device in self.devices:
            result = await self._one(device, node)
            if result.ok:
                return result
            failures.append(result.detail)
        return OpResult(False, "; ".join(failures))

    async def fence_self(self) -> OpResult:
        """Reset this node through its own devices (when it returns, it failed or
        the device's reset is delayed)."""
        return await self.reset(self.me)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.killing:   # each bounded by reap_timeout
            await asyncio.gather(*self.killing, return_exceptions=True)

    # --- one device ----------------------------------------------------------------------
    async def _one(self, device: Stonith, node: str) -> OpResult:
        what = f"stonith -t {device.device_type} -T reset {node}"
        env = dict(SAFE_ENV)
        if is_named(device):
            names = await self.config_names(device.device_type)
            if isinstance(names, OpResult):
                return OpResult(False, f"{what}: {names.detail}")
            env |= dict.fromkeys(names, "") | named_params(device)
        read_end = None
        if device.params and not device.from_file and not is_named(device):
            line = config_line(device)
            if len(line.encode()) > CONFIG_LINE_MAX:
                return OpResult(False, f"{what}: the parameters are longer than the "
                                f"{CONFIG_LINE_MAX} bytes cluster-glue reads; put them in a "
                                f"file: stonith {device.device_type} FILE")
            read_end = _pipe_with(line + "\n")
        try:
            argv = stonith_argv(device, node, self.binary, param_fd=read_end)
            rc, output = await self._command(argv, env, self.timeout, what,
                                             pass_fds=() if read_end is None else (read_end,))
        finally:
            if read_end is not None:
                os.close(read_end)
        if rc is None:
            return OpResult(False, output)
        if rc == 0:
            return OpResult(True, f"{what}: done", 0)
        return OpResult(False, f"{what}: exit {rc}: {output}", rc)

    async def config_names(self, device_type: str) -> list[str] | OpResult:
        """The device's configuration names (`stonith -t TYPE -n`), or why not."""
        argv = [self.binary, "-t", device_type, "-n"]
        rc, output = await self._command(argv, dict(SAFE_ENV), min(self.timeout, NAMES_TIMEOUT),
                                         f"stonith -t {device_type} -n", stderr=False)
        if rc is None:
            return OpResult(False, output)
        if rc != 0:
            return OpResult(False, f"cannot list its parameter names: exit {rc}: {output}")
        return output.split()

    async def _command(self, argv: list[str], env: dict[str, str], timeout: float, what: str,
                       *, pass_fds: tuple[int, ...] = (), stderr: bool = True
                       ) -> tuple[int | None, str]:
        """(exit code, output tail), or (None, why) when it could not run or timed out.
        The run's tree is killed on timeout and on cancellation; no wait is unbounded."""
        token, since = proctree.new_token(), proctree.ticks_now()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT if stderr else asyncio.subprocess.DEVNULL,
                env=proctree.marked_env(env, token), start_new_session=True,
                pass_fds=pass_fds)
        except OSError as exc:
            return None, f"{what}: cannot run {argv[0]}: {exc.strerror}"
        reader = asyncio.ensure_future(_tail(proc.stdout, OUTPUT_CAP))
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            left = await proctree.kill_tree(proc.pid, token, grace=self.kill_grace,
                                            reap=self.reap_timeout, root_start=since)
            reader.cancel()
            detail = f"{what} timed out after {timeout:g} s; killed"
            if left is None:
                detail += "; could not check that all its processes are gone"
            elif left:
                detail += (f"; {proctree.describe(left)} still alive "
                           f"{self.reap_timeout:g} s after SIGKILL and left behind")
            return None, detail
        except asyncio.CancelledError:
            proctree.signal_group(proc.pid, signal.SIGKILL)
            reader.cancel()
            kill = asyncio.get_running_loop().create_task(proctree.kill_tree(
                proc.pid, token, grace=0.0, reap=self.reap_timeout, root_start=since))
            self.killing.add(kill)
            kill.add_done_callback(self.killing.discard)
            raise
        done, _ = await asyncio.wait({reader}, timeout=EOF_GRACE)
        if not done:
            reader.cancel()        # a leftover child holds the pipe: what we have is enough
        output = reader.result() if done else ""
        return proc.returncode, output


def _pipe_with(text: str) -> int:
    """A pipe's read end with `text` in it (the write end closed): at most
    CONFIG_LINE_MAX + 2 bytes, far below a pipe's buffer, so the write never blocks."""
    read_end, write_end = os.pipe()
    try:
        data = text.encode()
        if os.write(write_end, data) != len(data):
            os.close(read_end)
            raise OSError("short write to the parameter pipe")
    finally:
        os.close(write_end)
    return read_end


async def _tail(stream: asyncio.StreamReader | None, cap: int) -> str:
    kept = b""
    while stream is not None:
        chunk = await stream.read(4096)
        if not chunk:
            break
        kept = (kept + chunk)[-cap:]
    return kept.decode("utf-8", "replace").strip()


# --- self-fencing ------------------------------------------------------------------------

async def self_fence(method: Method, reason: str, *, fencer: Fencer | None = None,
                     reboot: Callable[[str], OpResult] | None = None) -> OpResult:
    """Take this node down so that its groups may move (a stop failed). STONITH
    first when asked and configured, else (or when no device did it) the immediate
    reboot. Returns only if the node is still up: the result says why."""
    reboot = reboot or reboot_now
    if method is Method.STONITH:
        if fencer is not None and fencer.devices:
            result = await fencer.fence_self()
            if result.ok:
                return OpResult(True, f"fenced self through STONITH ({reason}): {result.detail}")
            failed = f"self-fencing through STONITH failed ({result.detail})"
        else:
            failed = "no STONITH device applies to this node"
        rebooted = reboot(f"{reason}; {failed}; rebooting instead")
        return OpResult(rebooted.ok, f"{failed}; {rebooted.detail}")
    return reboot(reason)

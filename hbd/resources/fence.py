"""STONITH: reset a node through cluster-glue's `stonith` command, as heartbeat does.

ha.cf forms (heartbeat 3.0.6):

* `stonith TYPE CONFIGFILE`: `stonith -t TYPE -F CONFIGFILE -T reset NODE`;
* `stonith_host HOST TYPE PARAMS...`: used when HOST is `*` or this node; the
  parameters are passed as `name=value` arguments when they all look like
  that, else as the device's positional parameter string (`-p "..."`).

Devices are tried in ha.cf order until one reports success (exit 0). Each run
has a timeout (TERM, then KILL) and a failure is a value, never an exception.
"""

from __future__ import annotations

import asyncio
import re
from typing import Callable, Sequence

from hbd.config.model import Stonith
from hbd.core.actions import Fence
from hbd.core.events import FenceFinished
from hbd.resources.outcome import OpResult

STONITH = "/usr/sbin/stonith"
SAFE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
_NAME_VALUE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*=")


def stonith_argv(device: Stonith, node: str, binary: str = STONITH) -> list[str]:
    argv = [binary, "-t", device.device_type]
    params = list(device.params)
    if device.from_file:
        argv += ["-F", params[0]]
    elif params and all(_NAME_VALUE.match(p) for p in params):
        argv += params
    elif params:
        argv += ["-p", " ".join(params)]
    return argv + ["-T", "reset", node]


def devices_for(devices: Sequence[Stonith], me: str) -> list[Stonith]:
    return [d for d in devices if d.host in ("*", me)]


class Fencer:
    def __init__(self, devices: Sequence[Stonith], me: str, *,
                 on_finished: Callable[[FenceFinished], None], timeout: float = 120.0,
                 binary: str = STONITH) -> None:
        self.devices = devices_for(devices, me)
        self.on_finished = on_finished
        self.timeout = timeout
        self.binary = binary
        self.tasks: set[asyncio.Task] = set()

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

    async def _one(self, device: Stonith, node: str) -> OpResult:
        argv = stonith_argv(device, node, self.binary)
        what = f"stonith -t {device.device_type} -T reset {node}"
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=SAFE_ENV, start_new_session=True)
        except OSError as exc:
            return OpResult(False, f"{what}: cannot run {argv[0]}: {exc.strerror}")
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return OpResult(False, f"{what} timed out after {self.timeout:g} s; killed")
        tail = out.decode("utf-8", "replace").strip()[-500:]
        if proc.returncode == 0:
            return OpResult(True, f"{what}: done", 0)
        return OpResult(False, f"{what}: exit {proc.returncode}: {tail}", proc.returncode)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

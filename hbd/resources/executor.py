"""Carries out the core's `RunResourceOp`s and `Reannounce`s.

Native resources (IPaddr, IPaddr2, MacAddr, Hostname, DefaultRoute) go to
`Identity`; every other class to `ScriptRunner`. A step of several native
resources (a *block*: the group's contiguous identity resources, see
`RunResourceOp`) goes to `Identity` as one move (`start_block` / `stop_block` /
`status_block`) and comes back as one result. Each operation runs as its
own task; its outcome comes back to the runtime as a `ResourceOpFinished`
through `on_finished`, scheduled with `call_soon` so the core is never
re-entered from inside a dispatch. Exceptions and timeouts become failed
results: a resource failure is a value, never a crash.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

from hbd.config.agents import AgentClass, agent_of
from hbd.config.haresources import NATIVE_RESOURCES
from hbd.config.model import Resource, ResourceGroup
from hbd.core.actions import Probe, RunResourceOp
from hbd.core.events import ProbeFinished, ResourceOpFinished, ResourceOpKind
from hbd.resources.arp_probe import ProbeResult
from hbd.resources.outcome import OpResult


NATIVE_NAMES = tuple(NATIVE_RESOURCES)


class NativeBackend(Protocol):
    async def start(self, resource: Resource, *, group: str = "") -> OpResult: ...
    async def stop(self, resource: Resource, *, group: str = "") -> OpResult: ...
    async def status(self, resource: Resource, *, group: str = "") -> OpResult: ...
    async def start_block(self, resources: Sequence[Resource], *,
                          group: str = "") -> OpResult: ...
    async def stop_block(self, resources: Sequence[Resource], *,
                         group: str = "") -> OpResult: ...
    async def status_block(self, resources: Sequence[Resource], *,
                           group: str = "") -> OpResult: ...
    async def reannounce(self, resources: Sequence[Resource]) -> None: ...
    async def probe(self, resource: Resource, wait: float = ..., *,
                    group: str = "") -> ProbeResult: ...


class ScriptBackend(Protocol):
    async def run(self, resource: Resource, op: ResourceOpKind, *,
                  instance: str = "") -> OpResult: ...


def instance_name(group: str, index: int, resource: Resource) -> str:
    """A stable OCF_RESOURCE_INSTANCE: the agent type and its place in the group."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", resource.name.split(":")[-1])
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", group)[:40]
    return f"{base}_{tag}_{index}"


class Executor:
    def __init__(self, native: NativeBackend, scripts: ScriptBackend, *,
                 on_finished: Callable[[ResourceOpFinished], None],
                 native_timeout: float = 30.0) -> None:
        self.native = native
        self.scripts = scripts
        self.on_finished = on_finished
        self.native_timeout = native_timeout
        self.tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._keep(task)
        return task

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def submit(self, action: RunResourceOp) -> None:
        self._spawn(self._run(action))

    async def _run(self, action: RunResourceOp) -> None:
        result = await self.perform(action)
        loop = asyncio.get_running_loop()
        loop.call_soon(self.on_finished,
                       ResourceOpFinished(action.op_id, result.ok, result.detail))

    async def perform(self, action: RunResourceOp) -> OpResult:
        op = action.op
        try:
            natives = [agent_of(r, NATIVE_NAMES).cls is AgentClass.NATIVE
                       for r in action.resources]
            if all(natives):
                # shielded: a timeout stops the wait, never an identity change half-way
                # (link down, MAC not yet set); the operation finishes under its lock
                task = asyncio.ensure_future(self._native(action))
                self._keep(task)
                return await asyncio.wait_for(asyncio.shield(task), self.native_timeout)
            if len(action.resources) > 1:
                return OpResult(False, f"{op.value} of {_what(action)}: a block may hold "
                                       "only native identity resources")
            return await self.scripts.run(action.resource, op, instance=instance_name(
                action.group, action.index, action.resource))
        except TimeoutError:
            return OpResult(False, f"{op.value} of {_what(action)} timed out after "
                                   f"{self.native_timeout:g} s")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a backend bug: a failed operation
            return OpResult(False, f"{op.value} of {_what(action)} failed: "
                                   f"{type(exc).__name__}: {exc}")

    def _native(self, action: RunResourceOp) -> Awaitable[OpResult]:
        native, group = self.native, action.group
        if len(action.resources) == 1:
            one = {ResourceOpKind.START: native.start, ResourceOpKind.STOP: native.stop,
                   ResourceOpKind.STATUS: native.status}[action.op]
            return one(action.resource, group=group)
        block = {ResourceOpKind.START: native.start_block, ResourceOpKind.STOP: native.stop_block,
                 ResourceOpKind.STATUS: native.status_block}[action.op]
        return block(action.resources, group=group)

    def probe(self, action: Probe, wait: float,
              on_finished: Callable[[ProbeFinished], object]) -> None:
        """ARP-probe the group's addresses (all at once); the verdict comes back as a
        `ProbeFinished`. A probe that could not be sent counts as answered: a takeover
        must not go ahead on what could not be checked."""
        self._spawn(self._probe(action, wait, on_finished))

    async def _probe(self, action: Probe, wait: float,
                     on_finished: Callable[[ProbeFinished], object]) -> None:
        results = await asyncio.gather(
            *(self.native.probe(r, wait, group=action.group) for r in action.resources),
            return_exceptions=True)
        heard: list[str] = []
        for resource, result in zip(action.resources, results, strict=False):
            address = resource.args[0].split("/")[0] if resource.args else resource.spec
            if isinstance(result, BaseException):
                heard.append(f"{address}: probe failed ({type(result).__name__}: {result})")
            elif result.error:
                heard.append(f"{address}: probe not sent ({result.error})")
            elif result.answered:
                heard.append(f"{address} answered from {result.mac}")
        asyncio.get_running_loop().call_soon(
            on_finished, ProbeFinished(action.op_id, bool(heard), "; ".join(heard)))

    def reannounce(self, group: ResourceGroup) -> None:
        natives = [r for r in group.resources
                   if agent_of(r, NATIVE_NAMES).cls is AgentClass.NATIVE]
        if natives:
            self._spawn(self.native.reannounce(natives))

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


def _what(action: RunResourceOp) -> str:
    if len(action.resources) == 1:
        return action.resource.spec
    return "the identity block " + ", ".join(r.spec for r in action.resources)

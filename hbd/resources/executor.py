"""Carries out the core's `RunResourceOp`s and `Reannounce`s.

Native resources (IPaddr, IPaddr2, MacAddr, Hostname, DefaultRoute) go to
`Identity`; every other class to `ScriptRunner`. Each operation runs as its
own task; its outcome comes back to the runtime as a `ResourceOpFinished`
through `on_finished`, scheduled with `call_soon` so the core is never
re-entered from inside a dispatch. Exceptions and timeouts become failed
results: a resource failure is a value, never a crash.
"""

from __future__ import annotations

import asyncio
import re
from typing import Callable, Protocol

from hbd.config.agents import AgentClass, agent_of
from hbd.config.haresources import NATIVE_RESOURCES
from hbd.config.model import Resource, ResourceGroup
from hbd.core.actions import RunResourceOp
from hbd.core.events import ResourceOpFinished, ResourceOpKind
from hbd.resources.outcome import OpResult


class NativeBackend(Protocol):
    async def start(self, resource: Resource, group: str = "") -> OpResult: ...
    async def stop(self, resource: Resource, group: str = "") -> OpResult: ...
    async def status(self, resource: Resource, group: str = "") -> OpResult: ...
    async def reannounce(self, resources) -> None: ...


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
        self.tasks: set[asyncio.Task] = set()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._keep(task)
        return task

    def _keep(self, task: asyncio.Task) -> None:
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
        resource, op = action.resource, action.op
        try:
            if agent_of(resource, NATIVE_RESOURCES).cls is AgentClass.NATIVE:
                method = {ResourceOpKind.START: self.native.start,
                          ResourceOpKind.STOP: self.native.stop,
                          ResourceOpKind.STATUS: self.native.status}[op]
                # shielded: a timeout stops the wait, never an identity change half-way
                # (link down, MAC not yet set); the operation finishes under its lock
                task = asyncio.ensure_future(method(resource, group=action.group))
                self._keep(task)
                return await asyncio.wait_for(asyncio.shield(task), self.native_timeout)
            return await self.scripts.run(resource, op, instance=instance_name(
                action.group, action.index, resource))
        except asyncio.TimeoutError:
            return OpResult(False, f"{op.value} of {resource.spec} timed out after "
                                   f"{self.native_timeout:g} s")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a backend bug: report it as a failed operation
            return OpResult(False, f"{op.value} of {resource.spec} failed: "
                                   f"{type(exc).__name__}: {exc}")

    def reannounce(self, group: ResourceGroup) -> None:
        natives = [r for r in group.resources
                   if agent_of(r, NATIVE_RESOURCES).cls is AgentClass.NATIVE]
        if natives:
            self._spawn(self.native.reannounce(natives))

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

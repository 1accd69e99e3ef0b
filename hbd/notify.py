"""`notify` hooks (hbd.cf): run the operator's programs on cluster events.

What fires (from the core's Notices, as the runtime sees them):

| event | when |
|---|---|
| `group_gained` | this node finished starting a group |
| `group_lost` | this node finished stopping a group (released, failed back, rolled back) |
| `group_failed` | a start failed (rolled back) or a stop kept failing |
| `peer_dead` | a peer node was declared dead (deadtime, initdead, shutdown, fenced) |
| `peer_joined` / `peer_returned` | a peer was heard for the first time / again after being dead |
| `fence_ok` / `fence_failed` | the result of a STONITH of a peer |

Each event is one JSON object on the program's stdin (`schema`, `seq`, `event`,
`node` (this node), `time` (ISO 8601), `message`, and `group`, `peer`,
`status`, `reason`, `cause` where they apply); the same facts are in the
environment as `HBD_EVENT`, `HBD_NODE`, `HBD_GROUP`, `HBD_PEER`, `HBD_REASON`.

Hooks never delay the core: `on_notice` only puts the event in a bounded
queue (an event that finds the queue full is dropped, counted and logged). One
worker runs the programs one at a time, in event order, each in a process
group of its own; a program still running after `timeout` seconds is killed
with its whole process group, and the next one runs. See docs/notify.md.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import signal
from collections.abc import Sequence
from typing import Any

from hbd import logs

SCHEMA = 1
QUEUE_SIZE = 256
STDERR_KEEP = 2048          # bytes of a failing hook's stderr put in the log
DRAIN_WAIT = 0.5            # after a hook exits, how long its stderr may take to close


def _data(notice: Any) -> dict[str, str]:
    return {k: str(getattr(v, "value", v)) for k, v in notice.data}


def event_of(notice: Any, me: str) -> dict[str, str] | None:
    """The hook event a core Notice means, or None."""
    kind = str(getattr(notice.kind, "value", notice.kind))
    data = _data(notice)
    result, status, old = data.get("result"), data.get("status"), data.get("old")
    if kind == "group" and result in ("started", "stopped"):
        name = "group_gained" if result == "started" else "group_lost"
        return {"event": name, "group": notice.subject}
    if kind == "error" and result in ("start_failed", "stop_failed"):
        return {"event": "group_failed", "group": notice.subject, "status": result}
    if kind == "error" and status == "unfenced":
        return {"event": "fence_failed", "peer": notice.subject}
    if kind != "node" or notice.subject == me:
        return None
    if status == "fenced":
        return {"event": "fence_ok", "peer": notice.subject}
    if status == "dead" and data.get("reason") != "deadping":
        return {"event": "peer_dead", "peer": notice.subject, "reason": data.get("reason", "")}
    if status in ("up", "active") and old in ("dead", "init"):
        name = "peer_returned" if old == "dead" else "peer_joined"
        return {"event": name, "peer": notice.subject, "status": status}
    return None


class Hooks:
    """The hook runner of one node. Start it in the running loop; feed it notices."""

    def __init__(self, programs: Sequence[Sequence[str]], *, node: str, timeout: float = 10.0,
                 queue_size: int = QUEUE_SIZE, log: Any = None) -> None:
        self.programs = [list(argv) for argv in programs if argv]
        self.node = node
        self.timeout = timeout
        self.log = log or logs.get("hbd.notify").bind(node=node)
        self.limiter = logs.LogLimiter(self.log)
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self.counters: dict[str, int] = {}
        self.seq = 0
        self.causes: dict[str, str] = {}      # group -> why it is starting/stopping
        self._worker: asyncio.Task[None] | None = None
        self._current: asyncio.subprocess.Process | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.programs)

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def start(self) -> None:
        if self.enabled and self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    # --- input: never blocks -----------------------------------------------------------
    def on_notice(self, notice: Any) -> None:
        if not self.enabled:
            return
        if str(getattr(notice.kind, "value", notice.kind)) == "group" and not notice.get("result"):
            self.causes[notice.subject] = notice.message      # "taking over ...", "releasing (...)"
        facts = event_of(notice, self.node)
        if facts is not None:
            if facts["event"] in ("group_gained", "group_lost") and notice.subject in self.causes:
                facts["cause"] = self.causes.pop(notice.subject)
            self.submit(facts, message=notice.message)

    def submit(self, facts: dict[str, str], *, message: str = "") -> bool:
        """Queue one event; False (counted, logged) if the queue is full."""
        self.seq += 1
        event = {"schema": SCHEMA, "seq": self.seq, "event": facts["event"], "node": self.node,
                 "time": datetime.datetime.now().astimezone().isoformat(timespec="milliseconds"),
                 "message": message, **{k: v for k, v in facts.items() if k != "event"}}
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.count("dropped_queue_full")
            self.limiter.log("warning", "notify: queue full, event dropped", medium="notify",
                             cause="queue_full", event_=event["event"], seq=event["seq"])
            return False
        self.count("queued")
        return True

    # --- the worker ------------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                for argv in self.programs:
                    await self.run_one(argv, event)
            finally:
                self.queue.task_done()

    def _env(self, event: dict[str, Any]) -> dict[str, str]:
        env = dict(os.environ)
        for key in ("event", "node", "group", "peer", "reason", "status", "seq"):
            env.pop(f"HBD_{key.upper()}", None)
            if key in event:
                env[f"HBD_{key.upper()}"] = str(event[key])
        return env

    async def run_one(self, argv: list[str], event: dict[str, Any]) -> str:
        """Run one program for one event; 'ok', 'failed', 'timeout' or 'error'."""
        where = {"program": argv[0], "event_": event["event"], "seq": event["seq"]}
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE, env=self._env(event), start_new_session=True)
        except OSError as exc:
            self.count("spawn_errors")
            self.limiter.log("error", "notify: cannot run the program", medium="notify",
                             cause=f"spawn {argv[0]}", error=exc.strerror or str(exc), **where)
            return "error"
        self._current = proc
        try:
            outcome = await self._supervise(proc, event, where)
        finally:
            self._current = None
        self.count(outcome)
        return outcome

    async def _supervise(self, proc: asyncio.subprocess.Process, event: dict[str, Any],
                         where: dict[str, Any]) -> str:
        stderr = asyncio.ensure_future(proc.stderr.read(STDERR_KEEP)) if proc.stderr else None
        try:
            await asyncio.wait_for(self._feed_and_wait(proc, event), self.timeout)
        except TimeoutError:
            kill_group(proc.pid)
            await proc.wait()
            self.log.warning("notify: program ran too long; killed with its process group",
                             timeout_s=self.timeout, **where)
            return "timeout"
        finally:
            text = await _collect(stderr)
        if proc.returncode == 0:
            self.log.debug("notify: program done", **where)
            return "ok"
        self.log.warning("notify: program failed", exit=proc.returncode, stderr=text, **where)
        return "failed"

    @staticmethod
    async def _feed_and_wait(proc: asyncio.subprocess.Process, event: dict[str, Any]) -> None:
        if proc.stdin is not None:
            try:
                proc.stdin.write(json.dumps(event).encode() + b"\n")
                await proc.stdin.drain()
                proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                pass                  # a program that does not read its stdin
        await proc.wait()

    async def close(self, *, drain: float = 5.0) -> None:
        """Run what is queued for at most `drain` seconds, then stop (killing a
        running program's process group)."""
        if self._worker is None:
            return
        try:
            await asyncio.wait_for(self.queue.join(), drain)
        except TimeoutError:
            self.log.warning("notify: events still queued at exit were not run",
                             left=self.queue.qsize())
        self._worker.cancel()
        if self._current is not None and self._current.returncode is None:
            kill_group(self._current.pid)
        try:
            await self._worker
        except asyncio.CancelledError:
            pass
        self._worker = None


async def _collect(reader: asyncio.Future[bytes] | None) -> str:
    if reader is None:
        return ""
    try:
        data = await asyncio.wait_for(reader, DRAIN_WAIT)
    except TimeoutError:      # a child of the hook keeps stderr open: leave it
        return ""
    return data.decode("utf-8", "replace").strip()


def kill_group(pid: int) -> None:
    """SIGKILL the process group `pid` leads (the hook and whatever it started)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass

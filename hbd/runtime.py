"""The asyncio shell around the pure core (STYLE.md, "The asyncio shell").

One `Cluster`, one entry point (`feed`), one timer. Every event is stamped with
`loop.time()`; the actions the core returns are dispatched to the edges:

| action | goes to |
|---|---|
| `Send` | wire codec (auth, msgfmt, compression) -> `send_bytes` (every medium) |
| `RunResourceOp` | `Executor.submit`; the result comes back via `call_soon(feed, ...)` |
| `Fence` | `Fencer.fence` (cluster-glue's `stonith`); `FenceFinished` comes back the same way |
| `Reannounce` | `Executor.reannounce` (gratuitous ARP again) |
| `SaveGeneration` | the state dir, durably, before anything carrying it is sent |
| `Notice` | one log line, systemd STATUS= |
| `ShutdownComplete` | resolves `finished` |

Nothing calls `feed()` from inside a dispatch. When the timer fires, `now` is
`max(deadline, loop.time())`, as aioquic does. An exception from the core is a
bug: it is logged and `finished` fails, and the daemon exits non-zero (peers
take over after deadtime; systemd restarts us; start-up restores the node's
own identity). Datagrams that fail decoding or authentication are dropped,
counted per reason and logged at a limited rate.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Protocol
from collections.abc import Callable

from hbd import hblog, logs
from hbd.config.model import AuthKeys, ClusterConfig, ResourceGroup
from hbd.core.actions import (Action, Fence, FenceSelf, Notice, Probe, Reannounce, RunResourceOp,
                              SaveGeneration, SavePeerGenerations, Send, ShutdownComplete)
from hbd.core.cluster import Cluster
from hbd.core.events import (Event, FenceFinished, PacketReceived, ProbeFinished,
                             ResourceOpFinished, TimerFired)
from hbd.core.status import ClusterStatus
from hbd.wire import auth, preauth, seal
from hbd.wire.codec import Accepted, decode, encode
from hbd.wire.compress import CompressionPolicy
from hbd.wire.errors import EncodeError, Rejected
from hbd.wire.preauth import Screened

_NOTICE_LEVELS = {"error": "error", "warning": "warning"}


class ShellError(Exception):
    """An edge failed in a way the daemon cannot run on with (disk full, ...)."""


class ExecutorLike(Protocol):
    def submit(self, action: RunResourceOp) -> None: ...
    def reannounce(self, group: ResourceGroup) -> None: ...
    def probe(self, action: Probe, wait: float,
              on_finished: Callable[[ProbeFinished], object]) -> None: ...


class Runtime:
    def __init__(self, cluster: Cluster, *, send_bytes: Callable[[bytes], None],
                 executor: ExecutorLike, save_generation: Callable[[int], None],
                 on_status: Callable[[str], object] | None = None,
                 fence: Callable[[Fence], None] | None = None,
                 fence_self: Callable[[FenceSelf], None] | None = None,
                 save_peers: Callable[[dict[str, int]], None] | None = None,
                 pet: Callable[[float], object] | None = None,
                 probe_wait: float = 0.005) -> None:
        self.cluster = cluster
        self.config: ClusterConfig = cluster.config
        self.loop = asyncio.get_running_loop()
        self.send_bytes = send_bytes
        self.executor = executor
        self.save_generation = save_generation
        self.on_status = on_status
        self.fence = fence
        self.fence_self = fence_self
        self.save_peers = save_peers
        self.pet = pet                  # the watchdog: petted from the core's timer path
        self.probe_wait = probe_wait
        self.on_notice: Callable[[Notice], object] | None = None      # hooks, metrics
        self.on_op_finished: Callable[[str, str, float, bool], object] | None = None
        self._op_started: dict[int, tuple[str, str, float]] = {}    # op_id -> (group, op, t0)
        self.finished: asyncio.Future = self.loop.create_future()
        self.counters: dict[str, int] = {}
        self.log = logs.get("hbd.runtime").bind(node=cluster.me)
        self.drops = logs.LogLimiter(self.log, clock=self.loop.time)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._last_status_line = ""
        self.hblog = hblog.Vocabulary(cluster.me)     # heartbeat's words, for log monitors
        self._hblog = logs.get_stdlib(hblog.LOGGER)
        self.apply_config(self.config)

    def apply_config(self, config: ClusterConfig) -> None:
        """Take the wire settings (keys, msgfmt, compression) of `config`.

        With an AEAD signing method (`chacha20poly1305`), the keys carry a
        sending session drawn from os.urandom (hbd/wire/seal.py); a reload with
        the same keys keeps it, so the counter never restarts within a session.
        `screen` (authentication over the raw bytes) is what the media call for
        every datagram before it may queue (hbd/transport/admission.py); its
        refusals are counted here per reason (`dropped_auth_failed`, ...).
        """
        keys: AuthKeys = config.authkeys
        if auth.is_aead(keys.signing_key.method):
            previous = getattr(self, "authkeys", None)
            if isinstance(previous, seal.SessionKeys) and previous.plain() == keys:
                keys = previous
            else:
                keys = seal.SessionKeys.of(keys, seal.Sealer(os.urandom(seal.SESSION_BYTES)))
        self.authkeys = keys

        def screen(data: bytes) -> Screened | Rejected:
            result = preauth.screen(data, keys)
            if isinstance(result, Rejected):       # counted per reason, as decode's drops are
                self.count(f"dropped_{result.reason.value}")
            return result
        self.screen: Callable[[bytes], Screened | Rejected] = screen
        self.fmt = "classic" if config.hacf.msgfmt == "classic" else "netstring"
        self.compression = CompressionPolicy.from_hacf(config.hacf)

    # --- the one way in -----------------------------------------------------------
    def feed(self, event: Event, *, now: float | None = None) -> None:
        if self.finished.done():
            return
        stamp = self.loop.time() if now is None else now
        if isinstance(event, ResourceOpFinished):
            started = self._op_started.pop(event.op_id, None)
            if started is not None and self.on_op_finished is not None:
                group, op, t0 = started
                self.on_op_finished(group, op, stamp - t0, event.ok)
        try:
            actions = self.cluster.handle(event, now=stamp)
            for action in actions:
                self._dispatch(action)
        except ShellError as exc:
            self.log.critical(f"{exc}; exiting")
            self._fail(exc)
            return
        except Exception as exc:  # a core bug: stop rather than run on in a wrong state
            self.log.critical("internal error in the core; exiting", error=repr(exc),
                              input=type(event).__name__)
            self._fail(exc)
            return
        if self.hblog.wants_status() and not self.finished.done():
            self._heartbeat_lines(self.hblog.settled(self.cluster.status()))
        self._rearm()

    def _fail(self, exc: Exception) -> None:
        if not self.finished.done():
            self.finished.set_exception(exc)

    def status(self) -> ClusterStatus:
        return self.cluster.status()

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    # --- inputs from the edges ---------------------------------------------------
    def on_datagram(self, data: bytes, medium: str, source: tuple[str, int]) -> None:
        """A datagram the media admitted (already authenticated when they screen):
        decode it whole and hand the message to the core."""
        result = decode(data, self.authkeys)
        if isinstance(result, Accepted):
            self.count("packets_accepted")
            if result.counter is not None:
                self.count("packets_sealed")
            self.feed(PacketReceived(result.message, medium))
            return
        reason = result.reason.value
        self.count(f"dropped_{reason}")
        # keyed on (medium, reason), not the source: spoofed sources must not grow it
        self.drops.log("warning", "dropped a datagram", medium=medium, cause=reason,
                       source=source[0], detail=str(result))

    # --- timer ----------------------------------------------------------------------
    def _rearm(self) -> None:
        deadline = self.cluster.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._on_timer, deadline)

    def _on_timer(self, deadline: float) -> None:
        self._timer = None
        self._timer_at = None
        now = max(deadline, self.loop.time())
        if self.pet is not None:
            self.pet(now)               # a stalled loop or a hung core stops the pets
        self.feed(TimerFired(), now=now)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- outputs --------------------------------------------------------------------
    def _dispatch(self, action: Action) -> None:
        match action:
            case Send():
                self._send(action)
            case RunResourceOp():
                self.log.info("resource operation", group=action.group, op=action.op.value,
                              resource=action.resource.spec)
                self._op_started[action.op_id] = (action.group, action.op.value,
                                                  self.loop.time())
                self.executor.submit(action)
            case Fence():
                self.log.warning("STONITH", target=action.node)
                if self.fence is None:
                    self.loop.call_soon(self.feed, FenceFinished(
                        action.op_id, action.node, False, "no STONITH device here"))
                else:
                    self.fence(action)
            case Probe():
                self.executor.probe(action, self.probe_wait,
                                    lambda event: self.loop.call_soon(self.feed, event))
            case FenceSelf():
                self.log.critical("this node fences itself", method=action.method.value,
                                  reason=action.reason)
                if self.fence_self is not None:
                    self.fence_self(action)
            case SavePeerGenerations():
                if self.save_peers is not None:
                    try:
                        self.save_peers(dict(action.generations))
                    except (OSError, ValueError) as exc:   # replay protection degrades only
                        self.log.warning("cannot save the peers' generations", error=str(exc))
            case Reannounce():
                group = self.config.group(action.group)
                if group is not None:
                    self.executor.reannounce(group)
            case SaveGeneration():
                try:
                    self.save_generation(action.generation)
                except OSError as exc:   # nothing may carry a generation not on disk
                    raise ShellError(f"cannot save generation {action.generation} in the "
                                     f"state dir: {exc.strerror or exc}") from exc
            case Notice():
                self._notice(action)
            case ShutdownComplete():
                self.log.info("shutdown complete")
                self._heartbeat_lines(self.hblog.shutdown_complete())
                if not self.finished.done():
                    self.finished.set_result(0)
            case _:
                raise TypeError(f"unknown action {action!r}")

    def _send(self, action: Send) -> None:
        try:
            data = encode(action.message, self.authkeys, fmt=self.fmt,
                          inner_auth=self.fmt == "classic", compression=self.compression)
        except EncodeError as exc:
            self.count("encode_errors")
            self.log.error("cannot encode a message; not sent", type=action.message.type,
                           error=str(exc))
            return
        self.count("packets_sent")
        self.send_bytes(data)

    def _notice(self, notice: Notice) -> None:
        level = _NOTICE_LEVELS.get(notice.kind, "info")
        fields = {k if k not in ("event", "level") else f"{k}_": str(v) for k, v in notice.data}
        getattr(self.log, level)(notice.message, kind=str(notice.kind), subject=notice.subject,
                                 **fields)
        if notice.kind in ("node", "group", "holder", "error") and self.on_status:
            line = status_line(self.cluster.status())
            if line != self._last_status_line:
                self._last_status_line = line
                self.on_status(line)
        self._heartbeat_lines(self.hblog.notice(notice))
        if self.on_notice is not None:
            self.on_notice(notice)

    def _heartbeat_lines(self, lines: list[hblog.Line]) -> None:
        for line in lines:
            self._hblog.log(line.level, line.text)


def status_line(status: ClusterStatus) -> str:
    """One line for systemd's STATUS=: role and holdings."""
    held = status.held()
    alive = sum(1 for n in status.nodes if n.type == "normal" and n.status.value == "active")
    what = f"holds {', '.join(held)}" if held else "holds nothing"
    return (f"{status.node} {status.status.value} ({status.rscstatus}); {what}; "
            f"{alive}/{sum(1 for n in status.nodes if n.type == 'normal')} nodes active")


def wall_offset(loop: asyncio.AbstractEventLoop) -> float:
    """Wall-clock minus loop time, for the `ts` field peers print."""
    return time.time() - loop.time()

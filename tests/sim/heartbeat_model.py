"""A heartbeat 3.0.6 node for the simulation: a standby in nice_failback mode that
holds nothing (node1 of the source scenario, run by Debian's heartbeat).

Only what decides whether heartbeat considers the cluster *stable* is modelled,
after heartbeat's resource.c (docs/spec/heartbeat-wire.md §10.2, §11.3-11.5):

* one `other_is_stable` flag for all peers, overwritten by whoever spoke last:
  a peer's `starting` clears it (and is answered with `resource`), a peer's
  `resource` sets it to its `isstable`, `shutdone` sets it;
* the standby exchange (`ask_for_resources`): a peer's `me` clears it and is
  answered `other`; our own offer (`offer()`, as `hb_standby` would send it)
  waits at most 10 s for `other`, then `go_standby(ME)` clears the flag again;
* `hb_rsc_isstable()`: the flag, no exchange under way. While it is false,
  heartbeat delays its own shutdown ("Shutdown delayed until current resource
  activity finishes.") and ignores standby requests ("Other side is in flux").

What it acquires: only through the standby exchange, as `go_standby(OTHER)`
does, every group of its haresources whose primary is another node
(`ResourceManager otherkeys`), each as one step; then its `done` and
`resource foreign|all isstable=1`. It takes nothing on a death (no mach_down
here): tests that need that use the real heartbeat (tests/netns).
"""

from __future__ import annotations

import random
from typing import Any

from hbd.config.model import ClusterConfig
from hbd.core.actions import Action, Notice, NoticeKind, RunResourceOp, SaveGeneration
from hbd.core.counters import Counters
from hbd.core.events import (Event, PacketReceived, ResourceOpFinished, ResourceOpKind, Started,
                             TimerFired)
from hbd.core.messaging import Messenger
from hbd.wire.message import Message

STANDBY_INIT_TO = 10.0


class HeartbeatStandby:
    def __init__(self, config: ClusterConfig, *, generation: int, uuid: bytes, now: float,
                 rng: random.Random, wall_offset: float = 0.0, **_: Any) -> None:
        self.config = config
        self.me = config.node_name
        self.messenger = Messenger(self.me, uuid, generation + 1, wall_offset=wall_offset,
                                   counters=Counters(), ttl=3 + len(config.nodes))
        self.heard: set[str] = set()
        self.comm_up = False
        self.st = "up"
        self.next_status_at: float | None = None
        self.other_is_stable = False
        self.going_standby = "not"          # not / me / other / done
        self.standby_until: float | None = None
        self.ignored: list[str] = []        # standby messages heartbeat would log and drop
        self.cancelled = 0                  # our offers that nobody answered
        self.drop_next_other = False         # cancel our offer on its answer (a node died)
        self.held: list[str] = []           # groups it runs
        self.ops: dict[int, tuple[str, ResourceOpKind]] = {}   # op id -> group, start/stop
        self.next_op = 1
        self.acquiring_word = ""            # the offer's rsc_hold, for our `done`

    # --- the core interface the harness drives ---------------------------------------
    def handle(self, event: Event, *, now: float) -> list[Action]:
        out: list[Action] = []
        if isinstance(event, Started):
            out.append(SaveGeneration(self.messenger.generation))   # hb_generation
            out += self._send(Message.of(("t", "status"), ("st", "init")), now)
            out += self._status(now)
            self.next_status_at = now + self.config.keepalive
        elif isinstance(event, TimerFired):
            if self.standby_until is not None and now >= self.standby_until:
                self.standby_until, self.going_standby = None, "not"
                self.cancelled += 1
                out.append(Notice(NoticeKind.WARNING, self.me, "No reply to standby request. "
                                  "Standby request cancelled."))
            if self.next_status_at is not None and now >= self.next_status_at:
                out += self._status(now)
                self.next_status_at = now + self.config.keepalive
        elif isinstance(event, PacketReceived):
            out += self._packet(event.message, now)
        elif isinstance(event, ResourceOpFinished):
            key, kind = self.ops.pop(event.op_id)
            if kind is ResourceOpKind.START and event.ok:
                self.held.append(key)
            elif kind is ResourceOpKind.STOP and key in self.held:
                self.held.remove(key)
            if self.ops:
                return out
            done = Message.of(("t", "ask_resources"), ("rsc_hold", self.acquiring_word),
                              ("info", "done"))
            if kind is ResourceOpKind.START:   # acquisition over: done, then stable
                self.going_standby = "not"
                out += self._send(done, now) + self._resource(now)
            else:                              # release over: done, wait for theirs
                out += self._send(done, now)
        return out

    def next_deadline(self) -> float | None:
        times = [t for t in (self.next_status_at, self.standby_until) if t is not None]
        return min(times, default=None)

    def status(self) -> None:
        return None

    # --- heartbeat's view ---------------------------------------------------------------
    def isstable(self) -> bool:
        """hb_rsc_isstable(): what `cl_status rscstatus` and the shutdown check read."""
        return self.other_is_stable and self.going_standby == "not"

    def offer(self, word: str, now: float) -> list[Action]:
        """`hb_standby WORD` on this node (heartbeat offers whether or not it holds any)."""
        if not self.isstable():
            self.ignored.append("offer while unstable")
            return []
        self.going_standby, self.standby_until = "me", now + STANDBY_INIT_TO
        self.other_is_stable = False
        return self._send(Message.of(("t", "ask_resources"), ("rsc_hold", word),
                                     ("info", "me")), now)

    def _op(self, key: str, kind: ResourceOpKind) -> RunResourceOp:
        group = next(g for g in self.config.groups if g.key == key)
        op_id, self.next_op = self.next_op, self.next_op + 1
        self.ops[op_id] = (key, kind)
        indices = tuple(range(len(group.resources)))
        return RunResourceOp(op_id, key, group.resources, kind,
                             indices if kind is ResourceOpKind.START else indices[::-1])

    # --- messages -----------------------------------------------------------------------
    def _status(self, now: float) -> list[Action]:
        return self._send(Message.of(("t", "status"), ("st", self.st), ("dt", "7d0"),
                                     ("protocol", "1")), now)

    def _send(self, msg: Message, now: float) -> list[Action]:
        return [self.messenger.send(msg, now)]

    def _resource(self, now: float, info: str | None = None, stable: bool = True) -> list[Action]:
        word = "foreign" if self.held else "none"
        msg = Message.of(("t", "resource"), ("rsc_hold", word), ("rtype", "full"),
                         ("isstable", "1" if stable else "0"))
        return self._send(msg.with_field("info", info) if info else msg, now)

    def _packet(self, msg: Message, now: float) -> list[Action]:
        src, mtype = msg.get("src"), msg.type
        if src is None or src == self.me or src not in self.config.nodes:
            return []
        out: list[Action] = []
        if mtype == "status" and msg.get("st") != "dead":
            self.heard.add(src)
            if not self.comm_up and self.heard >= set(self.config.nodes) - {self.me}:
                self.comm_up, self.st = True, "active"
                out += self._status(now)
                out += self._send(Message.of(("t", "starting")), now)
            return out
        if not self.comm_up:
            return out
        if mtype == "starting":
            self.other_is_stable = False
            out += self._resource(now)
        elif mtype == "resource":
            if msg.get("isstable") is not None:
                self.other_is_stable = msg.get("isstable") == "1"
        elif mtype == "shutdone":
            self.other_is_stable = True
        elif mtype == "ask_resources":
            out += self._ask(msg, now)
        elif mtype == "hb_takeover":
            # rc.d/hb_takeover: hb_standby with the complementary set
            theirs = msg.get("rsc_hold") or "all"
            word = {"local": "foreign", "foreign": "local"}.get(theirs, "all")
            out += self.offer(word, now)
        return out

    def _ask(self, msg: Message, now: float) -> list[Action]:
        info, word = msg.get("info"), msg.get("rsc_hold") or "all"
        if self.going_standby == "not":
            if info != "me" or not self.other_is_stable:
                self.ignored.append(f"{info} in not")
                return []
            self.other_is_stable, self.going_standby = False, "other"
            return self._send(Message.of(("t", "ask_resources"), ("rsc_hold", word),
                                         ("info", "other")), now)
        if self.going_standby == "me" and info == "other" and self.drop_next_other:
            # "Cancelling pending standby operation" (a node died meanwhile): the
            # answer is ignored, nothing follows
            self.drop_next_other = False
            self.going_standby, self.standby_until = "not", None
            self.other_is_stable = True
            self.ignored.append("other after cancel")
            return []
        if self.going_standby == "me" and info == "other":
            # go_standby(ME): givegroup for what it holds, then our `done`
            self.other_is_stable, self.going_standby = False, "done"
            self.standby_until, self.acquiring_word = None, word
            out = self._resource(now, "standby", stable=False)
            stops = [self._op(k, ResourceOpKind.STOP) for k in reversed(self.held)]
            if stops:
                return out + stops
            return out + self._send(Message.of(("t", "ask_resources"), ("rsc_hold", word),
                                               ("info", "done")), now)
        if self.going_standby == "other" and info == "done":
            # go_standby(OTHER): takegroup for each of `otherkeys`, then our `done`
            self.going_standby, self.acquiring_word = "done", word
            out: list[Action] = []
            for group in self.config.groups:
                if group.primary != self.me and group.key not in self.held:
                    out.append(self._op(group.key, ResourceOpKind.START))
            if out:
                return out
            self.going_standby = "not"
            out = self._send(Message.of(("t", "ask_resources"), ("rsc_hold", word),
                                        ("info", "done")), now)
            return out + self._resource(now)
        if self.going_standby == "done" and info == "done":
            self.going_standby = "not"
            return self._resource(now)
        self.ignored.append(f"{info} in {self.going_standby}")
        return []

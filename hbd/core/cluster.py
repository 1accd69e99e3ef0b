"""The one class the shell talks to: this node's view of the cluster.

```
cluster = Cluster(config, generation=last_saved, uuid=uuid16, now=t0, rng=rng)
actions = cluster.handle(Started(), now=t0)
...
deadline = cluster.next_deadline()      # arm one timer; on expiry: handle(TimerFired())
```

Driven by stamped inputs: `Started`, `PacketReceived` (authenticated messages),
`TimerFired`, `ResourceOpFinished`, `FenceFinished`, `PingReplied`,
`AdminRequested`, `ShutdownRequested`, `LoadSampled`. Each call returns the
actions to perform, in order.

This module is the glue and speaks heartbeat's messages; the rooms are:

| module | owns |
|---|---|
| `membership.py` | who is alive: peers (all their state), links, ping nodes, seq/generation rules |
| `ownership.py` | who should hold each group, this node's plans, fencing, standby/claims |
| `messaging.py` | header fields, sequence numbers, history, retransmission answers |
| `announce.py` | hbd's `hbd_*` status fields |

What goes on the wire is heartbeat 3.0.6's own messages (`status`, `starting`,
`resource`, `shutdone`, `repnodes`, `NS_ackmsg`, `NS_rexmit`,
`NS_nak_rexmit`); hbd nodes add their `hbd_*` fields to `status` so every hbd
node knows exactly which groups each node holds.

Holdings are announced (a status plus a heartbeat `resource` message) before
any resource operation that changes them starts, and again as soon as a release
completes, so a new holder never starts before the old one has let go.

Size: about 450 lines: the glue has one method per message type and per event; each room
it glues is a module of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from hbd.config.model import AutoFailback, ClusterConfig
from hbd.core import membership as mb
from hbd.core.actions import (Action, Notice, NoticeKind, SaveGeneration, SavePeerGenerations,
                              ShutdownComplete)
from hbd.core.announce import Announcement, read_announcement, set_words
from hbd.core.bounds import header_problem
from hbd.core.counters import Counters
from hbd.core.events import (AdminRequested, CarrierChanged, Event, FenceFinished, LoadSampled,
                             PacketReceived, PingReplied, ProbeFinished, ResourceOpFinished,
                             ShutdownRequested, Started, TimerFired)
from hbd.core.handshake import Handshake, View
from hbd.core.messaging import Messenger
from hbd.core.ownership import Local, Ownership
from hbd.core.policy import Policy
from hbd.core.rng import Rng
from hbd.core.status import ClusterStatus, NodeStatus, NodeView
from hbd.wire.message import Message

AnnounceState = tuple[tuple[str, ...], frozenset[str], frozenset[str], tuple[str, ...], int,
                      NodeStatus, bool, frozenset[str], tuple[tuple[str, int], ...]]


class Cluster:
    """This node's view of the cluster: who is alive, and who owns which group."""

    def __init__(self, config: ClusterConfig, *, generation: int, uuid: bytes, now: float,
                 rng: Rng, wall_offset: float = 0.0, policy: Policy = Policy(),
                 peer_generations: Mapping[str, int] | None = None) -> None:
        self.config = config
        self.me = config.node_name
        self.generation = generation + 1
        self.uuid = uuid
        self.counters = Counters()
        self.members = mb.Membership(config, now=now, rng=rng,
                                     known_generations=peer_generations)
        self.owner = Ownership(config, self.members, policy)
        self.handshake = Handshake(config, self.members, self._send)
        self.owner.handshake = self.handshake
        self.messenger = Messenger(
            self.me, uuid, self.generation, wall_offset=wall_offset, counters=self.counters,
            ttl=config.hacf.hopfudge + len(config.nodes) + len(config.ping_nodes))
        self.own_status = NodeStatus.INIT
        self.booted = False
        self.comm_up = False
        self.shutting_down = False
        self.done = False
        self.next_status_at: float | None = None
        self.announced: AnnounceState | None = None
        self.announced_holds: tuple[tuple[str, ...], bool] | None = None
        self._quiet = False            # this event was a routine status (the fast path)
        self._due: float | None = None      # _decision_deadline() after the last event
        self._due_known = False

    # === public API ===========================================================
    def handle(self, event: Event, *, now: float) -> list[Action]:
        if self.done:
            return []
        try:
            return self._handle(event, now)
        finally:
            self._due, self._due_known = self._decision_deadline(), True

    def _handle(self, event: Event, now: float) -> list[Action]:
        self._quiet = False
        # before the clock moves: deadlines due now still count (they filter on it). An
        # event at or past one of them is never quiet: a fact may have moved with time.
        # Only handle() changes the state, so the last one's figure still holds.
        due = self._due if self._due_known else self._decision_deadline()
        out: list[Action] = []
        if self.booted and self.members.observe_clock(now):
            out.append(Notice(NoticeKind.WARNING, self.me, "this node did not run for more "
                              "than three keepalives; peers get a short grace before being "
                              "declared dead"))
        match event:
            case Started():
                out += self._handle_started(now)
            case PacketReceived():
                out += self._handle_packet(event, now)
            case TimerFired():
                self._quiet = True      # only the keepalive was due (checked below)
            case ResourceOpFinished():
                out += self.owner.op_finished(event, now)
            case FenceFinished():
                out += self.owner.fence_finished(event, now)
                if event.ok:
                    out += self._changes(self.members.fenced(event.node, now))
            case ProbeFinished():
                out += self.owner.prober.finished(event, now)
            case CarrierChanged():
                out += self._carrier(event)
            case PingReplied():
                changes = self.members.ping_replied(event.address, now)
                self._quiet = not changes
                out += self._changes(changes)
            case AdminRequested():
                out += self.owner.admin(event)
            case ShutdownRequested():
                out += self._handle_shutdown(now)
            case LoadSampled():
                self.messenger.loadavg = event.loadavg
                self._quiet = True
            case _:
                raise TypeError(f"unknown event {event!r}")
        if not self.booted:
            return out
        out += self._timers(now)
        if (self._quiet and (due is None or now < due) and not self.owner.moved
                and not any(isinstance(a, Notice) for a in out)):
            return out        # a routine status: no fact changed, no decision to revisit
        ops = self.owner.reconcile(now, self._local())
        out += self._announce(now)
        out += ops
        if self.comm_up:
            out += self.handshake.tick(now, View(
                self.owner.held(), self.owner.busy_keys(), self.owner.desired(),
                lambda info: self._resource_message(info)))
            if self.handshake.owes_resource:
                # heartbeat's standby exchange ends with each side's `resource ...
                # isstable=1` after the `done`s: it holds the other side unstable
                # since the `me`/`other` until then (go_standby)
                self.handshake.owes_resource = False
                self.announced_holds = None
                out += self._announce(now)
        out += self._maybe_finish_shutdown(now)
        if self.members.generations_dirty:
            self.members.generations_dirty = False
            out.append(SavePeerGenerations(tuple(sorted(self.members.known_generations().items()))))
        return out

    def _decision_deadline(self) -> float | None:
        """The earliest deadline other than the next keepalive."""
        times = [self.members.next_deadline(), *self.owner.deadlines(),
                 *self.handshake.deadlines()]
        return min((t for t in times if t is not None), default=None)

    def next_deadline(self) -> float | None:
        if self.done or not self.booted:
            return None
        due = self._due if self._due_known else self._decision_deadline()
        times = [self.next_status_at, due]
        return min((t for t in times if t is not None), default=None)

    def status(self) -> ClusterStatus:
        local = self._local()
        nodes = [NodeView(self.me, "normal", self.own_status, generation=self.generation,
                          holds=self.owner.held(),
                          standby=set_words(self.owner.standby_words(local)),
                          pings=self.members.ping_count() if self.members.pings else None,
                          is_hbd=True)]
        for p in self.members.peers.values():
            nodes.append(NodeView(p.name, "normal", p.status,
                                  links=tuple((m, link.status) for m, link in p.links.items()),
                                  generation=p.generation, holds=tuple(p.holds or ()),
                                  standby=set_words(p.standby), pings=p.pings, is_hbd=p.is_hbd))
        for ping in self.members.pings.values():
            nodes.append(NodeView(ping.name, "ping", ping.status))
        return ClusterStatus(self.me, self.own_status, self.generation, self.comm_up,
                             self.shutting_down, set_words(self.owner.standby),
                             self._rscstatus(), tuple(nodes), self.owner.group_views(),
                             self.counters.snapshot())

    # === events =================================================================
    def _legacy(self) -> bool:
        return self.config.auto_failback is AutoFailback.LEGACY

    def _local(self) -> Local:
        return Local(comm_up=self.comm_up, shutting_down=self.shutting_down)

    def _handle_started(self, now: float) -> list[Action]:
        if self.booted:
            return []
        self.booted = True
        out: list[Action] = [SaveGeneration(self.generation)]
        out += self._send_status("init", now)
        self.own_status = NodeStatus.UP
        out += self._send_status("up", now)
        self.next_status_at = now + self.config.keepalive
        out.append(Notice(NoticeKind.NODE, self.me, f"node {self.me}: status up (generation "
                          f"{self.generation})", (("status", "up"),)))
        return out

    def _handle_packet(self, event: PacketReceived, now: float) -> list[Action]:
        msg = event.message
        src, mtype = msg.get("src"), msg.type
        if not src or not mtype:
            return self._count("dropped_malformed")
        if src == self.me:
            return self._count("dropped_own")
        peer = self.members.peers.get(src)
        if peer is None:
            return self._count("dropped_unknown_node")
        ns = mtype.startswith("NS_")
        problem = header_problem(msg, sequenced=not ns, known_generation=peer.generation,
                                 wall_now=self.messenger.wall_offset + now,
                                 deadtime=self.config.deadtime)
        if problem is not None:
            return self._count(f"dropped_range_{problem}")
        if ns:
            return self._handle_unsequenced(peer, msg, event.medium, now)
        verdict, arrival = self.members.sequence_check(
            peer, mtype, msg.get("seq"), msg.get("hg"), now, ts_text=msg.get("ts"),
            wall_now=self.messenger.wall_offset + now)
        out: list[Action] = []
        if verdict in (mb.Verdict.ACCEPT, mb.Verdict.DUPLICATE):   # fresh: the link works
            self.members.learn_uuid(peer, msg.get_bytes("srcuuid"))
            out = self._changes(self.members.heard_packet(peer, event.medium, now))
        if verdict is not mb.Verdict.ACCEPT:
            return out + self._count(f"dropped_{verdict.value}")
        if arrival is mb.Arrival.RESTART:
            out.append(Notice(NoticeKind.INFO, src, f"Heartbeat restart on node {src}"))
        elif arrival is mb.Arrival.RETURNED:
            out.append(Notice(NoticeKind.WARNING, src,
                              f"Cluster node {src} returning after partition"))
        if self.members.wants_ack(peer, msg.get("seq")):
            out += self._send(Message.of(("t", "NS_ackmsg"), ("dest", src),
                                         ("ackseq", msg.get("seq") or "")), now)
        if not self.messenger.for_me(msg):
            return out + self._count("not_for_me")
        out += self._dispatch(peer, mtype, msg, event.medium, now)
        if arrival is not mb.Arrival.ROUTINE:
            self._quiet = False
        return out

    def _dispatch(self, peer: mb.Peer, mtype: str, msg: Message, medium: str,
                  now: float) -> list[Action]:
        if mtype == "status":
            return self._on_status(peer, msg, medium, now)
        if mtype == "shutdone":
            return self._changes(self.members.heard_shutdone(peer, now))
        if mtype == "resource":
            self.members.heard_resource(
                peer, self.owner.relative_holds(peer.name, msg.get("rsc_hold")),
                stable=msg.get("isstable") != "0")
            if not peer.is_hbd:
                self.handshake.heard_resource(peer, msg)
            return []
        if mtype == "starting":
            return self._send(self._resource_message(), now)
        if mtype == "reqnodes":
            nodes = " ".join(self.config.nodes) + " "
            return self._send(Message.of(("dest", peer.name), ("t", "repnodes"),
                                         ("nodelist", nodes), ("delnodelist", " ")), now)
        if not peer.is_hbd:
            answer = self.handshake.on_message(peer, mtype, msg, now, self.comm_up,
                                               self.owner.held())
            if answer is not None:
                return answer
        return self._count(f"ignored_{mtype}")

    def _on_status(self, peer: mb.Peer, msg: Message, medium: str, now: float) -> list[Action]:
        changes = self.members.heard_status(peer, msg.get("st", "up") or "up", msg.get("dt"),
                                            msg.get("seq"), medium, now)
        ann = read_announcement(msg)
        if ann is not None:
            changed = self.members.heard_announcement(peer, ann)
            # a routine status: nothing any decision reads has changed (issue 12)
            self._quiet = not changed and not ann.fenced and all(
                c.kind is mb.ChangeKind.LATE for c in changes)
            for name, generation in ann.fenced:
                if name != self.me:
                    changes += self.members.fenced_by_peer(name, generation, now)
        elif self.members.holdings_unasked(peer) and self._legacy():
            # legacy heartbeat sends no `resource` at all: nothing to wait for; our own
            # groups are asked for with `ip-request` (handshake.py)
            self.members.heard_resource(peer, ())
        elif not self.members.holdings_unasked(peer):
            self._quiet = all(c.kind is mb.ChangeKind.LATE for c in changes)
        else:
            # A heartbeat peer: its holdings come in a `resource` message (it answers
            # our `starting` at once). Until then it may hold any group: wait.
            self.members.await_holdings(peer, now + self.config.deadtime)
            # heartbeat answers `starting` with its `resource`, and marks us unstable
            # until our next `resource`: force one out once this event's decisions
            # are made (so that a release starting now says isstable=0, not 1).
            self.announced_holds = None
            return self._changes(changes) + self._send(Message.of(("t", "starting")), now)
        return self._changes(changes)

    def _handle_unsequenced(self, peer: mb.Peer, msg: Message, medium: str,
                            now: float) -> list[Action]:
        """`NS_*` messages carry no sequence number: only one of the sender's current
        generation counts (and marks its link up)."""
        if not self.members.current_generation(peer, msg.get("hg")):
            return self._count("dropped_ns_stale")
        self.members.learn_uuid(peer, msg.get_bytes("srcuuid"))
        changes = self.members.heard_packet(peer, medium, now)
        # an ack (O(N^2) of them per keepalive round in a big cluster) that changed no
        # link or node is as routine as a status: the fast path
        self._quiet = not changes and msg.type not in ("NS_rexmit", "NS_nak_rexmit")
        out = self._changes(changes)
        if self.messenger.for_me(msg):
            out += self._handle_ns(peer, msg, now)
        return out

    def _handle_ns(self, peer: mb.Peer, msg: Message, now: float) -> list[Action]:
        mtype = msg.type
        if mtype == "NS_rexmit":
            return self.messenger.answer_rexmit(peer.name, msg, now, dest_uuid=peer.uuid)
        if mtype == "NS_nak_rexmit":
            self.members.nak_received(peer, mb.parse_hex(msg.get("firstseq")))
        return []

    def _carrier(self, event: CarrierChanged) -> list[Action]:
        if not self.members.set_carrier(event.iface, event.up):
            return []
        state = "up" if event.up else "down"
        out: list[Action] = [Notice(NoticeKind.LINK, self.me, f"Link {self.me}:{event.iface} "
                                    f"carrier {state}", (("iface", event.iface),
                                                         ("carrier", state)))]
        if not event.up and event.iface in self.members.media and self.members.media_down():
            out.append(Notice(NoticeKind.WARNING, self.me, "every heartbeat link of this node "
                              "lost carrier: it is the one cut off; it keeps what it holds "
                              "(unless its service link is down too) and takes nothing over"))
        return out

    def _handle_shutdown(self, now: float) -> list[Action]:
        if self.shutting_down:
            return []
        self.shutting_down = True
        out: list[Action] = [Notice(NoticeKind.INFO, self.me,
                                    "shutdown requested: releasing all groups")]
        if self.booted:
            out += self._send(Message.of(("t", "resource"), ("rsc_hold", "none"),
                                         ("isstable", "0"), ("info", "shutdown")), now)
        return out

    # === timers ====================================================================
    def _timers(self, now: float) -> list[Action]:
        changes = self.members.expire(now)
        for c in changes:
            if c.kind is mb.ChangeKind.NODE and c.new == "dead":
                self.owner.node_died(c.node, c.detail, now)
        out = self._changes(changes)
        for peer in self.members.holdings_overdue(now):
            out.append(Notice(NoticeKind.WARNING, peer.name, f"{peer.name} did not say what "
                              "it holds (no resource message); taking it as nothing"))
        for peer, seq in self.members.rexmit_due(now):
            out += self._send(Message.of(("t", "NS_rexmit"), ("dest", peer.name),
                                         ("firstseq", str(seq)), ("lastseq", str(seq))), now)
            self._count("rexmit_requested")
        self.owner.expire(now)
        if not self.comm_up and self.members.all_heard_or_dead():
            out += self._comm_up(now)
        if self.next_status_at is not None and now >= self.next_status_at:
            out += self._send_status(self.own_status.value, now)
            step = self.config.keepalive
            self.next_status_at += step
            if self.next_status_at <= now:
                self.next_status_at = now + step
        return out

    def _comm_up(self, now: float) -> list[Action]:
        self.comm_up = True
        self.own_status = NodeStatus.ACTIVE
        out = self._send_status("active", now)
        out += self._send(Message.of(("t", "starting")), now)
        out.append(Notice(NoticeKind.NODE, self.me, f"node {self.me}: status active "
                          "(communications up)", (("status", "active"),)))
        return out

    def _maybe_finish_shutdown(self, now: float) -> list[Action]:
        if not self.shutting_down or self.done or self.owner.busy():
            return []
        out: list[Action] = []
        stuck = self.owner.stuck()
        if stuck:
            out.append(Notice(NoticeKind.ERROR, self.me, "leaving with groups that failed to "
                              "stop: " + " ".join(stuck) + "; peers will wait for deadtime"))
        elif self.booted:
            out += self._send(Message.of(("t", "shutdone"), ("st", "dead")), now)
        self.done = True
        out.append(Notice(NoticeKind.NODE, self.me, f"node {self.me}: shut down",
                          (("status", "dead"),)))
        out.append(ShutdownComplete())
        return out

    # === announcements ================================================================
    def _announcement(self) -> Announcement:
        return Announcement(
            holds=self.owner.held(), standby=self.owner.standby_words(self._local()),
            claims=self.owner.claims, failed=self.owner.failed_keys(),
            pings=self.members.ping_count() if self.members.pings else None,
            unable=tuple(sorted(self.owner.unable())),
            fenced=tuple(sorted(self.owner.fenced.items())),
            plost=self.members.pings_lost() if self.members.pings else None)

    def _announce_state(self) -> AnnounceState:
        """Everything peers learn from our status: a change is announced at once."""
        owner = self.owner
        return (owner.held(), owner.standby_words(self._local()), owner.claims,
                owner.failed_keys(), self.members.ping_count(), self.own_status,
                owner.in_transition(), owner.unable(), tuple(sorted(owner.fenced.items())))

    def _announce(self, now: float) -> list[Action]:
        out: list[Action] = []
        if self._announce_state() != self.announced:
            out += self._send_status(self.own_status.value, now)
        # heartbeat keeps a peer "in transition" (and delays its own shutdown and
        # refuses standby requests) until a `resource ... isstable=1` says the last
        # start or stop has finished; after our `starting` (announced_holds reset) one
        # is owed even when nothing here changed, holding nothing included.
        holds = (self.owner.held(), self.owner.in_transition())
        if self.comm_up and holds != self.announced_holds:
            self.announced_holds = holds
            out += self._send(self._resource_message(), now)
        return out

    def _send_status(self, st: str, now: float) -> list[Action]:
        msg = Message.of(("t", "status"), ("st", st),
                         ("dt", f"{int(round(self.config.deadtime * 1000)):x}"),
                         ("protocol", "1"), *self._announcement().fields())
        self.announced = self._announce_state()
        return self._send(msg, now)

    def _rscstatus(self) -> str:
        return "transition" if self.owner.in_transition() else self.owner.holds_word()

    def _resource_message(self, info: str | None = None) -> Message:
        msg = Message.of(("t", "resource"), ("rsc_hold", self.owner.holds_word()),
                         ("rtype", "full"),
                         ("isstable", "0" if self.owner.in_transition() or info else "1"))
        return msg.with_field("info", info) if info else msg

    # === sending and notices ==========================================================
    def _send(self, msg: Message, now: float) -> list[Action]:
        return [self.messenger.send(msg, now, dest_uuid=self.members.uuid_of(msg.get("dest")))]

    def _changes(self, changes: list[mb.Change]) -> list[Action]:
        out: list[Action] = []
        for c in changes:
            if c.kind is mb.ChangeKind.NODE:
                text = (f"node {c.node}: is dead ({c.detail})" if c.new == "dead"
                        else f"node {c.node}: status {c.new}")
                out.append(Notice(NoticeKind.NODE, c.node, text,
                                  (("old", c.old), ("status", c.new), ("reason", str(c.detail)))))
            elif c.kind is mb.ChangeKind.LINK:
                out.append(Notice(NoticeKind.LINK, c.node, f"Link {c.node}:{c.medium} {c.new}",
                                  (("medium", c.medium), ("status", c.new))))
            else:
                where = f" on {c.medium}" if c.medium else ""
                self._count("late_heartbeats")
                out.append(Notice(NoticeKind.WARNING, c.node, f"Late heartbeat: Node {c.node}"
                                  f"{where}: interval {c.detail} ms", (("interval_ms", c.detail),)))
        return out

    def _count(self, name: str) -> list[Action]:
        self.counters.add(name)
        return []

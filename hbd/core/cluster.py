"""The one class the shell talks to: this node's view of the cluster.

```
cluster = Cluster(config, generation=last_saved, uuid=uuid16, now=t0, rng=rng)
actions = cluster.handle(Started(), now=t0)
...
deadline = cluster.next_deadline()      # arm one timer; on expiry: handle(TimerFired())
```

Driven by stamped inputs: `Started`, `PacketReceived` (authenticated messages),
`TimerFired`, `ResourceOpFinished`, `PingReplied`, `AdminRequested`,
`ShutdownRequested`, `LoadSampled`. Each call returns the actions to perform,
in order. Liveness lives in `membership.py`, ownership in `takeover.py`; this
module speaks heartbeat's messages and keeps the books.

What goes on the wire is heartbeat 3.0.6's own messages (`status`, `starting`,
`resource`, `shutdone`, `repnodes`, `NS_ackmsg`, `NS_rexmit`,
`NS_nak_rexmit`), with the header fields a 3.0.6 node adds (src, srcuuid, seq,
hg, ts, ld, ttl; the codec adds auth). hbd nodes add a few fields of their own
to `status` (heartbeat ignores fields it does not know) so that every hbd node
knows exactly which groups each node holds, its standby/claims, recent start
failures and how many ping nodes it reaches:

| field | value |
|---|---|
| `hbd_hold` | group keys held (or being started/stopped), space-separated, trailing space; `" "` when none |
| `hbd_standby`, `hbd_claim` | `none`, `local`, `foreign` or `all`, relative to the sender |
| `hbd_fail` | group keys whose start failed recently on the sender |
| `hbd_ping` | number of ping nodes the sender reaches (only with ping nodes) |

Holdings are announced (a status plus a heartbeat `resource` message) before
any resource operation that changes them starts, and again as soon as a release
completes, so a new holder never starts before the old one has let go.
"""

from __future__ import annotations

from hbd.core.rng import Rng
from collections import OrderedDict

from hbd.config.model import ClusterConfig
from hbd.core import membership as mb
from hbd.core.actions import (Action, Fence, Notice, Reannounce, RunResourceOp, SaveGeneration,
                              Send, ShutdownComplete)
from hbd.core.events import (AdminRequested, AdminVerb, Event, FenceFinished, GroupSet,
                             LoadSampled, PacketReceived, PingReplied, ResourceOpFinished,
                             ShutdownRequested, Started, TimerFired)
from hbd.core.fencing import Fencing
from hbd.core.placement import backup_order
from hbd.core.status import ClusterStatus, GroupState, GroupView, NodeStatus, NodeView
from hbd.core.takeover import STOP_RETRIES, Decision, GroupRun, NodeFacts, covers, decide
from hbd.wire.message import Message

HISTORY = 500
REXMIT_MIN_INTERVAL = 0.24
REXMIT_MAX_PER_REQUEST = 50
PING_SETTLE_KEEPALIVES = 2

_SET_WORDS = {frozenset(): "none", frozenset({"local"}): "local",
              frozenset({"foreign"}): "foreign", frozenset({"local", "foreign"}): "all"}


def set_words(words: frozenset[str]) -> str:
    return _SET_WORDS[frozenset(words) & {"local", "foreign"}]


def parse_set(text: str | None) -> frozenset[str]:
    word = (text or "none").strip().lower()
    if word == "all":
        return frozenset({"local", "foreign"})
    if word in ("local", "foreign"):
        return frozenset({word})
    return frozenset()


def _keys(text: str | None) -> tuple[str, ...]:
    return tuple(k for k in (text or "").split() if k)


def _keys_text(keys) -> str:
    keys = list(keys)
    return " ".join(keys) + " " if keys else " "


class Cluster:
    """This node's view of the cluster: who is alive, and who owns which group."""

    def __init__(self, config: ClusterConfig, *, generation: int, uuid: bytes, now: float,
                 rng: Rng, wall_offset: float = 0.0) -> None:
        self.config = config
        self.me = config.node_name
        self.generation = generation + 1
        self.uuid = uuid
        self.rng = rng
        self.wall_offset = wall_offset
        self.members = mb.Membership(config, now=now, rng=rng)
        self.runs: dict[str, GroupRun] = {g.key: GroupRun(g) for g in config.groups}
        self.own_status = NodeStatus.INIT
        self.booted = False
        self.comm_up = False
        self.shutting_down = False
        self.done = False
        self.standby: frozenset[str] = frozenset()
        self.claims: frozenset[str] = frozenset()
        self.seq = 0
        self.history: OrderedDict[int, list] = OrderedDict()   # seq -> [message, resent_at]
        self.next_status_at: float | None = None
        self.next_op_id = 1
        self.ops: dict[int, str] = {}
        self.counters: dict[str, int] = {}
        self.loadavg = "0.00 0.00 0.00 1/1 1"
        self.announced: tuple | None = None
        self.announced_holds: tuple[tuple[str, ...], bool] | None = None
        self.decisions: dict[str, Decision] = {}
        self.decided_on: tuple[NodeFacts, ...] | None = None
        self.holder_seen: dict[str, str | None] = {}
        self.last_holder: dict[str, str] = {}          # group -> the last node seen holding it
        self.fencing = Fencing(bool(config.hacf.stonith))
        self.conflicts: set[str] = set()
        self.ttl = config.hacf.hopfudge + len(config.nodes) + len(config.ping_nodes)

    # === public API ===========================================================
    def handle(self, event: Event, *, now: float) -> list[Action]:
        if self.done:
            return []
        out: list[Action] = []
        if self.booted and self.members.observe_clock(now):
            out.append(Notice("warning", self.me, "this node did not run for more than three "
                              "keepalives; peers get a short grace before being declared dead"))
        match event:
            case Started():
                out += self._handle_started(now)
            case PacketReceived():
                out += self._handle_packet(event, now)
            case TimerFired():
                pass
            case ResourceOpFinished():
                out += self._handle_op_finished(event, now)
            case FenceFinished():
                out += self._handle_fence_finished(event, now)
            case PingReplied():
                out += self._changes(self.members.ping_replied(event.address, now))
            case AdminRequested():
                out += self._handle_admin(event)
            case ShutdownRequested():
                out += self._handle_shutdown(now)
            case LoadSampled():
                self.loadavg = event.loadavg
            case _:
                raise TypeError(f"unknown event {event!r}")
        if not self.booted:
            return out
        out += self._timers(now)
        ops = self._reconcile(now)
        out += self._announce(now)
        out += ops
        out += self._maybe_finish_shutdown(now)
        return out

    def next_deadline(self) -> float | None:
        if self.done or not self.booted:
            return None
        times = [self.next_status_at, self.members.next_deadline(),
                 self.fencing.next_deadline()]
        for run in self.runs.values():
            times += [run.retry_at, run.failed_until]
        if self.members.pings and self._ping_settles_at() > self.members.last_now:
            times.append(self._ping_settles_at())
        for peer in self.members.peers.values():
            if peer.holds is None and peer.holds_wait_until is not None:
                times.append(peer.holds_wait_until)
            if peer.alive and not peer.active and peer.heard_at is not None:
                wait_until = peer.heard_at + self._pending_wait()
                if wait_until > self.members.last_now:   # an expired wait asks for nothing
                    times.append(wait_until)
        return min((t for t in times if t is not None), default=None)

    def status(self) -> ClusterStatus:
        nodes = [NodeView(self.me, "normal", self.own_status, generation=self.generation,
                          holds=self._held(), standby=set_words(self._standby_words()),
                          pings=self.members.ping_count() if self.members.pings else None,
                          is_hbd=True)]
        for p in self.members.peers.values():
            nodes.append(NodeView(p.name, "normal", p.status,
                                  links=tuple((m, l.status) for m, l in p.links.items()),
                                  generation=p.generation, holds=tuple(p.holds or ()),
                                  standby=set_words(p.standby), pings=p.pings, is_hbd=p.is_hbd))
        for ping in self.members.pings.values():
            nodes.append(NodeView(ping.name, "ping", ping.status))
        groups = []
        for key, run in self.runs.items():
            d = self.decisions.get(key)
            groups.append(GroupView(key, run.group.primary, run.state,
                                    holder=self.holder_seen.get(key),
                                    desired=d.desired if d else None,
                                    backups=backup_order(run.group, self.config.nodes,
                                                         self.config.groups)))
        return ClusterStatus(self.me, self.own_status, self.generation, self.comm_up,
                             self.shutting_down, set_words(self.standby), self._rscstatus(),
                             tuple(nodes), tuple(groups), tuple(sorted(self.counters.items())))

    # === events =================================================================
    def _handle_started(self, now: float) -> list[Action]:
        if self.booted:
            return []
        self.booted = True
        out: list[Action] = [SaveGeneration(self.generation)]
        out += self._send_status("init", now)
        self.own_status = NodeStatus.UP
        out += self._send_status("up", now)
        self.next_status_at = now + self.config.keepalive
        out.append(Notice("node", self.me, f"node {self.me}: status up (generation "
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
        uuid = msg.get_bytes("srcuuid")
        if uuid is not None:
            peer.uuid = uuid
        if mtype.startswith("NS_"):
            out = self._changes(self.members.heard_packet(peer, event.medium, now))
            if self._for_me(msg):
                out += self._handle_ns(peer, msg, now)
            return out
        verdict, what = self.members.sequence_check(peer, mtype, msg.get("seq"), msg.get("hg"), now)
        out = self._changes(self.members.heard_packet(peer, event.medium, now))
        if verdict is not mb.Verdict.ACCEPT:
            return out + self._count(f"dropped_{verdict.value}")
        if what == "restart":
            out.append(Notice("info", src, f"Heartbeat restart on node {src}"))
        elif what == "returned":
            out.append(Notice("warning", src, f"Cluster node {src} returning after partition"))
        if self.members.wants_ack(peer, msg.get("seq")):
            out += self._send(Message.of(("t", "NS_ackmsg"), ("dest", src),
                                         ("ackseq", msg.get("seq"))), now)
        if not self._for_me(msg):
            return out + self._count("not_for_me")
        return out + self._dispatch(peer, mtype, msg, event.medium, now)

    def _dispatch(self, peer: mb.Peer, mtype: str, msg: Message, medium: str,
                  now: float) -> list[Action]:
        if mtype == "status":
            return self._on_status(peer, msg, medium, now)
        if mtype == "shutdone":
            peer.left_generation = peer.generation
            return self._changes(self.members.declare_dead(peer, now, "shutdown"))
        if mtype == "resource":
            if not peer.is_hbd:
                peer.holds = self._relative_holds(peer.name, msg.get("rsc_hold"))
            return []
        if mtype == "starting":
            return self._send(self._resource_message(), now)
        if mtype == "reqnodes":
            nodes = " ".join(self.config.nodes) + " "
            return self._send(Message.of(("dest", peer.name), ("t", "repnodes"),
                                         ("nodelist", nodes), ("delnodelist", " ")), now)
        return self._count(f"ignored_{mtype}")

    def _on_status(self, peer: mb.Peer, msg: Message, medium: str, now: float) -> list[Action]:
        changes = self.members.heard_status(peer, msg.get("st", "up"), msg.get("dt"),
                                            msg.get("seq"), medium, now)
        if "hbd_hold" in msg:
            peer.is_hbd = True
            peer.holds = _keys(msg.get("hbd_hold"))
            peer.standby = parse_set(msg.get("hbd_standby"))
            peer.claims = parse_set(msg.get("hbd_claim"))
            peer.failed = _keys(msg.get("hbd_fail"))
            pings = msg.get("hbd_ping")
            peer.pings = int(pings) if pings and pings.isdigit() else None
        elif (peer.holds is None and not peer.is_hbd and peer.active
              and peer.holds_wait_until is None):
            # A heartbeat peer: its holdings come in a `resource` message (it answers
            # our `starting` at once). Until then it may hold any group: wait.
            peer.holds_wait_until = now + self.config.deadtime
            # heartbeat answers `starting` with its `resource`, and marks us unstable
            # until our next `resource`: force one out once this event's decisions
            # are made (so that a release starting now says isstable=0, not 1).
            self.announced_holds = None
            return self._changes(changes) + self._send(Message.of(("t", "starting")), now)
        return self._changes(changes)

    def _handle_ns(self, peer: mb.Peer, msg: Message, now: float) -> list[Action]:
        mtype = msg.type
        if mtype == "NS_rexmit":
            return self._answer_rexmit(peer, msg, now)
        if mtype == "NS_nak_rexmit":
            seq = mb.parse_hex(msg.get("firstseq"))
            if seq is not None:
                peer.missing.pop(seq, None)
        return []

    def _answer_rexmit(self, peer: mb.Peer, msg: Message, now: float) -> list[Action]:
        try:
            first, last = int(msg.get("firstseq", "")), int(msg.get("lastseq", ""))
        except ValueError:
            return self._count("dropped_malformed")
        out: list[Action] = []
        oldest = next(iter(self.history), self.seq + 1)
        for seq in range(first, min(last, first + REXMIT_MAX_PER_REQUEST - 1) + 1):
            entry = self.history.get(seq)
            if entry is not None:
                if entry[1] is None or now - entry[1] >= REXMIT_MIN_INTERVAL:
                    entry[1] = now
                    out.append(Send(entry[0]))
                    self._count("rexmit_sent")
            elif 0 < seq < oldest:
                out += self._send(Message.of(("t", "NS_nak_rexmit"), ("dest", peer.name),
                                             ("firstseq", f"{seq:x}"),
                                             ("info", "not in history")), now)
        return out

    def _handle_op_finished(self, event: ResourceOpFinished, now: float) -> list[Action]:
        key = self.ops.pop(event.op_id, None)
        if key is None:
            return [Notice("warning", self.me, f"result of unknown operation {event.op_id} ignored")]
        run = self.runs[key]
        index, _ = run.current() or (0, None)
        resource = run.group.resources[index]
        rolling_back = run.rolling_back
        result = run.finish_step(event.ok, now)
        detail = f": {event.detail}" if event.detail else ""
        data = (("group", key), ("resource", resource.spec), ("result", result))
        if result == "start_failed":
            return [Notice("error", key, f"Giving up resources due to failure of "
                           f"{resource.spec}{detail}; rolling back group {key}", data)]
        if result == "retry":
            return [Notice("warning", key, f"stop of {resource.spec} failed{detail}; retry "
                           f"{run.stop_attempts} of {STOP_RETRIES}", data)]
        if result == "stop_failed":
            return [Notice("error", key, f"STOP FAILED: {resource.spec} would not stop{detail}; "
                           f"group {key} stays held here until an operator clears it", data)]
        if result == "started":
            return [Notice("group", key, f"group {key} started", data)]
        if result == "stopped":
            what = "rolled back after a failed start" if rolling_back else "stopped"
            return [Notice("group", key, f"group {key} {what}", data)]
        return []

    def _handle_fence_finished(self, event: FenceFinished, now: float) -> list[Action]:
        node = self.fencing.finished(event.op_id, event.ok, now)
        if node is None:
            return [Notice("warning", self.me, f"result of unknown fence {event.op_id} ignored")]
        detail = f": {event.detail}" if event.detail else ""
        if event.ok:
            return [Notice("node", node, f"node {node} fenced (STONITH){detail}",
                           (("status", "fenced"),))]
        return [Notice("error", node, f"STONITH of {node} failed{detail}; its groups stay "
                       "where they are, retrying", (("status", "unfenced"),))]

    def _fence(self, node: str, now: float) -> list[Action]:
        """Fence `node` now if nothing is under way for it (see fencing.py)."""
        if not self.fencing.request(node, now):
            return []
        op_id = self.next_op_id
        self.next_op_id += 1
        self.fencing.started(op_id, node)
        return [Notice("warning", node, f"fencing {node} (STONITH) before taking over what "
                       "it held"), Fence(op_id, node)]

    def _handle_admin(self, event: AdminRequested) -> list[Action]:
        words = parse_set(event.which.value if event.which is not GroupSet.ALL else "all")
        if event.verb is AdminVerb.STANDBY:
            self.standby |= words
            self.claims -= words
        else:
            self.claims |= words
            self.standby -= words
        return [Notice("info", self.me, f"{event.verb.value} {event.which.value} requested: "
                       f"standby={set_words(self.standby)} claims={set_words(self.claims)}")]

    def _handle_shutdown(self, now: float) -> list[Action]:
        if self.shutting_down:
            return []
        self.shutting_down = True
        out: list[Action] = [Notice("info", self.me, "shutdown requested: releasing all groups")]
        if self.booted:
            out += self._send(Message.of(("t", "resource"), ("rsc_hold", "none"),
                                         ("isstable", "0"), ("info", "shutdown")), now)
        return out

    # === timers ====================================================================
    def _timers(self, now: float) -> list[Action]:
        changes = self.members.expire(now)
        for c in changes:
            if c.kind == "node" and c.new == "dead":
                self.fencing.node_died(c.node, c.detail)
        out = self._changes(changes)
        for peer in self.members.peers.values():
            if (peer.holds is None and peer.holds_wait_until is not None
                    and now >= peer.holds_wait_until):
                peer.holds = ()
                out.append(Notice("warning", peer.name, f"{peer.name} did not say what it "
                                  "holds (no resource message); taking it as nothing"))
        for peer, seq in self.members.rexmit_due(now):
            out += self._send(Message.of(("t", "NS_rexmit"), ("dest", peer.name),
                                         ("firstseq", str(seq)), ("lastseq", str(seq))), now)
            self._count("rexmit_requested")
        for run in self.runs.values():
            if run.retry_at is not None and now >= run.retry_at:
                run.retry_at = None
            if run.failed_until is not None and now >= run.failed_until:
                run.failed_until = None
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
        out.append(Notice("node", self.me, f"node {self.me}: status active (communications up)",
                          (("status", "active"),)))
        return out

    # === ownership =================================================================
    def _facts(self, now: float) -> dict[str, NodeFacts]:
        has_pings = bool(self.members.pings)
        known = {self.me: self.members.ping_count()}
        for p in self.members.peers.values():
            if p.alive and p.active and p.pings is not None:
                known[p.name] = p.pings
        best = max(known.values()) if has_pings else 0
        failed = frozenset(k for k, r in self.runs.items() if r.failed_until is not None)
        settled = now >= self._ping_settles_at()
        facts = {self.me: NodeFacts(
            self.me, eligible=self.comm_up and not self.shutting_down,
            pending=not self.comm_up, holds=frozenset(self._held()),
            standby=self._standby_words(), claims=self.claims, failed=failed,
            ping_degraded=has_pings and settled and known[self.me] < best,
            ping_blind=has_pings and (not settled or known[self.me] == 0
                                      or self._ping_suspect(now)))}
        for p in self.members.peers.values():
            alive = p.alive
            # a heartbeat peer that has not said what it holds yet: it may rank for
            # groups (so a holder can hand its group back before heartbeat decides
            # what to acquire), but nobody starts anything until it has said
            unknown = alive and p.holds is None and p.holds_wait_until is not None
            facts[p.name] = NodeFacts(
                p.name, eligible=alive and p.active and (p.holds is not None or unknown),
                pending=alive and not p.active and p.heard_at is not None
                and now < p.heard_at + self._pending_wait(),
                holds=frozenset(p.holds or ()) if alive else frozenset(),
                standby=p.standby, claims=p.claims, failed=frozenset(p.failed),
                ping_degraded=has_pings and p.pings is not None and p.pings < best,
                ping_blind=has_pings and p.pings == 0, holds_unknown=unknown)
        return facts

    def _pending_wait(self) -> float:
        """How long a better-ranked peer that is up but not yet active is waited for.

        It goes active once it has heard every node or initdead passed; allow
        that plus a dead time for its announcement, then stop waiting (a peer
        stuck before comm-up must not keep a group down forever).
        """
        return self.config.initdead + self.config.deadtime

    def _ping_suspect(self, now: float) -> bool:
        """Our ping nodes have been silent for two keepalives while still counted
        alive: a cut cable shows here before deadping passes. Take nothing new
        until they answer again or are declared dead (peers' deaths race with it)."""
        quiet = PING_SETTLE_KEEPALIVES * self.config.keepalive
        return self.config.deadping > quiet and self.members.ping_silent(now, quiet)

    def _ping_settles_at(self) -> float:
        """A change in reachable ping nodes is acted on two keepalives later."""
        return self.members.ping_changed_at + PING_SETTLE_KEEPALIVES * self.config.keepalive

    def _reconcile(self, now: float) -> list[Action]:
        for peer in self.members.peers.values():
            if peer.alive:
                self.fencing.node_back(peer.name)
        facts = self._facts(now)
        # Decisions depend on the facts and the (fixed) configuration only: most
        # events (a peer's routine status) change no fact, so reuse them.
        same = self.decided_on == tuple(facts.values())
        self.decided_on = tuple(facts.values())
        out: list[Action] = []
        for key, run in self.runs.items():
            d = self.decisions[key] if same else decide(
                run.group, self.me, self.config.nodes, self.config.groups, facts,
                self.config.auto_failback)
            self.decisions[key] = d
            out += self._holder_notice(key, d, facts)
            if run.busy or run.state is GroupState.STOP_FAILED:
                continue
            want = d.want and not self.shutting_down and self.comm_up
            last = self.last_holder.get(key)
            if want and run.state is GroupState.STOPPED and self.fencing.blocks(last):
                want = False                     # its last holder is not fenced yet
                out += self._fence(last, now)
            if run.state is GroupState.STOPPED and want:
                run.begin_start()
                out.append(Notice("group", key, f"group {key}: taking over (desired holder "
                                  f"{self.me}, primary {run.group.primary})"))
            elif run.state in (GroupState.STARTED, GroupState.STARTING) and not want:
                reason = "shutdown" if self.shutting_down else f"desired holder is {d.desired}"
                if d.holder and d.holder != self.me:
                    reason = f"{d.holder} also holds it and ranks higher"
                run.begin_stop()
                out.append(Notice("group", key, f"group {key}: releasing ({reason})"))
            out += self._next_op(run)
        return out

    def _holder_notice(self, key: str, d: Decision, facts: dict[str, NodeFacts]) -> list[Action]:
        others = [n for n, f in facts.items() if n != self.me and key in f.holds]
        out: list[Action] = []
        mine = self.runs[key].state is GroupState.STARTED
        if mine and others:
            self.conflicts.add(key)
        elif mine and key in self.conflicts:
            self.conflicts.discard(key)
            out.append(Reannounce(key))
        if d.holder is not None:
            self.last_holder[key] = d.holder
        if self.holder_seen.get(key, "?") != d.holder:
            self.holder_seen[key] = d.holder
            out.append(Notice("holder", key, f"group {key} held by {d.holder or 'nobody'}",
                              (("holder", d.holder or ""),)))
        return out

    def _next_op(self, run: GroupRun) -> list[Action]:
        if run.busy or run.state in (GroupState.STOPPED, GroupState.STARTED,
                                     GroupState.STOP_FAILED):
            return []
        step = run.current()
        if step is None:
            return []
        index, op = step
        op_id = self.next_op_id
        self.next_op_id += 1
        run.op_id = op_id
        self.ops[op_id] = run.group.key
        return [RunResourceOp(op_id, run.group.key, (run.group.resources[index],), op, (index,))]

    def _maybe_finish_shutdown(self, now: float) -> list[Action]:
        if not self.shutting_down or self.done:
            return []
        if any(r.busy or r.state not in (GroupState.STOPPED, GroupState.STOP_FAILED)
               for r in self.runs.values()):
            return []
        out: list[Action] = []
        stuck = [k for k, r in self.runs.items() if r.state is GroupState.STOP_FAILED]
        if stuck:
            out.append(Notice("error", self.me, "leaving with groups that failed to stop: "
                              + " ".join(stuck) + "; peers will wait for deadtime"))
        elif self.booted:
            out += self._send(Message.of(("t", "shutdone"), ("st", "dead")), now)
        self.done = True
        out.append(Notice("node", self.me, f"node {self.me}: shut down", (("status", "dead"),)))
        out.append(ShutdownComplete())
        return out

    # === announcements ================================================================
    def _held(self) -> tuple[str, ...]:
        return tuple(k for k, r in self.runs.items() if r.state.holding)

    def _standby_words(self) -> frozenset[str]:
        return frozenset({"local", "foreign"}) if self.shutting_down else self.standby

    def _failed_keys(self) -> tuple[str, ...]:
        return tuple(k for k, r in self.runs.items() if r.failed_until is not None)

    def _announce_state(self) -> tuple:
        """Everything peers learn from our status: a change is announced at once."""
        return (self._held(), self._standby_words(), self.claims, self._failed_keys(),
                self.members.ping_count(), self.own_status, self._in_transition())

    def _announce(self, now: float) -> list[Action]:
        if self._announce_state() == self.announced:
            return []
        out = self._send_status(self.own_status.value, now)
        # heartbeat keeps a peer "in transition" (and delays its own shutdown) until
        # a `resource ... isstable=1` says the last start or stop has finished.
        holds = (self._held(), self._in_transition())
        if self.comm_up and holds != self.announced_holds:
            self.announced_holds = holds
            out += self._send(self._resource_message(), now)
        return out

    def _send_status(self, st: str, now: float) -> list[Action]:
        msg = Message.of(("t", "status"), ("st", st),
                         ("dt", f"{int(round(self.config.deadtime * 1000)):x}"),
                         ("protocol", "1"),
                         ("hbd_hold", _keys_text(self._held())),
                         ("hbd_standby", set_words(self._standby_words())),
                         ("hbd_claim", set_words(self.claims)),
                         ("hbd_fail", _keys_text(self._failed_keys())))
        if self.members.pings:
            msg = msg.with_field("hbd_ping", str(self.members.ping_count()))
        self.announced = self._announce_state()
        return self._send(msg, now)

    def _in_transition(self) -> bool:
        return any(r.state in (GroupState.STARTING, GroupState.STOPPING)
                   for r in self.runs.values())

    def _rscstatus(self) -> str:
        return "transition" if self._in_transition() else self._holds_word()

    def _holds_word(self) -> str:
        held = set(self._held())
        local = any(k in held for k, r in self.runs.items() if r.group.primary == self.me)
        foreign = any(k in held for k, r in self.runs.items() if r.group.primary != self.me)
        return {(False, False): "none", (True, False): "local",
                (False, True): "foreign", (True, True): "all"}[(local, foreign)]

    def _resource_message(self) -> Message:
        return Message.of(("t", "resource"), ("rsc_hold", self._holds_word()),
                          ("rtype", "full"),
                          ("isstable", "0" if self._in_transition() else "1"))

    def _relative_holds(self, node: str, rsc_hold: str | None) -> tuple[str, ...]:
        words = parse_set(rsc_hold)
        return tuple(g.key for g in self.config.groups if covers(words, node, g))

    # === sending ======================================================================
    def _send(self, msg: Message, now: float) -> list[Action]:
        mtype = msg.type or ""
        ns = mtype.startswith("NS_")
        dest = msg.get("dest")
        if dest:
            peer = self.members.peers.get(dest)
            if peer is not None and peer.uuid is not None:
                msg = msg.with_field("destuuid", peer.uuid)
        msg = msg.with_field("src", self.me).with_field("srcuuid", self.uuid)
        if not ns:
            self.seq += 1
            msg = msg.with_field("seq", f"{self.seq:x}")
        msg = msg.with_field("hg", f"{self.generation:x}")
        msg = msg.with_field("ts", f"{max(1, int(self.wall_offset + now)):x}")
        if not ns:
            msg = msg.with_field("ld", self.loadavg)
        msg = msg.with_field("ttl", str(self.ttl))
        if not ns:
            self.history[self.seq] = [msg, None]
            while len(self.history) > HISTORY:
                self.history.popitem(last=False)
        return [Send(msg)]

    def _for_me(self, msg: Message) -> bool:
        destuuid = msg.get_bytes("destuuid")
        if destuuid is not None:
            return destuuid == self.uuid
        dest = msg.get("dest")
        return dest is None or dest == self.me

    # === notices ======================================================================
    def _changes(self, changes: list[mb.Change]) -> list[Action]:
        out: list[Action] = []
        for c in changes:
            if c.kind == "node":
                text = (f"node {c.node}: is dead ({c.detail})" if c.new == "dead"
                        else f"node {c.node}: status {c.new}")
                out.append(Notice("node", c.node, text, (("old", c.old), ("status", c.new),
                                                        ("reason", c.detail))))
            elif c.kind == "link":
                out.append(Notice("link", c.node, f"Link {c.node}:{c.medium} {c.new}",
                                  (("medium", c.medium), ("status", c.new))))
            else:
                where = f" on {c.medium}" if c.medium else ""
                self._count("late_heartbeats")
                out.append(Notice("warning", c.node, f"Late heartbeat: Node {c.node}{where}: "
                                  f"interval {c.detail} ms", (("interval_ms", c.detail),)))
        return out

    def _count(self, name: str) -> list[Action]:
        self.counters[name] = self.counters.get(name, 0) + 1
        return []


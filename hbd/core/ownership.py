"""This node's side of group ownership: facts, decisions, plans, fencing.

Every input that may change who should hold a group ends in `reconcile()`:

1. `facts()` sums up what this node knows about every node (alive, active,
   what it holds, standby/claims, recent start failures, ping reachability)
   as `NodeFacts`;
2. `takeover.decide()` says, per group, who should hold it and whether this
   node should hold it now (every node decides on the same facts, carried in
   status messages, so they agree without an election);
3. a group this node should hold and does not is started (after fencing its
   last holder if that one died by deadtime and STONITH is configured); one
   it holds and should not is released; the next step of a running plan is
   handed out as a `RunResourceOp`.

Operator requests (`hbctl standby|takeover`) change this node's standby and
claims sets here. The messages that announce the result are `cluster.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from hbd.config.model import ClusterConfig
from hbd.core.actions import Action, Fence, Notice, NoticeKind, Reannounce, RunResourceOp
from hbd.core.announce import BOTH, parse_set, set_words
from hbd.core.events import AdminRequested, AdminVerb, FenceFinished, ResourceOpFinished
from hbd.core.fencing import Fencing
from hbd.core.membership import DeathCause, Membership
from hbd.core.placement import backup_order
from hbd.core.status import GroupState, GroupView
from hbd.core.takeover import (STOP_RETRIES, Decision, GroupRun, NodeFacts, StepOutcome, covers,
                               decide)

PING_SETTLE_KEEPALIVES = 2


@dataclass(frozen=True)
class Local:
    """This node's lifecycle, as the cluster glue knows it."""

    comm_up: bool
    shutting_down: bool


class Ownership:
    def __init__(self, config: ClusterConfig, members: Membership) -> None:
        self.config = config
        self.me = config.node_name
        self.members = members
        self.runs: dict[str, GroupRun] = {g.key: GroupRun(g) for g in config.groups}
        self.standby: frozenset[str] = frozenset()
        self.claims: frozenset[str] = frozenset()
        self.decisions: dict[str, Decision] = {}
        self.decided_on: tuple[NodeFacts, ...] | None = None
        self.holder_seen: dict[str, str | None] = {}
        self.last_holder: dict[str, str] = {}          # group -> the last node seen holding it
        self.fencing = Fencing(bool(config.hacf.stonith))
        self.conflicts: set[str] = set()
        self.next_op_id = 1
        self.ops: dict[int, str] = {}

    # --- views ------------------------------------------------------------------------
    def held(self) -> tuple[str, ...]:
        return tuple(k for k, r in self.runs.items() if r.state.holding)

    def standby_words(self, local: Local) -> frozenset[str]:
        return BOTH if local.shutting_down else self.standby

    def failed_keys(self) -> tuple[str, ...]:
        return tuple(k for k, r in self.runs.items() if r.failed_until is not None)

    def in_transition(self) -> bool:
        return any(r.state in (GroupState.STARTING, GroupState.STOPPING)
                   for r in self.runs.values())

    def holds_word(self) -> str:
        """`cl_status rscstatus`'s word for what this node holds."""
        held = set(self.held())
        local = any(k in held for k, r in self.runs.items() if r.group.primary == self.me)
        foreign = any(k in held for k, r in self.runs.items() if r.group.primary != self.me)
        return {(False, False): "none", (True, False): "local",
                (False, True): "foreign", (True, True): "all"}[(local, foreign)]

    def relative_holds(self, node: str, rsc_hold: str | None) -> tuple[str, ...]:
        """The groups a heartbeat peer's `rsc_hold` word names."""
        words = parse_set(rsc_hold)
        return tuple(g.key for g in self.config.groups if covers(words, node, g))

    def busy(self) -> bool:
        return any(r.busy or r.state not in (GroupState.STOPPED, GroupState.STOP_FAILED)
                   for r in self.runs.values())

    def stuck(self) -> list[str]:
        return [k for k, r in self.runs.items() if r.state is GroupState.STOP_FAILED]

    def group_views(self) -> tuple[GroupView, ...]:
        views = []
        for key, run in self.runs.items():
            d = self.decisions.get(key)
            views.append(GroupView(key, run.group.primary, run.state,
                                   holder=self.holder_seen.get(key),
                                   desired=d.desired if d else None,
                                   backups=backup_order(run.group, self.config.nodes,
                                                        self.config.groups)))
        return tuple(views)

    # --- timers ---------------------------------------------------------------------------
    def ping_settles_at(self) -> float:
        """A change in reachable ping nodes is acted on two keepalives later."""
        return self.members.ping_changed_at + PING_SETTLE_KEEPALIVES * self.config.keepalive

    def pending_wait(self) -> float:
        """How long a better-ranked peer that is up but not yet active is waited for.

        It goes active once it has heard every node or initdead passed; allow
        that plus a dead time for its announcement, then stop waiting (a peer
        stuck before comm-up must not keep a group down forever).
        """
        return self.config.initdead + self.config.deadtime

    def deadlines(self) -> list[float | None]:
        last_now = self.members.last_now
        times: list[float | None] = [self.fencing.next_deadline()]
        for run in self.runs.values():
            times += [run.retry_at, run.failed_until]
        if self.members.pings and self.ping_settles_at() > last_now:
            times.append(self.ping_settles_at())
        for peer in self.members.peers.values():
            if peer.holds is None and peer.holds_wait_until is not None:
                times.append(peer.holds_wait_until)
            if peer.alive and not peer.active and peer.heard_at is not None:
                wait_until = peer.heard_at + self.pending_wait()
                if wait_until > last_now:   # an expired wait asks for nothing
                    times.append(wait_until)
        return times

    def expire(self, now: float) -> None:
        for run in self.runs.values():
            if run.retry_at is not None and now >= run.retry_at:
                run.retry_at = None
            if run.failed_until is not None and now >= run.failed_until:
                run.failed_until = None

    def node_died(self, node: str, cause: str) -> None:
        self.fencing.node_died(node, silent=cause == DeathCause.DEADTIME)

    # --- facts and decisions ------------------------------------------------------------------
    def _ping_suspect(self, now: float) -> bool:
        """Our ping nodes have been silent for two keepalives while still counted
        alive: a cut cable shows here before deadping passes. Take nothing new
        until they answer again or are declared dead (peers' deaths race with it)."""
        quiet = PING_SETTLE_KEEPALIVES * self.config.keepalive
        return self.config.deadping > quiet and self.members.ping_silent(now, quiet)

    def facts(self, now: float, local: Local) -> dict[str, NodeFacts]:
        members = self.members
        has_pings = bool(members.pings)
        known = {self.me: members.ping_count()}
        for p in members.peers.values():
            if p.alive and p.active and p.pings is not None:
                known[p.name] = p.pings
        best = max(known.values()) if has_pings else 0
        settled = now >= self.ping_settles_at()
        facts = {self.me: NodeFacts(
            self.me, eligible=local.comm_up and not local.shutting_down,
            pending=not local.comm_up, holds=frozenset(self.held()),
            standby=self.standby_words(local), claims=self.claims,
            failed=frozenset(self.failed_keys()),
            ping_degraded=has_pings and settled and known[self.me] < best,
            ping_blind=has_pings and (not settled or known[self.me] == 0
                                      or self._ping_suspect(now)))}
        for p in members.peers.values():
            alive = p.alive
            # a heartbeat peer that has not said what it holds yet: it may rank for
            # groups (so a holder can hand its group back before heartbeat decides
            # what to acquire), but nobody starts anything until it has said
            unknown = alive and p.holds is None and p.holds_wait_until is not None
            facts[p.name] = NodeFacts(
                p.name, eligible=alive and p.active and (p.holds is not None or unknown),
                pending=alive and not p.active and p.heard_at is not None
                and now < p.heard_at + self.pending_wait(),
                holds=frozenset(p.holds or ()) if alive else frozenset(),
                standby=p.standby, claims=p.claims, failed=frozenset(p.failed),
                ping_degraded=has_pings and p.pings is not None and p.pings < best,
                ping_blind=has_pings and p.pings == 0, holds_unknown=unknown)
        return facts

    def reconcile(self, now: float, local: Local) -> list[Action]:
        for peer in self.members.peers.values():
            if peer.alive:
                self.fencing.node_back(peer.name)
        facts = self.facts(now, local)
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
            out += self._steer(key, run, d, now, local)
            out += self._next_op(run)
        return out

    def _steer(self, key: str, run: GroupRun, d: Decision, now: float,
               local: Local) -> list[Action]:
        """Begin a start or a stop when the decision and this node's state differ."""
        want = d.want and not local.shutting_down and local.comm_up
        last = self.last_holder.get(key)
        out: list[Action] = []
        if want and run.state is GroupState.STOPPED and self.fencing.blocks(last):
            want = False                     # its last holder is not fenced yet
            assert last is not None
            out += self._fence(last, now)
        if run.state is GroupState.STOPPED and want:
            run.begin_start()
            out.append(Notice(NoticeKind.GROUP, key, f"group {key}: taking over (desired "
                              f"holder {self.me}, primary {run.group.primary})"))
        elif run.state in (GroupState.STARTED, GroupState.STARTING) and not want:
            reason = "shutdown" if local.shutting_down else f"desired holder is {d.desired}"
            if d.holder and d.holder != self.me:
                reason = f"{d.holder} also holds it and ranks higher"
            run.begin_stop()
            out.append(Notice(NoticeKind.GROUP, key, f"group {key}: releasing ({reason})"))
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
            out.append(Notice(NoticeKind.HOLDER, key, f"group {key} held by "
                              f"{d.holder or 'nobody'}", (("holder", d.holder or ""),)))
        return out

    def _new_op_id(self) -> int:
        op_id = self.next_op_id
        self.next_op_id += 1
        return op_id

    def _next_op(self, run: GroupRun) -> list[Action]:
        if run.busy or run.state in (GroupState.STOPPED, GroupState.STARTED,
                                     GroupState.STOP_FAILED):
            return []
        step = run.current()
        if step is None:
            return []
        op_id = self._new_op_id()
        run.op_id = op_id
        self.ops[op_id] = run.group.key
        resources = tuple(run.group.resources[i] for i in step.indices)
        return [RunResourceOp(op_id, run.group.key, resources, step.op, step.indices)]

    # --- results ----------------------------------------------------------------------------
    def op_finished(self, event: ResourceOpFinished, now: float) -> list[Action]:
        key = self.ops.pop(event.op_id, None)
        if key is None:
            return [Notice(NoticeKind.WARNING, self.me,
                           f"result of unknown operation {event.op_id} ignored")]
        run = self.runs[key]
        step = run.current()
        index = step.indices[0] if step is not None else 0
        resource = run.group.resources[index]
        rolling_back = run.rolling_back
        result = run.finish_step(event.ok, now)
        detail = f": {event.detail}" if event.detail else ""
        data = (("group", key), ("resource", resource.spec), ("result", result.value))
        match result:
            case StepOutcome.START_FAILED:
                return [Notice(NoticeKind.ERROR, key, f"Giving up resources due to failure of "
                               f"{resource.spec}{detail}; rolling back group {key}", data)]
            case StepOutcome.RETRY:
                return [Notice(NoticeKind.WARNING, key, f"stop of {resource.spec} failed"
                               f"{detail}; retry {run.stop_attempts} of {STOP_RETRIES}", data)]
            case StepOutcome.STOP_FAILED:
                return [Notice(NoticeKind.ERROR, key, f"STOP FAILED: {resource.spec} would not "
                               f"stop{detail}; group {key} stays held here until an operator "
                               "clears it", data)]
            case StepOutcome.STARTED:
                return [Notice(NoticeKind.GROUP, key, f"group {key} started", data)]
            case StepOutcome.STOPPED:
                what = "rolled back after a failed start" if rolling_back else "stopped"
                return [Notice(NoticeKind.GROUP, key, f"group {key} {what}", data)]
            case StepOutcome.NEXT:
                return []

    def fence_finished(self, event: FenceFinished, now: float) -> list[Action]:
        node = self.fencing.finished(event.op_id, event.ok, now)
        if node is None:
            return [Notice(NoticeKind.WARNING, self.me,
                           f"result of unknown fence {event.op_id} ignored")]
        detail = f": {event.detail}" if event.detail else ""
        if event.ok:
            return [Notice(NoticeKind.NODE, node, f"node {node} fenced (STONITH){detail}",
                           (("status", "fenced"),))]
        return [Notice(NoticeKind.ERROR, node, f"STONITH of {node} failed{detail}; its groups "
                       "stay where they are, retrying", (("status", "unfenced"),))]

    def _fence(self, node: str, now: float) -> list[Action]:
        """Fence `node` now if nothing is under way for it (see fencing.py)."""
        if not self.fencing.request(node, now):
            return []
        op_id = self._new_op_id()
        self.fencing.started(op_id, node)
        return [Notice(NoticeKind.WARNING, node, f"fencing {node} (STONITH) before taking "
                       "over what it held"), Fence(op_id, node)]

    # --- operator requests ---------------------------------------------------------------------
    def admin(self, event: AdminRequested) -> list[Action]:
        words = parse_set(event.which.value)
        if event.verb is AdminVerb.STANDBY:
            self.standby |= words
            self.claims -= words
        else:
            self.claims |= words
            self.standby -= words
        return [Notice(NoticeKind.INFO, self.me, f"{event.verb.value} {event.which.value} "
                       f"requested: standby={set_words(self.standby)} "
                       f"claims={set_words(self.claims)}")]


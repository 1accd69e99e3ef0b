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

Size: about 460 lines: facts, decisions, plans and their results for one node's groups,
with fencing policy (`fencepolicy.py`) and the takeover gates (`probing.py`) already
apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hbd.config.model import ClusterConfig, ResourceGroup
from hbd.core import groups as grp
from hbd.core.actions import (Action, Fence, FenceSelf, Notice, NoticeKind, Reannounce,
                              RunResourceOp, SelfFenceMethod)
from hbd.core.announce import BOTH, parse_set, set_words
from hbd.core.events import (AdminRequested, AdminVerb, FenceFinished, ResourceOpFinished)
from hbd.core.fencepolicy import FencePolicy, FenceWhen
from hbd.core.fencing import Fencing
from hbd.core.handshake import Handshake
from hbd.core.membership import DeathCause, Membership
from hbd.core.placement import backup_order
from hbd.core.probing import Gate, Prober
from hbd.core.policy import Policy, StopFailure
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
    def __init__(self, config: ClusterConfig, members: Membership,
                 policy: Policy = Policy()) -> None:
        self.config = config
        self.policy = policy
        self.me = config.node_name
        self.members = members
        self.runs: dict[str, GroupRun] = {g.key: GroupRun(g) for g in config.groups}
        self.gates: dict[str, Gate] = {g.key: Gate() for g in config.groups}
        self.ifaces = {g.key: grp.interfaces(g) for g in config.groups}
        self.self_fenced = False
        self.fenced: dict[str, int] = {}       # node -> generation it had when we fenced it
        self.handshake: Handshake | None = None  # heartbeat peers' protocol (cluster.py)
        self.standby: frozenset[str] = frozenset()
        self.claims: frozenset[str] = frozenset()
        self.decisions: dict[str, Decision] = {}
        self.decided_on: tuple[NodeFacts, ...] | None = None
        # the last reconcile began a start or a stop: this node's own holdings moved after
        # the facts were taken, so the next event must reconcile again (no fast path)
        self.moved = False
        self.holder_seen: dict[str, str | None] = {}
        self.last_holder: dict[str, str] = {}          # group -> the last node seen holding it
        self.prober = Prober(config, members, policy, self.gates, self.last_holder,
                             self._new_op_id)
        self.fencing = Fencing(bool(config.hacf.stonith))
        self.fence_policy = FencePolicy(config, members, policy, lambda: len(self.held()))
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

    def unable(self) -> frozenset[str]:
        """Groups this node cannot serve: an interface they name lost carrier."""
        return frozenset(k for k, ifaces in self.ifaces.items()
                         if self.members.carrier_down(ifaces))

    def busy(self) -> bool:
        return any(r.busy or r.state not in (GroupState.STOPPED, GroupState.STOP_FAILED)
                   for r in self.runs.values())

    def stuck(self) -> list[str]:
        return [k for k, r in self.runs.items() if r.state is GroupState.STOP_FAILED]

    def busy_keys(self) -> frozenset[str]:
        return frozenset(k for k, r in self.runs.items()
                         if r.busy or r.state in (GroupState.STARTING, GroupState.STOPPING))

    def desired(self) -> dict[str, str | None]:
        return {k: d.desired for k, d in self.decisions.items()}

    def group_views(self) -> tuple[GroupView, ...]:
        views = []
        for key, run in self.runs.items():
            d = self.decisions.get(key)
            views.append(GroupView(key, run.group.primary, run.state,
                                   holder=self.holder_seen.get(key),
                                   desired=d.desired if d else None,
                                   backups=backup_order(run.group, self.config.nodes,
                                                        self.config.groups),
                                   waiting=self.gates[key].note))
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
        for gate in self.gates.values():
            if gate.probe_at is not None and gate.probe_at > last_now:
                times.append(gate.probe_at)
        times.extend(t for t in self.fence_policy.delays(self.fencing.waiting()) if t > last_now)
        if self.members.pings and self.ping_settles_at() > last_now:
            times.append(self.ping_settles_at())
        replies = [p.replied_at for p in self.members.pings.values() if p.replied_at is not None]
        if replies:             # when the ping nodes will have been silent long enough
            silent_at = math.nextafter(max(replies) + PING_SETTLE_KEEPALIVES
                                       * self.config.keepalive, math.inf)   # `>` in ping_silent
            if silent_at > last_now:
                times.append(silent_at)
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

    def node_died(self, node: str, cause: str, now: float) -> None:
        """Remember a silent death for fencing, and whether this node saw it from a
        side that may fence (see fencing.py)."""
        when, why = self.fence_policy.when(node, now)
        self.fencing.node_died(node, silent=cause == DeathCause.DEADTIME,
                               forbidden=why if when is FenceWhen.NEVER else "")

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
        # Nodes are ranked by how many of their *own* ping nodes they lost (ipfail's
        # rule), so nodes with different `ping` lists compare fairly; a peer that does
        # not say (an older hbd) is taken to have our list.
        lost = {self.me: members.pings_lost()}
        for p in members.peers.values():
            if p.alive and p.active and p.plost is not None:
                lost[p.name] = p.plost
            elif p.alive and p.active and p.pings is not None:
                lost[p.name] = max(0, len(members.pings) - p.pings)
        fewest = min(lost.values()) if has_pings else 0
        settled = now >= self.ping_settles_at()
        cut_off = members.media_down()
        facts = {self.me: NodeFacts(
            self.me, eligible=local.comm_up and not local.shutting_down,
            pending=not local.comm_up, holds=frozenset(self.held()),
            standby=self.standby_words(local), claims=self.claims,
            failed=frozenset(self.failed_keys()),
            ping_degraded=has_pings and settled and lost[self.me] > fewest,
            ping_blind=cut_off or has_pings and (not settled or members.ping_count() == 0
                                                 or self._ping_suspect(now)),
            unable=self.unable())}
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
                ping_degraded=has_pings and lost.get(p.name, fewest) > fewest,
                ping_blind=has_pings and p.pings == 0, holds_unknown=unknown,
                unable=frozenset(p.unable))
        return facts

    def reconcile(self, now: float, local: Local) -> list[Action]:
        for peer in self.members.peers.values():
            if peer.alive:
                self.fencing.node_back(peer.name)
                if peer.generation != self.fenced.get(peer.name, peer.generation):
                    del self.fenced[peer.name]         # it booted again since
        facts = self.facts(now, local)
        # Decisions depend on the facts and the (fixed) configuration only: most
        # events (a peer's routine status) change no fact, so reuse them.
        same = self.decided_on == tuple(facts.values())
        self.decided_on = tuple(facts.values())
        out: list[Action] = []
        self.moved = False
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
        hs = self.handshake
        if hs is not None and hs.must_yield(key):
            want = False                       # a peer asked for it (ip-request)
        gate = self.gates[key]
        out: list[Action] = []
        if run.state is GroupState.STOPPED:
            if not want:
                gate.reset()
                return out
            if gate.wanted_since is None:
                gate.wanted_since = now
            blocked, out = self._gate(key, run.group, gate, now)
            if blocked:
                return out
            gate.reset()
            run.begin_start()
            self.moved = True
            out.append(Notice(NoticeKind.GROUP, key, f"group {key}: taking over (desired "
                              f"holder {self.me}, primary {run.group.primary})"))
        elif run.state in (GroupState.STARTED, GroupState.STARTING) and not want:
            held_back = "" if hs is None or local.shutting_down or run.state is \
                GroupState.STARTING else hs.release_blocked(key, d.desired, self.standby,
                                                       unable=key in self.unable())
            if held_back:
                gate.note = held_back
                return out
            reason = "shutdown" if local.shutting_down else f"desired holder is {d.desired}"
            if d.holder and d.holder != self.me:
                reason = f"{d.holder} also holds it and ranks higher"
            elif key in self.unable():
                reason = "a link it needs lost carrier"
            run.begin_stop()
            self.moved = True
            out.append(Notice(NoticeKind.GROUP, key, f"group {key}: releasing ({reason})"))
        return out

    # --- before a takeover: quorum, fencing, probing ---------------------------------------
    def _gate(self, key: str, group: ResourceGroup, gate: Gate,
              now: float) -> tuple[bool, list[Action]]:
        """(blocked, actions): whatever must happen before this node may start `key`."""
        if self.policy.quorum and not self.fence_policy.quorate(now):
            return True, gate.wait(key, "quorum", self.fence_policy.minority_note(now))
        last = self.last_holder.get(key)
        if last is not None and self.fencing.blocks(last):
            return True, self._fence_gate(key, gate, last, now)
        blocked = self.handshake.start_blocked(key, now) if self.handshake else ""
        if blocked:
            gate.note = blocked
            return True, []
        return self.prober.step(group, gate, now)

    # --- fencing policy ---------------------------------------------------------------------
    def _fence_gate(self, key: str, gate: Gate, target: str, now: float) -> list[Action]:
        when, why = self.fence_policy.when(target, now)
        if self.fencing.forbidden(target):
            when, why = FenceWhen.NEVER, (f"it went silent while {self.fencing.forbidden(target)}"
                                          " (wait for it to return, or an operator)")
        if when is FenceWhen.NEVER:
            return gate.wait(key, "nofence", f"{target} must be fenced first, and this "
                              f"node may not fence: {why}", NoticeKind.ERROR)
        if when is FenceWhen.LATER and now < self.fence_policy.due(target):
            return gate.wait(key, "fencedelay", f"fencing {target} at "
                              f"+{self.policy.fence_delay:g}s ({why})")
        gate.note = f"fencing {target} (STONITH)"
        return self._fence(target, now)

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
                return self._stop_failed(key, resource.spec, detail, data)
            case StepOutcome.STARTED:
                return [Notice(NoticeKind.GROUP, key, f"group {key} started", data)]
            case StepOutcome.STOPPED:
                what = "rolled back after a failed start" if rolling_back else "stopped"
                return [Notice(NoticeKind.GROUP, key, f"group {key} {what}", data)]
            case StepOutcome.NEXT:
                return []

    def _self_fence_method(self) -> SelfFenceMethod | None:
        choice = self.policy.on_stop_failure
        if choice is StopFailure.HOLD:
            return None
        stonith = bool(self.config.hacf.stonith)
        if choice is StopFailure.REBOOT or not stonith:
            return SelfFenceMethod.REBOOT
        return SelfFenceMethod.STONITH

    def _stop_failed(self, key: str, spec: str, detail: str,
                     data: tuple[tuple[str, str], ...]) -> list[Action]:
        """A stop kept failing: the group is stuck here. Heartbeat reboots the node so
        that another can take it; so does hbd unless told to hold it."""
        method = self._self_fence_method()
        if method is None:
            self.gates[key].note = "stop failed; held here until an operator clears it"
            return [Notice(NoticeKind.ERROR, key, f"STOP FAILED: {spec} would not stop{detail}; "
                           f"group {key} stays held here until an operator clears it "
                           "(on_stop_failure hold)", data)]
        reason = f"{spec} would not stop{detail}"
        out: list[Action] = [Notice(NoticeKind.ERROR, key, f"STOP FAILED: {reason}; this node "
                                    f"fences itself ({method.value}) so that group {key} can "
                                    "move", data)]
        if not self.self_fenced:
            self.self_fenced = True
            out.append(FenceSelf(method, f"group {key}: {reason}"))
        return out

    def fence_finished(self, event: FenceFinished, now: float) -> list[Action]:
        node = self.fencing.finished(event.op_id, event.ok, now)
        if node is None:
            return [Notice(NoticeKind.WARNING, self.me,
                           f"result of unknown fence {event.op_id} ignored")]
        detail = f": {event.detail}" if event.detail else ""
        if event.ok:
            peer = self.members.peers.get(node)
            if peer is not None and peer.generation is not None:
                self.fenced[node] = peer.generation
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


"""Who holds each group, and the ordered plans that move it.

Two pure parts:

1. `decide()` — from what this node knows about every node (`NodeFacts`), say
   who should hold a group and whether *this* node should hold it now. Every
   node runs it on the same facts (carried in status messages), so they agree
   without an extra election round.

   * Ranking: operator claims (`hbctl takeover`) first, then the group's
     candidates (primary, then backups, see `placement.py`), then nodes that are
     degraded for it: in standby for it (`hbctl standby`), or reaching fewer ping
     nodes than the best node does (what ipfail does). A degraded node still holds
     a group when nobody better can.
   * Eligible: alive, active (communications up), its holdings known, and no
     recent failure to start the group.
   * `auto_failback off`: the current holder keeps the group while it is eligible
     and not degraded, unless someone claims it. `on` and `legacy`: the best
     ranked eligible node gets it, so it returns to its primary.
   * This node **starts** a group only when it is the desired holder, no live
     peer says it holds it, and no better-ranked peer is still starting up. It
     **releases** a group it holds when a better-ranked peer also holds it (a
     healed partition) or when the desired holder is someone else — and that
     someone starts only after our release is announced: no moment with two
     holders.

2. `GroupRun` — this node's state for one group and the step plan being run:
   start left to right; stop right to left; a failed start rolls back what it
   started (and the failed resource) right to left; a failed stop is retried
   (`STOP_RETRIES` times, `STOP_RETRY_DELAY` apart) and then left
   `STOP_FAILED`, which still counts as holding so no peer starts it.
   A plan is never cut mid-operation; when the wish changes during a start, the
   start is turned into a stop of what was started at the next step. Adjacent
   native identity resources (IP, MAC, hostname, default route) form one step,
   a *block*, which the shell applies as one move.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hbd.config.model import AutoFailback, ResourceGroup
from hbd.core.events import ResourceOpKind
from hbd.core.placement import candidates
from hbd.core.status import GroupState

IDENTITY = ("IPaddr", "IPaddr2", "MacAddr", "Hostname", "DefaultRoute")   # native, one move
STOP_RETRIES = 10
STOP_RETRY_DELAY = 1.0
START_FAILURE_HOLDOFF = 30.0


def covers(words: frozenset[str], node: str, group: ResourceGroup) -> bool:
    """Whether a relative set ({"local", "foreign"} as `node` says it) names `group`.

    `all` is always spelled as both words (see `cluster.parse_set`).
    """
    if group.primary == node:
        return "local" in words
    return "foreign" in words


@dataclass(frozen=True)
class NodeFacts:
    name: str
    eligible: bool                      # alive, active, holdings known
    pending: bool = False               # alive but not yet active
    holds: frozenset[str] = frozenset()
    standby: frozenset[str] = frozenset()
    claims: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()
    ping_degraded: bool = False
    ping_blind: bool = False            # ping nodes configured, none reachable (settled)
    holds_unknown: bool = False         # a heartbeat peer that has not said what it holds
    unable: frozenset[str] = frozenset()  # groups it cannot serve: a link they need is down


@dataclass(frozen=True)
class Decision:
    want: bool
    desired: str | None
    holder: str | None                  # best-ranked node holding it, if any


def ranking(group: ResourceGroup, nodes: tuple[str, ...], groups: tuple[ResourceGroup, ...],
            facts: dict[str, NodeFacts]) -> list[str]:
    base = [n for n in candidates(group, nodes, groups) if n in facts]

    def tier(name: str) -> int:
        f = facts[name]
        if covers(f.claims, name, group):
            return 0
        if covers(f.standby, name, group) or f.ping_degraded:
            return 2
        return 1

    return sorted(base, key=tier)  # sorted() is stable: candidate order within a tier


def _usable(f: NodeFacts, group: ResourceGroup) -> bool:
    """Whether `f`'s node may hold `group`. A node that reaches none of its ping
    nodes keeps what it holds and may start its own groups, but starts no other
    node's: it is most likely the one cut off (a pulled cable), and what it took
    would collide when it is back."""
    if f.ping_blind and group.primary != f.name and group.key not in f.holds:
        return False
    return f.eligible and group.key not in f.failed and group.key not in f.unable


def decide(group: ResourceGroup, me: str, nodes: tuple[str, ...],
           groups: tuple[ResourceGroup, ...], facts: dict[str, NodeFacts],
           auto_failback: AutoFailback) -> Decision:
    key = group.key
    order = ranking(group, nodes, groups, facts)
    usable = [n for n in order if _usable(facts[n], group)]
    holders = [n for n in order if key in facts[n].holds]
    holder = holders[0] if holders else None
    desired = usable[0] if usable else None
    if auto_failback is AutoFailback.OFF and desired is not None:
        f = facts[desired]
        if not covers(f.claims, desired, group):
            sticky = [n for n in holders if n in usable
                      and not covers(facts[n].standby, n, group) and not facts[n].ping_degraded]
            if sticky:
                desired = sticky[0]
    mine = facts[me]
    if key not in mine.holds and any(f.holds_unknown for n, f in facts.items() if n != me):
        return Decision(False, desired, holder)    # it may hold this group: ask first
    if key in mine.holds:
        better = [n for n in holders if n != me and order.index(n) < order.index(me)]
        want = (not better and (desired is None or desired == me)
                and key not in mine.unable)     # a link it needs is down: release at once
        return Decision(want, desired, holder)
    if desired != me or any(n != me for n in holders):
        return Decision(False, desired, holder)
    rank = order.index(me)
    waiting = any(facts[n].pending and order.index(n) < rank for n in order if n != me)
    return Decision(not waiting, desired, holder)


class StepOutcome(enum.Enum):
    """What finishing a plan step led to."""

    NEXT = "next"                    # more steps to run
    STARTED = "started"
    STOPPED = "stopped"
    START_FAILED = "start_failed"    # rollback begins
    RETRY = "retry"                  # a stop failed; retried later
    STOP_FAILED = "stop_failed"      # a stop kept failing: given up


@dataclass(frozen=True)
class Step:
    """One operation of a plan: one resource, or a block run as one move."""

    indices: tuple[int, ...]
    op: ResourceOpKind


@dataclass
class GroupRun:
    """This node's state for one group, with the plan being carried out."""

    group: ResourceGroup
    state: GroupState = GroupState.STOPPED
    plan: list[Step] = field(default_factory=list)
    step: int = 0
    op_id: int | None = None
    started: set[int] = field(default_factory=set)
    stop_attempts: int = 0
    retry_at: float | None = None
    failed_until: float | None = None
    rolling_back: bool = False

    @property
    def busy(self) -> bool:
        return self.op_id is not None or self.retry_at is not None

    def begin_start(self) -> None:
        self.state = GroupState.STARTING
        self.plan = [Step(block, ResourceOpKind.START) for block in self._blocks()]
        self.step = 0
        self.rolling_back = False

    def begin_stop(self, include: tuple[int, ...] = ()) -> None:
        """Stop every resource that may be running (and `include`), right to left."""
        indices = set(self.started) | set(include)
        if self.state in (GroupState.STARTED, GroupState.STOP_FAILED):
            indices = set(range(len(self.group.resources)))
        self.state = GroupState.STOPPING
        blocks = [tuple(i for i in block if i in indices) for block in self._blocks()]
        self.plan = [Step(b, ResourceOpKind.STOP) for b in reversed(blocks) if b]
        self.step = 0
        self.stop_attempts = 0

    def _blocks(self) -> list[tuple[int, ...]]:
        """The group's steps, left to right: each run of adjacent native identity
        resources is one block (the shell applies it as one move, in the order a
        client needs); every other resource is a step of its own."""
        out: list[tuple[int, ...]] = []
        for i, resource in enumerate(self.group.resources):
            if resource.name in IDENTITY and out and self.group.resources[out[-1][-1]].name \
                    in IDENTITY:
                out[-1] += (i,)
            else:
                out.append((i,))
        return out

    def current(self) -> Step | None:
        return self.plan[self.step] if self.step < len(self.plan) else None

    def finish_step(self, ok: bool, now: float) -> StepOutcome:
        """Record the outcome of the step in flight, and say what it led to."""
        step = self.plan[self.step]
        self.op_id = None
        if step.op is ResourceOpKind.START:
            if not ok:
                self.failed_until = now + START_FAILURE_HOLDOFF
                self.rolling_back = True
                self.begin_stop(include=step.indices)
                return StepOutcome.START_FAILED
            self.started.update(step.indices)
        else:
            if not ok:
                self.stop_attempts += 1
                if self.stop_attempts >= STOP_RETRIES:
                    self.state = GroupState.STOP_FAILED
                    self.plan = []
                    return StepOutcome.STOP_FAILED
                self.retry_at = now + STOP_RETRY_DELAY
                return StepOutcome.RETRY
            self.started.difference_update(step.indices)
            self.stop_attempts = 0
        self.step += 1
        if self.step < len(self.plan):
            return StepOutcome.NEXT
        if self.state is GroupState.STARTING:
            self.state = GroupState.STARTED
            return StepOutcome.STARTED
        self.state = GroupState.STOPPED
        self.started.clear()
        return StepOutcome.STOPPED

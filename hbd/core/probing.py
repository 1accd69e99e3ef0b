"""What a takeover waits for, per group, and the ARP probe step (pure).

A group this node should start may have to wait: for quorum, for its last
holder to be fenced, for a heartbeat peer's answer (`handshake.py`), or for
its addresses to fall silent on the service LAN. `Gate` keeps that state and
what `hbctl status` shows (`waiting`); each kind of wait is logged once per
episode.

The probe (issue 9): while a node that went silent (declared dead by deadtime
or initdead) may still have the group's addresses up, this node asks the
service LAN (a `Probe` action: RFC 5227 ARP probes, answered by whichever
kernel holds an address) and starts only on a probe nobody answered; it asks
again every `probe_interval` while they answer. A deeper backup (a better
candidate it cannot hear, other than the last holder, may be taking the group
at this moment) asks one interval later for each such candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hbd.config.model import ClusterConfig, ResourceGroup
from hbd.core import groups as grp
from hbd.core.actions import Action, Notice, NoticeKind, Probe
from hbd.core.events import ProbeFinished
from hbd.core.membership import Membership
from hbd.core.placement import candidates
from hbd.core.policy import Policy


@dataclass
class Gate:
    """Why a group this node should take over is not started yet."""

    probe_op: int | None = None          # a probe in flight
    probe_at: float | None = None        # next probe not before
    cleared: bool = False                # the last probe found nobody answering
    wanted_since: float | None = None
    note: str = ""                       # what hbctl shows while it waits
    noted: set[str] = field(default_factory=set)   # notices already given this episode

    def reset(self) -> None:
        self.probe_at = self.wanted_since = None
        self.cleared = False
        self.note = ""
        self.noted.clear()

    def wait(self, key: str, tag: str, note: str,
             kind: NoticeKind = NoticeKind.WARNING) -> list[Action]:
        """Keep `note` for hbctl; log it once per episode and kind of wait."""
        self.note = note
        if tag in self.noted:
            return []
        self.noted.add(tag)
        return [Notice(kind, key, f"group {key}: waiting: {note}", (("waiting", tag),))]


class Prober:
    def __init__(self, config: ClusterConfig, members: Membership, policy: Policy,
                 gates: dict[str, Gate], last_holder: dict[str, str],
                 new_op_id: Callable[[], int]) -> None:
        self.config = config
        self.me = config.node_name
        self.members = members
        self.policy = policy
        self.gates = gates
        self.last_holder = last_holder
        self.new_op_id = new_op_id
        self.ops: dict[int, str] = {}      # probe op id -> group

    def interval(self) -> float:
        return self.policy.probe_interval or self.config.keepalive

    def needed(self, group: ResourceGroup) -> bool:
        """A node that went silent may still have the group's addresses up."""
        return (self.policy.arp_probe and bool(grp.ip_resources(group))
                and any(p.silent for p in self.members.peers.values()))

    def step(self, group: ResourceGroup, gate: Gate, now: float) -> tuple[bool, list[Action]]:
        """(blocked, actions) of the probe step for a group this node would start."""
        if not self.needed(group) or gate.cleared:
            return False, []
        if gate.probe_op is not None:
            return True, []
        at = max(self._earliest(group, gate), gate.probe_at or now)
        if now < at:
            gate.probe_at = at                 # the timer comes back for it
            return True, []
        op_id = self.new_op_id()
        gate.probe_op = op_id
        self.ops[op_id] = group.key
        return True, [Probe(op_id, group.key, grp.ip_resources(group))]

    def _earliest(self, group: ResourceGroup, gate: Gate) -> float:
        order = candidates(group, self.config.nodes, self.config.groups)
        last = self.last_holder.get(group.key)
        ahead = order[:order.index(self.me)] if self.me in order else order
        silent = sum(1 for n in ahead if n != last and n in self.members.peers
                     and not self.members.peers[n].alive)
        return (gate.wanted_since or 0.0) + silent * self.interval()

    def finished(self, event: ProbeFinished, now: float) -> list[Action]:
        key = self.ops.pop(event.op_id, None)
        if key is None:
            return [Notice(NoticeKind.WARNING, self.me,
                           f"result of unknown probe {event.op_id} ignored")]
        gate = self.gates[key]
        gate.probe_op = None
        if not event.answered:
            gate.cleared = True
            return []
        gate.cleared = False
        gate.probe_at = now + self.interval()
        silent = [p.name for p in self.members.peers.values() if p.silent]
        return gate.wait(key, "probe", (
            f"its address still answers on the service LAN ({event.detail or 'answered'}); "
            f"{', '.join(silent) or 'a silent node'} may still hold it (hung, or cut off from "
            "the heartbeat LAN): not taking it over while it answers"))

"""STONITH before takeover: which dead nodes must be fenced first (pure).

With a `stonith` or `stonith_host` line in ha.cf, a node that stopped talking
(declared dead after deadtime, not one that said `shutdone`) may still be
running and holding its groups: a hung machine, a frozen process, or a node
cut off from the heartbeat LAN. A node about to start a group that such a node
held last fences it first (power-cycles it through the STONITH device) and
starts only once the device reported success; a failed fence is retried every
`FENCE_RETRY` seconds and the group stays down meanwhile (heartbeat does the
same). Only a node that would take something over fences, so survivors do not
all reset the same machine. A node heard again before its fence was started
needs none.

Who may fence is decided when the death is seen (`ownership.fence_when`): a
node that is itself the one cut off — every heartbeat link lost carrier, no
ping node reachable, or (three nodes or more) no majority of the nodes heard
when the death came — records the death as one it may never fence for. Peers
of a node cut off die one by one as their dead times pass; by the time this
node hears them again (the heal), they return one by one too, and a fence
decided half-way through either would shoot a healthy node.

Without a STONITH device nothing here applies: takeover follows deadtime
(and the ARP probe, `ownership.py`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

FENCE_RETRY = 5.0


class FenceState(enum.Enum):
    NEEDED = "needed"        # must be fenced before its groups move
    FENCING = "fencing"      # a fence is under way
    RETRY = "retry"          # the last fence failed; retry at `retry_at`


@dataclass
class Pending:
    state: FenceState
    retry_at: float = 0.0
    forbidden: str = ""      # why this node may never fence it for this death ("" = may)


class Fencing:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.pending: dict[str, Pending] = {}
        self.ops: dict[int, str] = {}                     # op_id -> node

    def node_died(self, node: str, *, silent: bool, forbidden: str = "") -> None:
        """`node` was declared dead; `silent`: by deadtime (it may still be running);
        `forbidden`: why this node may not fence it (it saw the death from the side
        that was cut off)."""
        if self.enabled and silent and node not in self.pending:
            self.pending[node] = Pending(FenceState.NEEDED, forbidden=forbidden)

    def node_back(self, node: str) -> None:
        """Heard again: no fence needed, unless one is already running."""
        entry = self.pending.get(node)
        if entry is not None and entry.state is not FenceState.FENCING:
            del self.pending[node]

    def waiting(self) -> list[str]:
        """Nodes that must be fenced, may be, and have no fence under way."""
        return [n for n, e in self.pending.items()
                if e.state is not FenceState.FENCING and not e.forbidden]

    def blocks(self, node: str | None) -> bool:
        """Whether a group last held by `node` must wait (it is not fenced yet)."""
        return node is not None and node in self.pending

    def forbidden(self, node: str) -> str:
        entry = self.pending.get(node)
        return entry.forbidden if entry is not None else ""

    def request(self, node: str, now: float) -> bool:
        """True when a fence of `node` should be started now (it is then in flight)."""
        entry = self.pending.get(node)
        if entry is None or entry.forbidden:
            return False
        if entry.state is FenceState.NEEDED or (entry.state is FenceState.RETRY
                                                and now >= entry.retry_at):
            entry.state = FenceState.FENCING
            return True
        return False

    def started(self, op_id: int, node: str) -> None:
        self.ops[op_id] = node

    def finished(self, op_id: int, ok: bool, now: float) -> str | None:
        node = self.ops.pop(op_id, None)
        if node is None:
            return None
        if ok:
            self.pending.pop(node, None)
        else:
            self.pending[node] = Pending(FenceState.RETRY, now + FENCE_RETRY)
        return node

    def next_deadline(self) -> float | None:
        return min((e.retry_at for e in self.pending.values()
                    if e.state is FenceState.RETRY), default=None)

"""STONITH before takeover: which dead nodes must be fenced first (pure).

With a `stonith` or `stonith_host` line in ha.cf, a node that stopped talking
(declared dead after deadtime, not one that said `shutdone`) may still be
running and holding its groups: a hung machine, a frozen process. A node about
to start a group that such a node held last fences it first (power-cycles it
through the STONITH device) and starts only once the device reported success;
a failed fence is retried every `FENCE_RETRY` seconds and the group stays down
meanwhile (heartbeat does the same). Only a node that would take something
over fences, so survivors do not all reset the same machine. A node heard
again before its fence was started needs none.

Without a STONITH device nothing here applies: takeover follows deadtime.
"""

from __future__ import annotations

import enum

FENCE_RETRY = 5.0


class FenceState(enum.Enum):
    NEEDED = "needed"        # must be fenced before its groups move
    FENCING = "fencing"      # a fence is under way
    RETRY = "retry"          # the last fence failed; retry at the time kept with it


NEEDED, FENCING, RETRY = FenceState.NEEDED, FenceState.FENCING, FenceState.RETRY


class Fencing:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.pending: dict[str, tuple[FenceState, float]] = {}   # node -> (state, retry at)
        self.ops: dict[int, str] = {}                     # op_id -> node

    def node_died(self, node: str, *, silent: bool) -> None:
        """`node` was declared dead; `silent`: by deadtime (it may still be running)."""
        if self.enabled and silent and node not in self.pending:
            self.pending[node] = (NEEDED, 0.0)

    def node_back(self, node: str) -> None:
        """Heard again: no fence needed, unless one is already running."""
        if node in self.pending and self.pending[node][0] != FENCING:
            del self.pending[node]

    def blocks(self, node: str | None) -> bool:
        """Whether a group last held by `node` must wait (it is not fenced yet)."""
        return node is not None and node in self.pending

    def request(self, node: str, now: float) -> bool:
        """True when a fence of `node` should be started now (it is then in flight)."""
        state, at = self.pending.get(node, (FENCING, 0.0))
        if state == NEEDED or (state == RETRY and now >= at):
            self.pending[node] = (FENCING, 0.0)
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
            self.pending[node] = (RETRY, now + FENCE_RETRY)
        return node

    def next_deadline(self) -> float | None:
        return min((at for state, at in self.pending.values() if state == RETRY), default=None)

"""Who may fence whom, and when (pure): the side that may take over, never both.

Rules (issue 9; see also `fencing.py` for the pending fences themselves):

* A node that is the one cut off fences nobody: every heartbeat link of it lost
  carrier, or it reaches none of its ping nodes.
* With three nodes or more, only a node that hears a majority of the nodes
  (heard in the last two keepalives: a node cut off sees its peers die one by
  one) may fence; exactly half counts when it includes ha.cf's first node.
  `quorate()` is also what `quorum on` (hbd.cf) gates takeovers with.
* Two nodes: both may decide to fence each other at the same moment. The fence
  aimed at the node that ranks higher (holds more groups; on a tie, comes first
  in ha.cf) waits `Policy.fence_delay` after that node's death, so the other
  one is shot first and the two never shoot each other.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from hbd.config.model import ClusterConfig
from hbd.core.membership import Membership
from hbd.core.policy import Policy


class FenceWhen(enum.Enum):
    NOW = "now"
    LATER = "later"          # after the two-node fence delay
    NEVER = "never"          # this node may not fence (cut off, or no majority)


class FencePolicy:
    def __init__(self, config: ClusterConfig, members: Membership, policy: Policy,
                 held_here: Callable[[], int]) -> None:
        self.config = config
        self.me = config.node_name
        self.members = members
        self.policy = policy
        self.held_here = held_here          # how many groups this node holds

    def quorate(self, now: float) -> bool:
        """More than half of the nodes heard lately (exactly half with ha.cf's first)."""
        n, alive = len(self.config.nodes), self.members.alive_count(now)
        if n < 3 or 2 * alive > n:
            return True
        first = self.config.nodes[0]
        return 2 * alive == n and (first == self.me or (
            first in self.members.peers and self.members.peers[first].alive))

    def minority_note(self, now: float) -> str:
        return (f"this node hears {self.members.alive_count(now)} of "
                f"{len(self.config.nodes)} nodes (no majority)")

    def priority(self, node: str) -> tuple[int, int]:
        """Who wins a two-node fencing race: more groups held, then ha.cf order."""
        if node == self.me:
            held = self.held_here()
        else:
            peer = self.members.peers.get(node)
            held = len(peer.holds_at_death or ()) if peer is not None else 0
        nodes = self.config.nodes
        return held, -(nodes.index(node) if node in nodes else len(nodes))

    def when(self, target: str, now: float) -> tuple[FenceWhen, str]:
        """Whether this node may fence `target` now, later or never, and why."""
        members = self.members
        if members.media_down():
            return FenceWhen.NEVER, ("every heartbeat link of this node lost carrier: it is "
                                     "the one cut off")
        if members.pings and members.ping_count() == 0:
            return FenceWhen.NEVER, ("this node reaches none of its ping nodes: it is most "
                                     "likely the one cut off")
        if len(self.config.nodes) >= 3:
            if self.quorate(now):
                return FenceWhen.NOW, ""
            return FenceWhen.NEVER, self.minority_note(now) + ": the majority side fences"
        if self.priority(target) > self.priority(self.me):
            return FenceWhen.LATER, (f"{target} ranks higher: in a two-node race it fences "
                                     "first")
        return FenceWhen.NOW, ""

    def due(self, target: str) -> float:
        """When a delayed (two-node) fence of `target` may go."""
        peer = self.members.peers.get(target)
        died = peer.died_at if peer is not None and peer.died_at is not None else 0.0
        return died + self.policy.fence_delay

    def delays(self, waiting: list[str]) -> list[float]:
        now = self.members.last_now
        return [self.due(node) for node in waiting if self.when(node, now)[0] is FenceWhen.LATER]

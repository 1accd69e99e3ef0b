"""Read-only snapshots of a core's state, for hbctl, logs and tests.

Tests read the core only through these (never private fields). Values use
heartbeat's words: node status `init`/`up`/`active`/`dead`/`ping`, link status
`up`/`dead`, and `cl_status rscstatus`'s `none`/`local`/`foreign`/`all`/
`transition` for what this node holds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class NodeStatus(enum.Enum):
    INIT = "init"
    UP = "up"
    ACTIVE = "active"
    DEAD = "dead"
    PING = "ping"


class LinkStatus(enum.Enum):
    UP = "up"
    DEAD = "dead"


class GroupState(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    STARTED = "started"
    STOPPING = "stopping"
    STOP_FAILED = "stop_failed"   # a stop kept failing: still held, needs an operator

    @property
    def holding(self) -> bool:
        """Whether a node in this state must be treated as holding the group."""
        return self is not GroupState.STOPPED


@dataclass(frozen=True)
class NodeView:
    name: str
    type: str                      # "normal" or "ping"
    status: NodeStatus
    links: tuple[tuple[str, LinkStatus], ...] = ()
    generation: int | None = None
    holds: tuple[str, ...] = ()    # group keys this node says it holds
    standby: str = "none"
    pings: int | None = None       # ping nodes it reaches (hbd peers only)
    is_hbd: bool = False           # speaks hbd's status extensions


@dataclass(frozen=True)
class GroupView:
    key: str
    primary: str
    state: GroupState              # this node's state for the group
    holder: str | None             # who holds it, as this node sees it
    desired: str | None            # who should hold it, as this node sees it
    backups: tuple[str, ...] = ()
    waiting: str = ""              # why this node, the desired holder, has not started it


@dataclass(frozen=True)
class ClusterStatus:
    node: str
    status: NodeStatus
    generation: int
    comm_up: bool
    shutting_down: bool
    standby: str
    rscstatus: str                 # none/local/foreign/all/transition
    nodes: tuple[NodeView, ...]
    groups: tuple[GroupView, ...]
    counters: tuple[tuple[str, int], ...] = ()

    def node_view(self, name: str) -> NodeView | None:
        for view in self.nodes:
            if view.name == name:
                return view
        return None

    def group_view(self, key: str) -> GroupView | None:
        for view in self.groups:
            if view.key == key:
                return view
        return None

    def held(self) -> tuple[str, ...]:
        return tuple(g.key for g in self.groups if g.state.holding)

    def counter(self, name: str) -> int:
        return dict(self.counters).get(name, 0)

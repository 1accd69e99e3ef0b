"""The records of membership: peers, links, ping targets, and the words for what
happens to them (verdicts, arrivals, changes, causes of death).

`membership.Membership` owns every instance and is the only writer; the rest
of the core reads them (ownership's facts, hbctl's views).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hbd.core.status import LinkStatus, NodeStatus


class Verdict(enum.Enum):
    ACCEPT = "accept"
    DUPLICATE = "duplicate"
    REPLAY = "replay"          # lower generation
    OLD = "old"                # old sequence number, not a recorded gap
    MALFORMED = "malformed"
    STALE = "stale"            # would revive a dead peer, but stamped long before its last



class Arrival(enum.Enum):
    """What an accepted message says about its sender's incarnation."""

    ROUTINE = ""
    RESTART = "restart"        # a higher generation: the peer restarted
    RETURNED = "returned"      # same generation after it was declared dead


class ChangeKind(enum.StrEnum):
    NODE = "node"              # node status changed
    LINK = "link"              # a node x medium link went up or dead
    LATE = "late"              # a late heartbeat (a warning, no state change)


class DeathCause(enum.StrEnum):
    DEADTIME = "deadtime"      # silent for its dead time
    INITDEAD = "initdead"      # never heard since start
    SHUTDOWN = "shutdown"      # said `shutdone`
    DEADPING = "deadping"      # a ping node that stopped answering
    FENCED = "fenced"          # reset by STONITH: off, holding nothing


@dataclass
class Gap:
    """A missing sequence number: when to ask for it next, and how often asked."""

    ask_at: float
    tries: int = 0


@dataclass
class Link:
    last_heard_at: float | None = None
    last_status_at: float | None = None
    status: LinkStatus = LinkStatus.DEAD


@dataclass
class Peer:
    """Everything this node knows about one other normal node."""

    name: str
    dead_at: float
    status: NodeStatus = NodeStatus.INIT
    heard: bool = False
    heard_at: float | None = None        # first status from this incarnation
    dt: float = 0.0
    uuid: bytes | None = None
    generation: int | None = None
    last_seq: int | None = None
    missing: dict[int, Gap] = field(default_factory=dict)
    last_status_at: float | None = None
    last_status_seq: int | None = None
    ack_trigger: int = 0
    links: dict[str, Link] = field(default_factory=dict)
    left_generation: int | None = None   # sent shutdone in this generation
    ts_lead: float | None = None         # its clock (ts) minus ours, at its freshest status
    # hbd's status extensions (None: unknown / not an hbd peer)
    holds: tuple[str, ...] | None = None
    standby: frozenset[str] = frozenset()
    claims: frozenset[str] = frozenset()
    failed: tuple[str, ...] = ()
    unable: tuple[str, ...] = ()          # groups it cannot serve (a needed link is down)
    pings: int | None = None
    plost: int | None = None              # its own ping nodes it lost (hbd_plost)
    is_hbd: bool = False
    # a heartbeat peer's holdings are unknown until its `resource` message; wait
    # for it at most until this instant, then take them as "none"
    holds_wait_until: float | None = None
    # why it is dead, and what it held when it went silent (None: unknown), so a
    # taker knows whether its groups' addresses may still be up somewhere
    dead_cause: DeathCause | None = None
    died_at: float | None = None
    holds_at_death: frozenset[str] | None = None

    @property
    def silent(self) -> bool:
        """Dead without saying so (deadtime, initdead): it may be alive behind a
        partition, and may have taken any group since (what it held when it went
        silent is no guide: it is the node that takes over from us)."""
        return self.dead_cause in (DeathCause.DEADTIME, DeathCause.INITDEAD)

    @property
    def alive(self) -> bool:
        return self.heard and self.status is not NodeStatus.DEAD

    @property
    def active(self) -> bool:
        return self.status is NodeStatus.ACTIVE

    def forget_incarnation(self) -> None:
        self.ts_lead = None
        self.last_seq = None
        self.missing.clear()
        self.last_status_seq = None
        self.holds = None
        self.holds_wait_until = None
        self.standby = frozenset()
        self.claims = frozenset()
        self.failed = ()
        self.unable = ()
        self.pings = None
        self.plost = None


@dataclass
class PingTarget:
    name: str
    addresses: tuple[str, ...]
    dead_at: float
    status: NodeStatus = NodeStatus.INIT
    replied_at: float | None = None


@dataclass(frozen=True)
class Change:
    """A status change for cluster.py to announce: node or link."""

    kind: ChangeKind
    node: str
    old: str
    new: str
    detail: str = ""
    medium: str = ""

"""Outputs of the core: commands in the imperative, notices in the past tense.

The set is deliberately small so that the runtime's and the simulation's
dispatchers stay short and exhaustive:

- `Send`: put a message on every medium (the shell adds auth and encodes).
- `RunResourceOp`: start/stop/status one resource of a group; the result comes
  back as `ResourceOpFinished(op_id=...)`.
- `Fence`: STONITH a node that died holding groups, before they are taken over.
- `Probe`: ask the service LAN whether a group's addresses still answer (RFC 5227
  ARP probe) before taking it over; the result comes back as `ProbeFinished`.
- `FenceSelf`: this node must go (a stop that kept failing): STONITH itself or
  reboot, so that its groups can move.
- `SaveGeneration`: persist the generation *before* any message carrying it.
- `SavePeerGenerations`: persist the peers' generations when one rises.
- `Reannounce`: re-advertise a held group's addresses (gratuitous ARP).
- `Notice`: something changed (node, link, group, a warning); the shell logs it,
  the simulation traces it.
- `ShutdownComplete`: everything is released and peers were told; exit now.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hbd.config.model import Resource
from hbd.core.events import ResourceOpKind
from hbd.wire.message import Message


@dataclass(frozen=True)
class Send:
    message: Message


@dataclass(frozen=True)
class RunResourceOp:
    """Start, stop or check one step of a group's plan.

    A step is one resource, or a *block* of the group's native network-identity
    resources (IP, MAC, hostname, default route) that the shell applies as one
    move, in the order a client needs (see `hbd/resources/identity.py`).
    `indices` are the resources' positions within the group, in plan order.
    """

    op_id: int
    group: str
    resources: tuple[Resource, ...]
    op: ResourceOpKind
    indices: tuple[int, ...]

    @property
    def resource(self) -> Resource:
        """The step's first resource (the only one unless it is a block)."""
        return self.resources[0]

    @property
    def index(self) -> int:
        return self.indices[0]


@dataclass(frozen=True)
class Fence:
    """Power-cycle `node` with the configured STONITH device (ha.cf `stonith` /
    `stonith_host`); the result comes back as `FenceFinished(op_id=...)`."""

    op_id: int
    node: str


@dataclass(frozen=True)
class Probe:
    """Probe the service LAN for `resources` (a group's IP resources)."""

    op_id: int
    group: str
    resources: tuple[Resource, ...]


class SelfFenceMethod(enum.Enum):
    STONITH = "stonith"      # through the configured STONITH device, as any node would
    REBOOT = "reboot"        # the kernel's immediate reboot (sysrq), after the watchdog path


@dataclass(frozen=True)
class FenceSelf:
    method: SelfFenceMethod
    reason: str


@dataclass(frozen=True)
class SaveGeneration:
    generation: int


@dataclass(frozen=True)
class SavePeerGenerations:
    """Persist the peers' generations (a replay of an older one is refused even
    after this node restarts)."""

    generations: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Reannounce:
    group: str


class NoticeKind(enum.StrEnum):
    NODE = "node"            # a node's status changed (or it was fenced)
    LINK = "link"            # a node x medium link went up or dead
    GROUP = "group"          # this node's state for a group changed
    HOLDER = "holder"        # who holds a group changed, as seen here
    WARNING = "warning"
    ERROR = "error"
    INFO = "info"


@dataclass(frozen=True)
class Notice:
    """A state change or a warning, in heartbeat's words.

    `subject` is the node, link or group concerned; `data` carries structured
    fields for logs and tests (`status`, `reason`, `group`, ...).
    """

    kind: NoticeKind
    subject: str
    message: str
    data: tuple[tuple[str, str], ...] = field(default=())

    def get(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.data:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class ShutdownComplete:
    pass


Action = (Send | RunResourceOp | Fence | Probe | FenceSelf | SaveGeneration
          | SavePeerGenerations | Reannounce | Notice | ShutdownComplete)

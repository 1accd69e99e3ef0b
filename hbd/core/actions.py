"""Outputs of the core: commands in the imperative, notices in the past tense.

The set is deliberately small so that the runtime's and the simulation's
dispatchers stay short and exhaustive:

- `Send`: put a message on every medium (the shell adds auth and encodes).
- `RunResourceOp`: start/stop/status one resource of a group; the result comes
  back as `ResourceOpFinished(op_id=...)`.
- `Fence`: STONITH a node that died holding groups, before they are taken over.
- `SaveGeneration`: persist the generation *before* any message carrying it.
- `Reannounce`: re-advertise a held group's addresses (gratuitous ARP).
- `Notice`: something changed (node, link, group, a warning); the shell logs it,
  the simulation traces it.
- `ShutdownComplete`: everything is released and peers were told; exit now.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hbd.config.model import Resource
from hbd.core.events import ResourceOpKind
from hbd.wire.message import Message


@dataclass(frozen=True)
class Send:
    message: Message


@dataclass(frozen=True)
class RunResourceOp:
    op_id: int
    group: str
    resource: Resource
    op: ResourceOpKind
    index: int  # position of the resource within its group


@dataclass(frozen=True)
class Fence:
    """Power-cycle `node` with the configured STONITH device (ha.cf `stonith` /
    `stonith_host`); the result comes back as `FenceFinished(op_id=...)`."""

    op_id: int
    node: str


@dataclass(frozen=True)
class SaveGeneration:
    generation: int


@dataclass(frozen=True)
class Reannounce:
    group: str


@dataclass(frozen=True)
class Notice:
    """A state change or a warning, in heartbeat's words.

    `kind` is one of: "node" (node status changed), "link", "group" (group state
    changed here), "holder" (who holds a group changed, as seen here),
    "warning", "error", "info". `subject` is the node, link or group concerned.
    """

    kind: str
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


Action = (Send | RunResourceOp | Fence | SaveGeneration | Reannounce | Notice
          | ShutdownComplete)

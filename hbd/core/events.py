"""Inputs to the core: facts, in the past tense.

The shell (or the simulation) stamps each with `now` when it calls
`Cluster.handle(event, now=...)`. Every event is a frozen dataclass; none
carries a timestamp of its own.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hbd.wire.message import Message


@dataclass(frozen=True)
class Started:
    """The daemon is up and its media are bound: begin (send init/up)."""


@dataclass(frozen=True)
class PacketReceived:
    """An authenticated heartbeat message arrived on medium `medium`.

    Decoding and authentication happen in the shell (wire codec); the core only
    sees messages that verified.
    """

    message: Message
    medium: str


@dataclass(frozen=True)
class TimerFired:
    """The deadline the core asked for (`next_deadline()`) has passed."""


class ResourceOpKind(enum.Enum):
    START = "start"
    STOP = "stop"
    STATUS = "status"


@dataclass(frozen=True)
class ResourceOpFinished:
    """A `RunResourceOp` completed. `op_id` echoes the action's id."""

    op_id: int
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class FenceFinished:
    """A `Fence` completed: `ok` when the device reported the node reset."""

    op_id: int
    node: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class ProbeFinished:
    """A `Probe` completed: `answered` when some host on the service LAN still
    answers for one of the group's addresses (`detail` names it and its MAC)."""

    op_id: int
    answered: bool
    detail: str = ""


@dataclass(frozen=True)
class CarrierChanged:
    """An interface gained or lost carrier (link), as the kernel reports it.

    The shell reports every interface the configuration names (heartbeat
    media, the groups' interfaces) once at start and then on each change.
    """

    iface: str
    up: bool


@dataclass(frozen=True)
class PingReplied:
    """An ICMP echo reply came back from a ping address."""

    address: str


class AdminVerb(enum.Enum):
    STANDBY = "standby"
    TAKEOVER = "takeover"


class GroupSet(enum.Enum):
    """Which groups an operator request is about, relative to this node."""

    ALL = "all"
    LOCAL = "local"      # groups whose primary is this node
    FOREIGN = "foreign"  # every other group

    @classmethod
    def parse(cls, word: str) -> GroupSet:
        word = word.lower()
        if word == "failback":  # hb_standby's alias
            return cls.FOREIGN
        return cls(word)


@dataclass(frozen=True)
class AdminRequested:
    """`hbctl standby|takeover [all|local|foreign]`."""

    verb: AdminVerb
    which: GroupSet = GroupSet.ALL


@dataclass(frozen=True)
class ShutdownRequested:
    """SIGTERM: release everything in reverse order, tell peers, then stop."""


@dataclass(frozen=True)
class LoadSampled:
    """The shell read /proc/loadavg (goes into the `ld` header field)."""

    loadavg: str


Event = (Started | PacketReceived | TimerFired | ResourceOpFinished | FenceFinished
         | ProbeFinished | CarrierChanged | PingReplied | AdminRequested | ShutdownRequested
         | LoadSampled)

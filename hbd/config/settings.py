"""hbd's own settings: the typed content of /etc/ha.d/hbd.cf (docs/hbd.cf.md).

hbd.cf sits next to ha.cf but heartbeat never reads it, so ha.cf stays a file
heartbeat 3.0.6 accepts (a node can go back to heartbeat at any time). Every
setting has a default, and a directory without hbd.cf gets `HbdSettings()`.
The parser is `hbdcf.py`; this module only holds the shapes. Durations are
float seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class StopFailure(enum.Enum):
    """What a node does when a resource will not stop (its retries are spent)."""

    AUTO = "auto"       # FENCE when STONITH is configured, else REBOOT (heartbeat's way)
    REBOOT = "reboot"   # reboot this node (watchdog / sysrq path) so the group can move
    FENCE = "fence"     # have this node powered off through its STONITH device
    HOLD = "hold"       # keep running; the group stays stopped-failed, and status says so


class LogFormat(enum.Enum):
    TEXT = "text"       # one human-readable line per event (heartbeat-like)
    JSON = "json"       # one JSON object per line, with node, group, event and reason


@dataclass(frozen=True)
class TcpEndpoint:
    """`metrics HOST:PORT`: an HTTP listener (HOST is an address or a name)."""

    host: str
    port: int


@dataclass(frozen=True)
class UnixEndpoint:
    """`metrics unix:PATH`: an HTTP listener on a unix socket."""

    path: str


MetricsEndpoint = TcpEndpoint | UnixEndpoint


@dataclass(frozen=True)
class Notify:
    """One `notify PROGRAM [ARGS...]` line: a hook run on cluster events.

    The daemon runs `argv` (no shell) for each event, serialised per node in
    event order, with the event as JSON on stdin, killed after
    `HbdSettings.notify_timeout`; a hook never delays the core.
    """

    argv: tuple[str, ...]
    line: int | None = None


@dataclass(frozen=True)
class HbdSettings:
    """hbd.cf, with hbd's defaults. See docs/hbd.cf.md for each setting."""

    # With 3 or more nodes, a partition that cannot see a strict majority of
    # the nodes declared in ha.cf takes no group over (groups it holds stay).
    quorum: bool = False
    # Before bringing up a group's IP addresses after a peer was declared dead,
    # probe them on the service LAN (RFC 5227 ARP probe) and do not start a
    # group whose address still answers.
    arp_probe: bool = True
    arp_probe_wait: float = 0.005          # how long to wait for a probe's answer
    on_stop_failure: StopFailure = StopFailure.AUTO
    # Base delay a node that does not hold the group waits before fencing its
    # peer in a two-node race; None: the core derives it from the timings.
    fence_delay: float | None = None
    notify: tuple[Notify, ...] = ()
    notify_timeout: float = 10.0
    metrics: MetricsEndpoint | None = None  # None: no metrics endpoint
    logformat: LogFormat = LogFormat.TEXT
    source: str | None = None               # the hbd.cf that was read; None: no file
    lines: tuple[tuple[str, int], ...] = ()  # directive -> line of its first occurrence

    def line_of(self, directive: str) -> int | None:
        return next((line for name, line in self.lines if name == directive), None)

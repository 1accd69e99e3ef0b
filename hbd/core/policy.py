"""hbd's own ownership policy: what heartbeat's files cannot say.

The values come from `/etc/ha.d/hbd.cf` (see docs/hbd.cf.md); the core takes
them as one frozen record so it never needs to know where they came from, and
the simulation can set them per test.

* `arp_probe`: before a node brings up a group's addresses while a node that
  went silent (declared dead by deadtime or initdead) may still hold them, it
  asks the service LAN (an RFC 5227 ARP probe). A group whose address answers
  is not started; the probe is repeated every `probe_interval` while it does.
  A graceful handover (the holder announced its release) needs no probe.
* `quorum`: with three or more nodes, a node that sees no majority (itself and
  the peers it hears: more than half of the nodes; exactly half counts when it
  includes the first `node` of ha.cf) takes nothing over and fences nobody.
* `fence_delay`: in a two-node cluster both nodes may decide to fence each
  other at once. The fence aimed at the node that ranks higher (holds more
  groups; on a tie, comes first in ha.cf) waits this long, so the other one
  is shot first and the two never shoot each other.
* `on_stop_failure`: what to do when a group's stop kept failing: `auto` (fence
  this node through STONITH when configured, else reboot it, as heartbeat
  does), `reboot`, `fence`, or `hold` (keep the group marked held and say so).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hbd.config.settings import HbdSettings


class StopFailure(enum.Enum):
    AUTO = "auto"
    REBOOT = "reboot"
    FENCE = "fence"
    HOLD = "hold"


@dataclass(frozen=True)
class Policy:
    arp_probe: bool = True
    probe_interval: float | None = None     # None: one keepalive
    quorum: bool = False
    fence_delay: float = 10.0
    on_stop_failure: StopFailure = StopFailure.AUTO

    @classmethod
    def from_settings(cls, settings: HbdSettings) -> Policy:
        """From hbd.cf (`ClusterConfig.hbd`)."""
        return cls(arp_probe=settings.arp_probe, quorum=settings.quorum,
                   fence_delay=(settings.fence_delay if settings.fence_delay is not None
                                else cls.fence_delay),
                   on_stop_failure=StopFailure(settings.on_stop_failure.value))

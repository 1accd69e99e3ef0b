"""The three HA systems the benchmark runs on the same lab, behind one interface.

| system | configuration | identity switch |
|---|---|---|
| hbd | shipped `conf/node*/` (native IPaddr, MacAddr, Hostname, DefaultRoute) | hbd itself |
| heartbeat 3.0.6 | the same ha.cf and authkeys; haresources `node0 Remac1`, `node2 Remac2` as in the source document | each node's `resource.d/Remac1`/`Remac2` (`identity.py`, as conf/ ships them) |
| keepalived 2.2.7 | VRRPv3 on eth2, advert chosen so that a backup takes over after `deadtime` | notify script (`identity.py` too) |

Each adapter implements `scenario.System` (start / graceful stop / running /
freeze / thaw) and adds `install(timings, ping=...)` and `pids(node)` for CPU
and memory figures. `ping=False` drops the ping node from ha.cf (keepalived
has none either way).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hbd_lab import identity
from hbd_lab.cluster import Lab, render_authkeys, render_hacf, scenario_template
from hbd_lab.scenario import HbdSystem
from hbd_lab.heartbeat import HeartbeatDaemon
from hbd_lab.keepalived import KeepalivedDaemon, advert_for_deadtime
from hbd_lab.session import Timings, install as install_hbd

KEY = "hbd-lab-demo-key"


@dataclass
class HbdAdapter(HbdSystem):
    def install(self, timings: Timings, *, ping: bool = True) -> None:
        for node in self.lab.nodes.values():
            install_hbd(node, timings, [], ping=ping)


@dataclass
class _DaemonAdapter:
    """start / stop / running / pids delegated to one daemon object per node."""

    lab: Lab
    daemons: dict = field(default_factory=dict)

    def start(self, node: str) -> None:
        self.daemons[node].start()

    def stop(self, node: str) -> None:
        self.daemons[node].stop()

    def running(self, node: str) -> bool:
        return self.daemons[node].running()

    def freeze(self, node: str) -> None:
        self.daemons[node].freeze()

    def thaw(self, node: str) -> None:
        self.daemons[node].thaw()

    def pids(self, node: str) -> list[int]:
        return self.daemons[node].pids()


@dataclass
class HeartbeatAdapter(_DaemonAdapter):
    name: str = "heartbeat"

    def install(self, timings: Timings, *, ping: bool = True) -> None:
        directives = timings.directives()
        drop = ("logfile",) if ping else ("logfile", "ping", "deadping")
        if not ping:
            del directives["deadping"]
        for name, node in self.lab.nodes.items():
            hacf, _ = scenario_template(name)
            daemon = HeartbeatDaemon(node)
            daemon.install(render_hacf(hacf, timings=directives, drop=drop),
                           "node0 Remac1\nnode2 Remac2\n", render_authkeys("sha1", KEY),
                           scripts=identity.remac_scripts(name))
            self.daemons[name] = daemon


@dataclass
class KeepalivedAdapter(_DaemonAdapter):
    name: str = "keepalived"
    advert: float = 1.0

    def install(self, timings: Timings, *, ping: bool = True) -> None:
        self.advert = advert_for_deadtime(timings.deadtime_ms / 1000)
        for name, node in self.lab.nodes.items():
            daemon = KeepalivedDaemon(node)
            daemon.install_scenario(advert=self.advert)
            self.daemons[name] = daemon


ADAPTERS = {"hbd": HbdAdapter, "heartbeat": HeartbeatAdapter, "keepalived": KeepalivedAdapter}

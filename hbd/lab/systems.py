"""The three HA systems the benchmark runs on the same lab, behind one interface.

| system | configuration | identity switch |
|---|---|---|
| hbd | shipped `conf/node*/` (native IPaddr, MacAddr, Hostname, DefaultRoute) | hbd itself |
| heartbeat 3.0.6 | the same ha.cf and authkeys; haresources `node0 Remac1`, `node2 Remac2` as in the source document | each node's own `resource.d/Remac1`/`Remac2` |
| keepalived 2.2.7 | VRRPv3 on eth2, advert chosen so that a backup takes over after `deadtime` | notify script (`keepalived.py`) |

Each adapter implements `drills.System` (start / graceful stop / running) and
adds `install(timings)` and `pids(node)` for CPU and memory figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hbd.lab.cluster import CONF_ROOT, Lab, render_authkeys, render_hacf, scenario_template
from hbd.lab.drills import HbdSystem
from hbd.lab.heartbeat import HeartbeatDaemon
from hbd.lab.keepalived import KeepalivedDaemon, advert_for_deadtime
from hbd.lab.session import Timings, install as install_hbd

KEY = "hbd-lab-demo-key"


@dataclass
class HbdAdapter(HbdSystem):
    def install(self, timings: Timings) -> None:
        for node in self.lab.nodes.values():
            install_hbd(node, timings, [])


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

    def pids(self, node: str) -> list[int]:
        return self.daemons[node].pids()


@dataclass
class HeartbeatAdapter(_DaemonAdapter):
    name: str = "heartbeat"

    def install(self, timings: Timings) -> None:
        for name, node in self.lab.nodes.items():
            hacf, _ = scenario_template(name)
            scripts = {s: (CONF_ROOT / name / "resource.d" / s).read_text()
                       for s in ("Remac1", "Remac2")}
            daemon = HeartbeatDaemon(node)
            daemon.install(render_hacf(hacf, timings=timings.directives()),
                           "node0 Remac1\nnode2 Remac2\n", render_authkeys("sha1", KEY),
                           scripts=scripts)
            self.daemons[name] = daemon


@dataclass
class KeepalivedAdapter(_DaemonAdapter):
    name: str = "keepalived"
    advert: float = 1.0

    def install(self, timings: Timings) -> None:
        self.advert = advert_for_deadtime(timings.deadtime_ms / 1000)
        for name, node in self.lab.nodes.items():
            daemon = KeepalivedDaemon(node)
            daemon.install_scenario(advert=self.advert)
            self.daemons[name] = daemon


ADAPTERS = {"hbd": HbdAdapter, "heartbeat": HeartbeatAdapter, "keepalived": KeepalivedAdapter}

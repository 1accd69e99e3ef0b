"""The drills' vocabulary: the scenario's VIPs, the drill names, an HA system, a result.

| drill | failure (on the primary) | recovery | expectation (the table's "met") |
|---|---|---|---|
| `stop` | the HA daemon stopped gracefully | started again | failover within deadtime + 50 ms, failback |
| `unplug` | the public cable (eth0) pulled; the heartbeat LAN stays up (the source document's test 2) | plugged back | the primary releases; node1 holds the VIP with the whole identity within 200 ms of the pull; nothing else moves; the group returns |
| `isolate` | both cables pulled | plugged back | failover within deadtime + 50 ms; failback outage no worse than an ordinary failback |
| `poweroff` | every process killed, both cables pulled | boot: own identity, cables, service, daemon | failover within deadtime + 50 ms, failback |
| `crash` | a kernel crash: every cable cut at the switch and every process frozen (nothing answers, ARP included) | reboot: processes killed, then a boot | failover within deadtime + 50 ms, failback |
| `hang` | the HA daemon hung (SIGSTOP), the kernel alive | thawed (or, once fenced, a boot) | with STONITH: the VIP moves only after the fence; without: it stays where it is |
| `hblan` | the heartbeat LAN cable (eth2) cut, the service LAN up, for a while | plugged back | at every 10 ms sample each VIP is on exactly one node; after the heal nothing moves that need not |

Every drill also expects the other VIP undisturbed (longest gap under 200 ms),
an ordinary failback outage under 200 ms, and node1 back to its own IP, MAC
and host name at the end. `expect.py` holds the checks, `faults.py` the
failures, `drills.py` the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from hbd_lab.cluster import HOSTS, SERVICE_NET, Lab, node_mac
from hbd_lab.holders import Span

VIPS = {"node0": ("192.168.32.21", "nodevir", "00:1e:68:1e:99:5e"),
        "node2": ("192.168.32.22", "nodevir2", "00:1e:68:1e:88:5e")}
STANDBY = "node1"
DRILLS = ("stop", "unplug", "isolate", "poweroff", "crash", "hang", "hblan")
INJECTED = {"stop": "stop", "unplug": "eth0 pulled", "isolate": "cables pulled",
            "poweroff": "power off", "crash": "kernel crash", "hang": "hbd hung",
            "hblan": "eth2 cut"}
RECOVERED = {"stop": "start", "unplug": "eth0 back", "isolate": "cables back",
             "poweroff": "boot", "crash": "reboot", "hang": "thaw", "hblan": "eth2 back"}


class System(Protocol):
    """One HA implementation in the lab: start/stop/freeze its daemon on a node."""

    name: str

    def start(self, node: str) -> None: ...
    def stop(self, node: str) -> None: ...           # graceful
    def running(self, node: str) -> bool: ...
    def freeze(self, node: str) -> None: ...         # hung (SIGSTOP), the kernel alive
    def thaw(self, node: str) -> None: ...


@dataclass
class HbdSystem:
    lab: Lab
    name: str = "hbd"

    def start(self, node: str) -> None:
        self.lab[node].start()

    def stop(self, node: str) -> None:
        self.lab[node].stop()

    def running(self, node: str) -> bool:
        return self.lab[node].running()

    def freeze(self, node: str) -> None:
        self.lab[node].freeze()

    def thaw(self, node: str) -> None:
        self.lab[node].thaw()

    def pids(self, node: str) -> list[int]:
        return self.lab[node].pids()


@dataclass
class DrillResult:
    drill: str
    primary: str
    system: str
    t_fail: float = 0.0
    t_taken: float | None = None         # a taker (node1, if all goes well) first answered
    t_whole: float | None = None         # ... with the whole identity (host name and MAC)
    t_recover: float | None = None
    t_back: float | None = None          # the primary answered again
    t_end: float | None = None
    detection: float | None = None       # first change of node1's eth0, after t_fail
    outage: float | None = None
    identity: float | None = None        # first change on node1 -> the whole identity answers
    failback_outage: float | None = None
    other_outage: float | None = None
    after_heal_outage: float | None = None
    two_holders: dict[str, float] = field(default_factory=dict)   # VIP -> seconds
    taker: tuple[str, str, str] | None = None
    restored: bool = False
    fenced: bool = False
    holder_spans: dict[str, list[Span]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)      # behaved, but over a deadline
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Met its expectation: behaved as expected, and within its deadlines."""
        return not self.problems and not self.late

    def marks(self) -> list[tuple[float, str]]:
        """The drill's instants, labelled, for the report."""
        out = [(self.t_fail, INJECTED.get(self.drill.split("+")[0], "failure"))]
        if self.detection is not None:
            out.append((self.t_fail + self.detection, "node1 acts"))
        for t, label in ((self.t_taken, "taker answers"), (self.t_whole, "whole identity"),
                         (self.t_recover, RECOVERED.get(self.drill.split("+")[0], "recovery")),
                         (self.t_back, "back home")):
            if t is not None:
                out.append((t, label))
        return sorted(out)


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def own_identity_problems(lab: Lab, node: str) -> list[str]:
    n = lab[node]
    want_ip = f"{SERVICE_NET}.{HOSTS[node]}/24"
    problems = []
    if n.addresses() != [want_ip]:
        problems.append(f"{node} has {n.addresses()} on eth0, not only {want_ip}")
    if n.mac() != node_mac(node, 0):
        problems.append(f"{node}'s MAC is {n.mac()}, not its own {node_mac(node, 0)}")
    if n.hostname() != node:
        problems.append(f"{node}'s hostname is {n.hostname()}, not {node}")
    return problems

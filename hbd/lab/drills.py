"""The source document's four failure tests, injected into a running lab.

| drill | failure | recovery |
|---|---|---|
| `stop` | graceful stop of the HA daemon on the primary | start it again |
| `unplug` | both cables of the primary pulled (service and heartbeat) | plugged back |
| `poweroff` | every process of the primary killed, its cables pulled | "boot": own identity, cables, service, daemon |
| `crash` | every process of the primary frozen (SIGSTOP), nothing released: the kernel still answers ARP, as a hung machine may | thawed |

Each drill: check the steady state (the client sees the VIP answered by its
primary), inject, wait for node1 to answer on the VIP, let it settle, recover,
wait for the primary to answer again, then read the figures off the client's
probe log (`timeline.py`) and node1's netlink log (detection = the first
change on node1's eth0 after the failure). A drill *meets its expectation*
when node1 answered as the virtual host with the virtual MAC, the primary got
the VIP back, node1 got back its own IP, MAC and hostname, and the other VIP
was not disturbed. `crash` without fencing is reported as it is: both nodes
hold the identity until the frozen node returns. With a STONITH device
(`hbd lab up --stonith`), node1 powers the frozen node off first, then takes
over, and recovery is a boot.

Works with any HA system through `System` (hbd here; heartbeat and keepalived
in the benchmark).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from hbd.lab import timeline
from hbd.lab.cluster import HOSTS, SERVICE_NET, Lab, node_mac, wait_for

VIPS = {"node0": ("192.168.32.21", "nodevir", "00:1e:68:1e:99:5e"),
        "node2": ("192.168.32.22", "nodevir2", "00:1e:68:1e:88:5e")}
STANDBY = "node1"
DRILLS = ("stop", "unplug", "poweroff", "crash")


class System(Protocol):
    """One HA implementation in the lab: start/stop its daemon on a node."""

    name: str

    def start(self, node: str) -> None: ...
    def stop(self, node: str) -> None: ...           # graceful
    def running(self, node: str) -> bool: ...


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

    def pids(self, node: str) -> list[int]:
        pid = self.lab[node].pid()
        return [pid] if pid else []


@dataclass
class DrillResult:
    drill: str
    primary: str
    system: str
    t_fail: float = 0.0
    t_taken: float | None = None
    t_recover: float | None = None
    t_back: float | None = None
    detection: float | None = None
    outage: float | None = None
    failback_outage: float | None = None
    other_outage: float | None = None
    taker: tuple[str, str, str] | None = None
    restored: bool = False
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


class Services:
    """The scenario's service on each node (`probe serve`) and the client's probe."""

    def __init__(self, lab: Lab, log_dir: str) -> None:
        self.lab = lab
        self.log_dir = log_dir
        self.probe_log = os.path.join(log_dir, "probe.jsonl")
        self.watcher: subprocess.Popen | None = None

    def serve(self, node: str) -> None:
        self.lab[node].ns.popen([sys.executable, "-m", "hbd.lab.probe", "serve", "--node", node],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def watch(self, interval: float = 0.01) -> None:
        targets = [arg for node in VIPS for arg in ("--target", VIPS[node][0])]
        self.watcher = self.lab.extra("client").popen(
            [sys.executable, "-m", "hbd.lab.probe", "watch", *targets, "--interval",
             str(interval), "--out", self.probe_log], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def probes(self) -> list[timeline.Probe]:
        return timeline.read_probes(self.probe_log)

    def close(self) -> None:
        if self.watcher and self.watcher.poll() is None:
            self.watcher.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.watcher.wait(5)


class LinkMonitor:
    """`ip -ts monitor link address dev eth0` on a node: when its identity changes."""

    def __init__(self, lab: Lab, node: str, path: str) -> None:
        self.path = path
        out = open(path, "w", encoding="utf-8")
        self.proc = lab[node].ns.popen(["ip", "-ts", "monitor", "link", "address", "dev", "eth0"],
                                       stdout=out, stderr=subprocess.DEVNULL,
                                       stdin=subprocess.DEVNULL)
        out.close()
        self.offset = time.time() - time.monotonic()

    def first_change_after(self, after: float) -> float | None:
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.startswith("["):
                    continue
                try:
                    wall = datetime.datetime.fromisoformat(line[1:line.index("]")]).timestamp()
                except ValueError:
                    continue
                if wall - self.offset >= after:
                    return wall - self.offset
        return None

    def close(self) -> None:
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


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


class DrillRunner:
    def __init__(self, lab: Lab, system: System, services: Services, *,
                 settle: float = 1.0, takeover_timeout: float = 30.0,
                 failback_timeout: float = 30.0,
                 progress: Callable[[str], None] = lambda text: None) -> None:
        self.lab = lab
        self.system = system
        self.services = services
        self.settle = settle
        self.takeover_timeout = takeover_timeout
        self.failback_timeout = failback_timeout
        self.progress = progress

    # --- waiting on the client's view ----------------------------------------------
    def answered(self, vip_of: str, node: str, after: float) -> timeline.Probe | None:
        probes = timeline.for_target(self.services.probes(), VIPS[vip_of][0])
        return timeline.first_answer_by(probes, node, after)

    def wait_answer(self, vip_of: str, node: str, after: float, timeout: float,
                    what: str) -> float | None:
        try:
            probe = wait_for(lambda: self.answered(vip_of, node, after), timeout=timeout,
                             what=what, interval=0.02)
        except TimeoutError:
            return None
        return probe.t

    def steady(self, primaries: tuple[str, ...], timeout: float = 60.0) -> None:
        for primary in VIPS:
            if self.wait_answer(primary, primary, time.monotonic(), timeout,
                                f"{primary} to answer on {VIPS[primary][0]}") is None:
                raise TimeoutError(f"the lab is not steady: {VIPS[primary][0]} is not answered "
                                   f"by {primary}")

    # --- failures ----------------------------------------------------------------------
    def inject(self, drill: str, node: str) -> None:
        topo = self.lab.topology
        if drill == "stop":
            self.system.stop(node)
        elif drill == "unplug":
            for ifname in ("eth0", "eth2"):
                topo.set_port(node, ifname, False)
        elif drill == "poweroff":
            self._signal_all(node, signal.SIGKILL)
            for ifname in ("eth0", "eth2"):
                topo.set_port(node, ifname, False)
        elif drill == "crash":
            self._signal_all(node, signal.SIGSTOP)
        else:
            raise ValueError(f"unknown drill {drill}")

    def recover(self, drill: str, node: str) -> None:
        topo = self.lab.topology
        if drill == "stop":
            self.system.start(node)
        elif not self.lab[node].ns.pids():   # fenced meanwhile (STONITH powered it off)
            self.boot(node)
        elif drill == "unplug":
            for ifname in ("eth0", "eth2"):
                topo.set_port(node, ifname, True)
        elif drill == "poweroff":
            self.boot(node)
        elif drill == "crash":
            self._signal_all(node, signal.SIGCONT)

    def _signal_all(self, node: str, sig: int) -> None:
        for pid in self.lab[node].ns.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        if sig == signal.SIGKILL:
            wait_for(lambda: not self.lab[node].ns.pids(), timeout=10,
                     what=f"every process of {node} to die")

    def boot(self, node: str) -> None:
        """A machine coming back: its own identity from its own config, then services."""
        ns = self.lab[node].ns
        ns.ip("link", "set", "eth0", "down")
        ns.ip("link", "set", "eth0", "address", node_mac(node, 0))
        ns.ip("addr", "flush", "dev", "eth0")
        ns.ip("addr", "add", f"{SERVICE_NET}.{HOSTS[node]}/24", "dev", "eth0")
        ns.ip("link", "set", "eth0", "up")
        ns.ip("route", "replace", "default", "via", f"{SERVICE_NET}.254")
        ns.run(["hostname", node])
        for ifname in ("eth0", "eth2"):
            self.lab.topology.set_port(node, ifname, True)
        self.services.serve(node)
        self.system.start(node)

    # --- one drill -----------------------------------------------------------------------
    def run(self, drill: str, primaries: tuple[str, ...]) -> DrillResult:
        label = "+".join(primaries)
        result = DrillResult(drill, label, self.system.name)
        monitor = LinkMonitor(self.lab, STANDBY, os.path.join(
            self.services.log_dir, f"monitor-{drill}-{label}.log"))
        try:
            self.progress(f"{drill} {label}: waiting for the steady state")
            self.steady(primaries)
            self.progress(f"{drill} {label}: injecting")
            result.t_fail = time.monotonic()
            for node in primaries:
                self.inject(drill, node)
            self._await_takeover(result, primaries)
            result.detection = self._detection(monitor, result.t_fail)
            self.progress(f"{drill} {label}: recovering")
            result.t_recover = time.monotonic()
            for node in primaries:
                self.recover(drill, node)
            self._await_failback(result, primaries)
        finally:
            monitor.close()
        self._figures(result, primaries)
        return result

    def _detection(self, monitor: LinkMonitor, t_fail: float) -> float | None:
        changed = monitor.first_change_after(t_fail)
        return None if changed is None else changed - t_fail

    def _first_answers(self, primaries: tuple[str, ...], answerer, since: float,
                       timeout: float, result: DrillResult, missing: str) -> float | None:
        """When every primary's VIP was answered by `answerer(primary)` (the latest of
        them), or None; a VIP left unanswered is recorded as a problem."""
        latest = None
        for node in primaries:
            vip = VIPS[node][0]
            t = self.wait_answer(node, answerer(node), since, timeout,
                                 f"{answerer(node)} to answer on {vip}")
            if t is None:
                result.problems.append(missing.format(node=node, vip=vip))
            else:
                latest = max(latest or 0.0, t)
        return latest

    def _settle(self) -> None:
        end = time.monotonic() + self.settle
        wait_for(lambda: time.monotonic() >= end, timeout=self.settle + 1, what="settling")

    def _await_takeover(self, result: DrillResult, primaries: tuple[str, ...]) -> None:
        result.t_taken = self._first_answers(primaries, lambda node: STANDBY, result.t_fail,
                                             self.takeover_timeout, result,
                                             f"{STANDBY} never answered on {{vip}}")
        self._settle()

    def _await_failback(self, result: DrillResult, primaries: tuple[str, ...]) -> None:
        result.t_back = self._first_answers(primaries, lambda node: node, result.t_recover,
                                            self.failback_timeout, result,
                                            "{node} did not get {vip} back")
        try:
            wait_for(lambda: not own_identity_problems(self.lab, STANDBY), timeout=10,
                     what=f"{STANDBY} to be itself again")
            result.restored = True
        except TimeoutError:
            result.problems += own_identity_problems(self.lab, STANDBY)
        self._settle()

    def _taker(self, result: DrillResult, primaries: tuple[str, ...],
               probes: list[timeline.Probe], expected: tuple[str, str, str]) -> None:
        """Who answered once the takeover was complete (just before recovery)."""
        end = result.t_recover or result.t_taken
        seen = timeline.answered_by(probes, result.t_taken, end)
        final = [p for p in probes if p.ok and result.t_taken <= p.t <= end]
        result.taker = (final[-1].node, final[-1].host, final[-1].mac) if final else None
        if len(primaries) == 1 and result.taker != expected:
            result.problems.append(f"after takeover {probes[0].target} was answered by "
                                   f"{result.taker}, expected {expected}")
        if len(seen) > 1:
            complete = next((p.t for p in final if (p.node, p.host, p.mac) == result.taker),
                            result.t_taken)
            result.notes.append(
                f"{probes[0].target}: node1 answered first as {seen[0][1]} ({seen[0][2]}); the "
                f"whole identity answered {ms(complete - result.t_taken)} later")

    def _figures(self, result: DrillResult, primaries: tuple[str, ...]) -> None:
        probes = self.services.probes()
        primary = primaries[0]
        vip, host, mac = VIPS[primary]
        mine = timeline.for_target(probes, vip)
        if result.t_taken is not None:
            gap = timeline.outage(mine, result.t_fail, result.t_taken)
            result.outage = gap.seconds if gap else None
            self._taker(result, primaries, mine, (STANDBY, host, mac))
        if result.t_back is not None and result.t_recover is not None:
            gap = timeline.outage(mine, result.t_recover, result.t_back + self.settle)
            result.failback_outage = gap.seconds if gap else None
        if len(primaries) == 1:
            other = next(n for n in VIPS if n != primary)
            theirs = timeline.for_target(probes, VIPS[other][0])
            gap = timeline.outage(theirs, result.t_fail, (result.t_back or result.t_fail)
                                  + self.settle)
            result.other_outage = gap.seconds if gap else None
            if result.other_outage is None or result.other_outage > 0.2:
                result.problems.append(f"the other VIP {VIPS[other][0]} was disturbed: "
                                       f"outage {ms(result.other_outage)}")

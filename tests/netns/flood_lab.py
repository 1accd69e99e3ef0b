"""A flood on the heartbeat LAN while the scenario's cluster runs (test_flood.py, bench/flood.py).

`run_flood()` builds the lab (`hbd_lab.session.up`: node0..node2 with hbd at
keepalive 200 ms / deadtime 1 s, the client probing both VIPs every 10 ms),
adds an attacker namespace `atk` (10.160.100.66) on the heartbeat switch,
waits until the cluster is steady, measures node1's hbd CPU while idle, then
runs `flood_driver.py` in `atk` against node1 (spoofing node0's address) and
checks, once a second while it runs, that node1 still sees every node active.
Traffic goes only to node1's address inside the lab; the lab is torn down
whatever happens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hbd_lab import session as sessions
from hbd_lab import timeline
from hbd_lab.cluster import HB_NET, Lab, wait_for
from hbd_lab.drills import VIPS, DrillRunner, HbdSystem

DRIVER = Path(__file__).with_name("flood_driver.py")
ATTACKER = f"{HB_NET}.66"
TARGET = f"{HB_NET}.31"           # node1
SPOOFED = f"{HB_NET}.30"          # node0, a peer node1 knows


@dataclass
class FloodResult:
    kind: str
    rate: int
    seconds: float
    sent: int = 0
    elapsed: float = 0.0
    captured: int = 0
    idle_cpu: float = 0.0                                     # node1's hbd, % of one CPU
    flood_cpu: float = 0.0
    views: list[dict[str, str]] = field(default_factory=list)  # node1's view, once a second
    deaths: list[str] = field(default_factory=list)     # hbd's "is dead (REASON)" lines, any node
    gaps: dict[str, float | None] = field(default_factory=dict)  # longest gap per VIP, s
    answered: dict[str, set[str]] = field(default_factory=dict)  # who answered each VIP
    counters: dict[str, int] = field(default_factory=dict)    # node1's media counters

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0

    def problems(self) -> list[str]:
        """What went wrong for the cluster (empty: no false death, no VIP gap)."""
        found = [f"false death: {line}" for line in self.deaths]
        found += [f"node1 saw {view}" for view in self.views
                  if set(view.values()) != {"active"} or len(view) != 3]
        for primary, (vip, _, _) in VIPS.items():
            gap = self.gaps.get(vip)
            if gap is None or gap > 0.3:
                found.append(f"{vip}: longest gap {gap} s")
            if self.answered.get(vip) != {primary}:
                found.append(f"{vip} answered by {self.answered.get(vip)}")
        return found


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _hold(seconds: float) -> None:
    """Let the cluster run for `seconds` (bounded wait on the clock)."""
    until = time.monotonic() + seconds
    wait_for(lambda: time.monotonic() >= until, timeout=seconds + 2, what="the end of the period")


def _watch_node1(lab: Lab, proc: subprocess.Popen, limit: float, result: FloodResult) -> None:
    """node1's view of the nodes, once a second, until the attacker exits (bounded)."""
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        doc = lab["node1"].status()
        result.views.append({} if doc is None else {
            n["name"]: n["status"] for n in doc["nodes"] if n["type"] == "normal"})
        next_check = min(deadline, time.monotonic() + 1.0)
        wait_for(lambda at=next_check: proc.poll() is not None or time.monotonic() >= at,
                 timeout=2.0, what="the next check")


def _flood(session: sessions.Session, result: FloodResult, idle: float) -> tuple[float, float]:
    """Attacker in, steady state, idle CPU, flood; returns the flood's (start, end)."""
    lab = session.lab
    topo = lab.topology
    topo.add_node("atk")
    topo.cable("atk", "eth2", "hb", address=f"{ATTACKER}/24")
    DrillRunner(lab, HbdSystem(lab), session.services).steady(("node0", "node2"))
    pid = lab["node1"].pid()
    assert pid is not None, "hbd is not running on node1"
    before = cpu_seconds(pid)
    _hold(idle)
    result.idle_cpu = 100 * (cpu_seconds(pid) - before) / idle
    logs = {name: len(lab[name].log_text()) for name in lab.names}
    proc = topo.nodes["atk"].popen(
        [sys.executable, str(DRIVER), "--target", TARGET, "--spoof", SPOOFED, "--rate",
         str(result.rate), "--seconds", str(result.seconds), "--kind", result.kind],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        started, cpu0 = time.monotonic(), cpu_seconds(pid)
        if '"flooding"' not in first:
            raise RuntimeError(f"flood driver: {first} {proc.stderr.read() if proc.stderr else ''}")
        _watch_node1(lab, proc, result.seconds + 30, result)
        out, err = proc.communicate(timeout=30)
        ended = time.monotonic()
        result.flood_cpu = 100 * (cpu_seconds(pid) - cpu0) / (ended - started)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    done = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"error": err}
    if "error" in done:
        raise RuntimeError(f"flood driver: {done['error']}")
    result.sent, result.elapsed, result.captured = done["sent"], done["elapsed"], done["captured"]
    for name in lab.names:
        result.deaths += [line for line in lab[name].log_text()[logs[name]:].splitlines()
                          if "is dead (" in line]
    doc = lab["node1"].status()
    media = (doc or {}).get("daemon", {}).get("media", {})
    result.counters = {k: v for k, v in media.items() if "[" not in k}
    return started, ended


def run_flood(prefix: str, *, rate: int, seconds: float, kind: str = "replay",
              idle: float = 10.0) -> FloodResult:
    """Build the lab, flood node1, tear everything down; see the module docstring."""
    result = FloodResult(kind, rate, seconds)
    session = sessions.up(prefix=prefix)
    try:
        session.services.watch()
        start, end = _flood(session, result, idle)
        probes = session.services.probes()
        for vip, _, _ in VIPS.values():
            mine = timeline.for_target(probes, vip)
            gap = timeline.outage(mine, start, end)
            result.gaps[vip] = None if gap is None else round(gap.seconds, 3)
            result.answered[vip] = {p.node for p in mine if p.ok and start <= p.t <= end and p.node}
    finally:
        session.services.close()
        sessions.down(prefix)
    return result

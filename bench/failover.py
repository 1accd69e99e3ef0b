"""Failover benchmark: hbd against heartbeat 3.0.6 and keepalived 2.2.7, one run, one table.

    sudo .venv/bin/python bench/failover.py [--quick] [--reps 5]
        [--timings 1000/3000,200/1000,100/500] [--systems hbd,heartbeat,keepalived]
        [--idle 20] [--floor-reps 5] [--hblan-cut 10]

For each timing (keepalive/deadtime in ms; keepalived gets the advert interval
whose master-down time equals deadtime) and each system, on the same lab
(`hbd_lab`, the drills of its scenario.py): the scenario comes up, idles for
`--idle` seconds (CPU and RSS of the daemons' processes on each node,
heartbeat-LAN packets per second), then, `--reps` times each:

| column | drill (hbd_lab) | figure |
|---|---|---|
| kill | `poweroff` node0: every process killed, cables out, a boot | client-seen outage on vip1 |
| unplug | `unplug` node0: eth0 only (the source document's test 2) | outage; "never" when nobody took over |
| isolate | `isolate` node0 and node2: both cables out for max(2 s, deadtime + 1 s), then back | outage; "never" when nobody took over in that time |
| stop | `stop` node0: graceful stop | outage |
| failback | after kill and stop | the failback's outage |
| fb-isolate | after isolate, with the scenario's ping node | the failback's outage |
| fb-iso-noping | the same with the ping line removed from ha.cf (keepalived: n/a) | the failback's outage |
| identity | kill: node1's first change on eth0 until the client sees the whole identity | ms |
| 2-holders | `hblan` node0 (once): eth2 cut for `--hblan-cut` s | time a VIP was configured on two nodes (max over the VIPs) |
| heal gap | the same | the longest gap on a VIP after the heal |
| cpu, rss | idle | % of a core per node (mean), MB per node (max) |

Cells are median/max in ms over the runs. A drill that left the cluster off its
steady state is followed by a restart of every node ("resets"). Last, the
floor: the bare takeover (IP + MAC + hostname + default route + gratuitous ARP
by hbd's own resources, no cluster logic) as the client sees it.
`--quick` is one timing (200/1000), one rep, 10 s idle, 2 floor reps.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

from hbd_lab import session as sessions, timeline
from hbd_lab.cluster import wait_for
from hbd_lab.drills import VIPS, DrillResult, DrillRunner, own_identity_problems
from hbd_lab.systems import ADAPTERS

PREFIX = "hbdbench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = ("kill", "unplug", "isolate", "stop", "failback", "fb-isolate", "fb-iso-noping",
           "identity", "2-holders", "heal gap")


@dataclass
class Run:
    system: str
    timing: str
    results: dict[str, list[DrillResult]] = field(default_factory=dict)
    cpu_s_per_min: float | None = None      # per node (mean)
    rss_mb: float | None = None             # per node (max)
    pps: float | None = None                # heartbeat LAN, whole cluster
    error: str | None = None
    resets: int = 0                         # whole-cluster restarts after a failed drill

    def add(self, label: str, result: DrillResult) -> None:
        self.results.setdefault(label, []).append(result)


# --- idle cost ---------------------------------------------------------------------------------
def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as handle:
                total += sum(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))
        except (OSError, ValueError):
            pass
    return total


def hb_packets(session) -> int:
    """Packets the nodes sent into the heartbeat switch (rx on its ports)."""
    out = subprocess.run(["ip", "-n", session.lab.topology.switch_ns, "-j", "-s", "link", "show",
                          "master", "hb"], capture_output=True, text=True, timeout=10).stdout
    return sum(link["stats64"]["rx"]["packets"] for link in json.loads(out or "[]"))


def measure_idle(session, adapter, seconds: float, run: Run) -> None:
    names = session.lab.names
    before = {n: cpu_ticks(adapter.pids(n)) for n in names}
    packets = hb_packets(session)
    start = time.monotonic()
    end = start + seconds
    wait_for(lambda: time.monotonic() >= end, timeout=seconds + 5, what="idle window",
             interval=0.5)
    elapsed = time.monotonic() - start
    after = {n: cpu_ticks(adapter.pids(n)) for n in names}
    run.cpu_s_per_min = statistics.mean(
        (after[n] - before[n]) / CLK_TCK * 60 / elapsed for n in names)
    run.rss_mb = max(rss_kb(adapter.pids(n)) for n in names) / 1024
    run.pps = (hb_packets(session) - packets) / elapsed


# --- drills ------------------------------------------------------------------------------------
def healthy(session, runner) -> bool:
    """Each VIP answered by its primary, and node1 itself."""
    try:
        runner.steady(timeout=5)
    except TimeoutError:
        return False
    return not own_identity_problems(session.lab, "node1")


def reset(session, adapter, runner) -> None:
    """Every node stopped and booted again (own identity), the system restarted: a
    drill that left the cluster off its steady state must not spoil the next one."""
    names = session.lab.names
    for name in names:
        try:
            adapter.stop(name)
        except Exception:  # noqa: BLE001 - whatever state it is in, it is killed next
            pass
    for name in names:
        runner.faults.power_off(name)
    for name in names:
        runner.boot(name)
    runner.steady(timeout=60)


def drill(run: Run, label: str, session, adapter, runner, name: str, node: str,
          hold: float | None = None) -> None:
    try:
        result = runner.run(name, (node,), hold=hold)
    except TimeoutError as exc:
        result = DrillResult(name, node, run.system)
        result.problems.append(str(exc))
    run.add(label, result)
    if not healthy(session, runner):
        run.resets += 1
        reset(session, adapter, runner)


def restart(session, adapter, runner, timings, *, ping: bool) -> None:
    for name in session.lab.names:
        adapter.stop(name)
    adapter.install(timings, ping=ping)
    for name in session.lab.names:
        adapter.start(name)
    runner.steady(timeout=60 + timings.initdead_ms / 1000)


def bench_one(system: str, keepalive: int, deadtime: int, args) -> Run:
    timing = f"{keepalive}/{deadtime}"
    run = Run(system, timing)
    timings = sessions.Timings(keepalive, deadtime, max(keepalive * 2, int(deadtime * 0.6)),
                               max(2 * deadtime, 3000))
    hold = max(2.0, deadtime / 1000 + 1.0)
    session = None
    try:
        session = sessions.up(timings=timings, prefix=PREFIX, start_hbd=False)
        adapter = ADAPTERS[system](session.lab)
        adapter.install(timings)
        for name in session.lab.names:
            adapter.start(name)
        session.services.watch()
        runner = DrillRunner(session.lab, adapter, session.services, deadtime=deadtime / 1000,
                             takeover_timeout=deadtime / 1000 + 20, failback_timeout=40,
                             hblan_cut=args.hblan_cut,
                             progress=lambda text: print(f"  [{system} {timing}] {text}",
                                                         flush=True))
        runner.steady(timeout=60 + timings.initdead_ms / 1000)
        measure_idle(session, adapter, args.idle, run)
        for _ in range(args.reps):
            for label, name in (("kill", "poweroff"), ("unplug", "unplug"), ("stop", "stop")):
                drill(run, label, session, adapter, runner, name, "node0")
            for node in ("node0", "node2"):
                drill(run, "isolate", session, adapter, runner, "isolate", node, hold)
        drill(run, "hblan", session, adapter, runner, "hblan", "node0")
        if system != "keepalived":              # no ping node there either way
            restart(session, adapter, runner, timings, ping=False)
            for _ in range(args.reps):
                for node in ("node0", "node2"):
                    drill(run, "isolate-noping", session, adapter, runner, "isolate", node,
                          hold)
    except Exception as exc:  # a system that cannot run here is reported, not fatal
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        if session is not None:
            session.services.close()
        sessions.down(PREFIX)
    return run


# --- the floor ---------------------------------------------------------------------------------
async def _floor_takeover(state_dir: str) -> None:
    from hbd.config.haresources import parse_resource
    from hbd.resources.identity import Identity
    identity = Identity(state_dir)
    block = []
    for word in ("IPaddr::192.168.32.21/24/eth0/192.168.32.255",
                 "MacAddr::eth0::00:1E:68:1E:99:5E", "Hostname::nodevir",
                 "DefaultRoute::192.168.32.254"):
        resource, _ = parse_resource(word)
        assert resource is not None
        block.append(resource)
    print(time.monotonic(), flush=True)      # the operation starts now (CLOCK_MONOTONIC)
    result = await identity.start_block(block, group="floor")   # one move, as hbd does
    assert result.ok, result.detail
    await identity.close()


def floor(reps: int) -> list[float]:
    """Client-seen time from the start of the bare operations to nodevir answering."""
    values = []
    vip, host, mac = VIPS["node0"]
    for _ in range(reps):
        session = sessions.up(prefix=PREFIX, start_hbd=False)
        try:
            session.services.watch()
            node1 = session.lab["node1"]
            code = ("import asyncio, sys; sys.path.insert(0, %r); import bench.failover as f; "
                    "asyncio.run(f._floor_takeover(%r))" % (REPO, str(node1.state_dir)))
            wait_for(session.services.probes, timeout=10, what="the probe to run")
            t0 = float(node1.ns.run([sys.executable, "-c", code], timeout=30).stdout.split()[0])

            def whole(t0: float = t0, services=session.services) -> timeline.Probe | None:
                probes = timeline.for_target(services.probes(), vip)
                return next((p for p in probes if p.t >= t0 and p.ok and p.host == host
                             and p.mac == mac), None)
            values.append(wait_for(whole, timeout=10, what="nodevir to answer").t - t0)
        finally:
            session.services.close()
            sessions.down(PREFIX)
    return values


# --- the table ---------------------------------------------------------------------------------
def fmt(values: list[float]) -> str:
    """median/max in ms; "lost" for a VIP that never came back in the window."""
    if not values:
        return "-"
    return "/".join("lost" if v == float("inf") else f"{v * 1000:.0f}"
                    for v in (statistics.median(values), max(values)))


def values(results: list[DrillResult], attr: str) -> list[float]:
    return [v for r in results if (v := getattr(r, attr)) is not None]


def outage(results: list[DrillResult]) -> str:
    """The takeovers' outages, and how many times nobody took over at all."""
    never = sum(r.t_taken is None for r in results)
    text = fmt(values(results, "outage"))
    return f"{text} never {never}/{len(results)}" if never else text


def cells(run: Run) -> dict[str, str]:
    res = run.results
    kill, stop, iso = res.get("kill", []), res.get("stop", []), res.get("isolate", [])
    unplug = res.get("unplug", [])
    hblan = res.get("hblan", [])
    two = [max(r.two_holders.values(), default=0.0) for r in hblan]
    out = {"kill": outage(kill), "unplug": outage(unplug), "isolate": outage(iso),
           "stop": outage(stop),
           "failback": fmt(values(kill + stop, "failback_outage")),
           "fb-isolate": fmt(values(iso, "failback_outage")),
           "fb-iso-noping": fmt(values(res.get("isolate-noping", []), "failback_outage"))
           if run.system != "keepalived" else "n/a",
           "identity": fmt(values(kill, "identity")), "2-holders": fmt(two),
           "heal gap": fmt(values(hblan, "after_heal_outage"))}
    return out


def print_table(runs: list[Run], floor_values: list[float]) -> None:
    head = ("timing", "system", *COLUMNS, "cpu %", "rss MB")
    rows = [head]
    for run in runs:
        c = cells(run)
        rows.append((run.timing, run.system, *(c[k] for k in COLUMNS),
                     "-" if run.cpu_s_per_min is None else f"{run.cpu_s_per_min / 60 * 100:.2f}",
                     "-" if run.rss_mb is None else f"{run.rss_mb:.1f}"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    print("\n## failover: ms, median/max over the runs (see the docstring for each column)")
    for i, row in enumerate(rows):
        print("  ".join(str(v).rjust(w) if j > 1 else str(v).ljust(w)
                        for j, (v, w) in enumerate(zip(row, widths, strict=True))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("\n## drills that met their expectation (hbd_lab/scenario.py), idle traffic")
    for run in runs:
        met = ", ".join(f"{label} {sum(r.ok for r in rs)}/{len(rs)}"
                        for label, rs in run.results.items())
        pps = "-" if run.pps is None else f"{run.pps:.1f} pkt/s"
        print(f"{run.timing:<10} {run.system:<11} {met}; heartbeat LAN {pps}"
              + (f"; resets {run.resets}" if run.resets else "")
              + (f"; stopped early: {run.error}" if run.error else ""))
    if floor_values:
        print(f"\n## floor: bare IP + MAC + hostname + route + gratuitous ARP, client-seen: "
              f"{fmt(floor_values)} ms (median/max over {len(floor_values)})")
    problems = [(r.system, r.timing, label, p) for r in runs for label, rs in r.results.items()
                for x in rs for p in x.problems + x.late]
    for system, timing, label, problem in problems[:60]:
        print(f"problem: {system} {timing} {label}: {problem}")
    if len(problems) > 60:
        print(f"... and {len(problems) - 60} more problems")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one timing (200/1000), one rep, 10 s idle, 2 floor reps")
    parser.add_argument("--reps", type=int)
    parser.add_argument("--timings")
    parser.add_argument("--systems", default="hbd,heartbeat,keepalived")
    parser.add_argument("--idle", type=float)
    parser.add_argument("--floor-reps", type=int)
    parser.add_argument("--hblan-cut", type=float, default=10.0)
    args = parser.parse_args()
    defaults = ((1, "200/1000", 10.0, 2) if args.quick else (5, "1000/3000,200/1000,100/500",
                                                               20.0, 5))
    for name, value in zip(("reps", "timings", "idle", "floor_reps"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    if os.geteuid() != 0:
        print("the benchmark builds network namespaces: run it as root", file=sys.stderr)
        return 2
    runs = []
    for timing in args.timings.split(","):
        keepalive, deadtime = (int(x) for x in timing.split("/"))
        for system in args.systems.split(","):
            print(f"== {system} at keepalive {keepalive} ms / deadtime {deadtime} ms", flush=True)
            runs.append(bench_one(system, keepalive, deadtime, args))
    print("== floor", flush=True)
    print_table(runs, floor(args.floor_reps) if args.floor_reps else [])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Failover benchmark: hbd against heartbeat 3.0.6 and keepalived 2.2.7, one run.

    sudo .venv/bin/python bench/failover.py [--reps 5] [--timings 1000/3000,100/500]
                                            [--systems hbd,heartbeat,keepalived] [--idle 20]

For each timing (keepalive/deadtime in ms; keepalived gets the advert interval
whose master-down time equals deadtime) and each system, on the same lab
topology (`hbd.lab`): the scenario is brought up, left idle for `--idle`
seconds (CPU seconds per minute and RSS of the daemon's processes on each
node, packets per second on the heartbeat LAN), then node0 is failed `--reps`
times with each drill:

* kill     = `poweroff` (every process gone, cables out, then a fresh boot)
* unplug   = both cables pulled, then plugged back
* stop     = graceful stop of the daemon, then started again

The client probes every 10 ms; figures are medians and maxima over the reps:
outage on vip1, detection (first change on node1's eth0), failback outage,
and for unplug the failback and whether vip2 was disturbed. Last, the floor:
the bare takeover (IP + MAC + hostname + default route + gratuitous ARP by
hbd's own resources, no cluster logic) as the client sees it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from hbd.lab import session as sessions, timeline  # noqa: E402
from hbd.lab.cluster import wait_for  # noqa: E402
from hbd.lab.drills import DrillResult, DrillRunner, VIPS  # noqa: E402
from hbd.lab.systems import ADAPTERS  # noqa: E402

PREFIX = "hbdbench"
DRILLS = (("kill", "poweroff"), ("unplug", "unplug"), ("stop", "stop"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


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
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


def hb_packets(session) -> int:
    """Packets the nodes sent into the heartbeat switch (rx on its ports)."""
    import json
    sw = session.lab.topology.switch_ns
    out = subprocess.run(["ip", "-n", sw, "-j", "-s", "link", "show", "master", "hb"],
                         capture_output=True, text=True, timeout=10).stdout
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
        runner.inject("poweroff", name)
    for name in names:
        runner.boot(name)
    runner.steady(("node0", "node2"), timeout=60)


def run_drills(run: Run, session, adapter, runner, reps: int) -> None:
    for _ in range(reps):
        for label, drill in DRILLS:
            try:
                result = runner.run(drill, ("node0",))
            except TimeoutError as exc:
                result = DrillResult(drill, "node0", run.system)
                result.problems.append(str(exc))
            run.results.setdefault(label, []).append(result)
            if result.ok:
                continue
            run.resets += 1                  # start the next drill from a clean cluster
            try:
                reset(session, adapter, runner)
            except TimeoutError as exc:
                run.error = f"no steady state even after a restart of every node: {exc}"
                return


def bench_one(system: str, keepalive: int, deadtime: int, reps: int, idle: float) -> Run:
    timing = f"{keepalive}/{deadtime}"
    run = Run(system, timing)
    timings = sessions.Timings(keepalive, deadtime, max(keepalive * 2, int(deadtime * 0.6)),
                               max(2 * deadtime, 3000))
    session = None
    try:
        session = sessions.up(timings=timings, prefix=PREFIX, start_hbd=False)
        adapter = ADAPTERS[system](session.lab)
        adapter.install(timings)
        for name in session.lab.names:
            adapter.start(name)
        session.services.watch()
        runner = DrillRunner(session.lab, adapter, session.services,
                             takeover_timeout=deadtime / 1000 + 20, failback_timeout=40,
                             progress=lambda text: print(f"  [{system} {timing}] {text}",
                                                         flush=True))
        runner.steady(("node0", "node2"), timeout=60 + timings.initdead_ms / 1000)
        measure_idle(session, adapter, idle, run)
        run_drills(run, session, adapter, runner, reps)
    except Exception as exc:  # a system that cannot run here is reported, not fatal
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        if session is not None:
            session.services.close()
        sessions.down(PREFIX)
    return run


async def _floor_takeover(state_dir: str) -> None:
    from hbd.config.haresources import parse_resource
    from hbd.resources.identity import Identity
    identity = Identity(state_dir)
    print(time.monotonic(), flush=True)      # the operations start now (CLOCK_MONOTONIC)
    for word in ("IPaddr::192.168.32.21/24/eth0/192.168.32.255",
                 "MacAddr::eth0::00:1E:68:1E:99:5E", "Hostname::nodevir",
                 "DefaultRoute::192.168.32.254"):
        resource, _ = parse_resource(word)
        result = await identity.start(resource, group="floor")
        assert result.ok, result.detail
    await identity.close()


def floor(reps: int) -> list[float]:
    """Client-seen time from the start of the bare operations to nodevir answering."""
    values = []
    for _ in range(reps):
        session = sessions.up(prefix=PREFIX, start_hbd=False)
        try:
            session.services.watch()
            node1 = session.lab["node1"]
            code = ("import asyncio, sys; sys.path.insert(0, %r); import bench.failover as f; "
                    "asyncio.run(f._floor_takeover(%r))"
                    % (os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       str(node1.state_dir)))
            wait_for(lambda: session.services.probes(), timeout=10, what="the probe to run")
            t0 = float(node1.ns.run([sys.executable, "-c", code], timeout=30).stdout.split()[0])
            probes = timeline.for_target(session.services.probes(), VIPS["node0"][0])

            def full():
                probes[:] = timeline.for_target(session.services.probes(), VIPS["node0"][0])
                return next((p for p in probes if p.t >= t0 and p.ok and p.host == "nodevir"
                             and p.mac == VIPS["node0"][2]), None)
            first = wait_for(full, timeout=10, what="nodevir to answer")
            values.append(first.t - t0)
        finally:
            session.services.close()
            sessions.down(PREFIX)
    return values


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def figures(results: list[DrillResult], attr: str) -> tuple[float | None, float | None]:
    values = [getattr(r, attr) for r in results if getattr(r, attr) is not None]
    if not values:
        return None, None
    return statistics.median(values), max(values)


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def print_tables(runs: list[Run], floor_values: list[float]) -> None:
    by = {(r.system, r.timing): r for r in runs}
    for label, _ in DRILLS:
        print(f"\n## {label}  (ms; median / max over reps; ratio = hbd median / other median)")
        print(f"{'timing':<10} {'system':<11} {'outage':>13} {'detection':>11} "
              f"{'failback':>13} {'other VIP max':>14} {'met':>5}  vs hbd")
        for run in runs:
            results = run.results.get(label, [])
            if not results:
                print(f"{run.timing:<10} {run.system:<11} error: {run.error or 'no result'}")
                continue
            out, out_max = figures(results, "outage")
            det, _ = figures(results, "detection")
            back, back_max = figures(results, "failback_outage")
            _, other_max = figures(results, "other_outage")
            met = sum(r.ok for r in results)
            hbd = by.get(("hbd", run.timing))
            hbd_out = figures(hbd.results.get(label, []), "outage")[0] if hbd else None
            print(f"{run.timing:<10} {run.system:<11} {fmt(out):>6}/{fmt(out_max):<6} "
                  f"{fmt(det):>11} {fmt(back):>6}/{fmt(back_max):<6} {fmt(other_max):>14} "
                  f"{met}/{len(results):<3}  {ratio(hbd_out, out) if run.system != 'hbd' else ''}")
    for run in runs:
        if run.error and run.results:
            print(f"\n{run.system} {run.timing}: stopped early: {run.error}")
    resets = [f"{r.system} {r.timing}: {r.resets}" for r in runs if r.resets]
    if resets:
        print("\nwhole-cluster restarts after a drill that did not meet its expectation: "
              + ", ".join(resets))
    print("\n## idle (per node: CPU seconds per minute, max RSS; heartbeat LAN packets/s)")
    for run in runs:
        if run.cpu_s_per_min is None:
            continue
        hbd = by.get(("hbd", run.timing))
        print(f"{run.timing:<10} {run.system:<11} cpu {run.cpu_s_per_min:7.3f} s/min "
              f"({run.cpu_s_per_min / 60 * 100:5.2f} %)  rss {run.rss_mb:5.1f} MB  "
              f"{run.pps:7.1f} pkt/s"
              + (f"  cpu ratio hbd/{run.system} {ratio(hbd.cpu_s_per_min, run.cpu_s_per_min)}"
                 if hbd and run.system != "hbd" and hbd.cpu_s_per_min is not None else ""))
    if floor_values:
        print(f"\n## floor: bare IP + MAC + hostname + route + gratuitous ARP, client-seen: "
              f"median {fmt(statistics.median(floor_values))} ms, "
              f"max {fmt(max(floor_values))} ms over {len(floor_values)}")
    problems = [(r.system, r.timing, label, p) for r in runs for label, rs in r.results.items()
                for x in rs for p in x.problems]
    for system, timing, label, problem in problems[:40]:
        print(f"problem: {system} {timing} {label}: {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--timings", default="1000/3000,100/500")
    parser.add_argument("--systems", default="hbd,heartbeat,keepalived")
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--floor-reps", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("the benchmark builds network namespaces: run it as root", file=sys.stderr)
        return 2
    runs = []
    for timing in args.timings.split(","):
        keepalive, deadtime = (int(x) for x in timing.split("/"))
        for system in args.systems.split(","):
            print(f"== {system} at keepalive {keepalive} ms / deadtime {deadtime} ms", flush=True)
            runs.append(bench_one(system, keepalive, deadtime, args.reps, args.idle))
    print("== floor", flush=True)
    floor_values = floor(args.floor_reps) if args.floor_reps else []
    print_tables(runs, floor_values)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`hbd lab up|status|down|drill|demo`: the source scenario, for real, on this machine.

* `up` builds node0/node1/node2, the gateway and a client in namespaces and
  starts hbd on each with the shipped configuration (timings scaled down).
* `status` shows each node's daemon, addresses, MAC and hostname.
* `drill NAME --node node0|node2` runs one of the source document's tests.
* `demo` = up, every drill on node0 and node2, both primaries failing
  together, then the crash again with a STONITH device, a table, down. Exit 0
  only if every drill met its expectation.
* `down` removes everything a lab made, even after a crash of the lab itself.
"""

from __future__ import annotations

import argparse
import sys
import time

from hbd.lab import netns, session as sessions
from hbd.lab.drills import DRILLS, DrillResult, DrillRunner, HbdSystem, ms


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lab_command", metavar="VERB", required=True)
    for name, help_text in (("up", "build the lab and start hbd on every node"),
                            ("demo", "up, every drill, a table, down")):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--keepalive", type=int, default=200, metavar="MS")
        p.add_argument("--deadtime", type=int, default=1000, metavar="MS")
        p.add_argument("--warntime", type=int, metavar="MS", help="default: 60%% of deadtime")
        p.add_argument("--initdead", type=int, metavar="MS", help="default: 3 x deadtime")
        p.add_argument("--stonith", action="store_true",
                       help="give the cluster a STONITH device that powers lab nodes off")
        if name == "demo":
            p.add_argument("--report", metavar="FILE.html", help="write the drills' timelines")
            p.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    sub.add_parser("status", help="what each node runs and holds")
    sub.add_parser("down", help="remove the lab (namespaces, processes, files)")
    d = sub.add_parser("drill", help="inject one failure and report")
    d.add_argument("name", choices=DRILLS)
    d.add_argument("--node", choices=("node0", "node2"), default="node0")


def _timings(args: argparse.Namespace) -> sessions.Timings:
    warn = args.warntime or int(args.deadtime * 0.6)
    init = args.initdead or 3 * args.deadtime
    return sessions.Timings(args.keepalive, args.deadtime, warn, init)


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _up(args: argparse.Namespace, *, stonith: bool | None = None) -> sessions.Session:
    timings = _timings(args)
    _say(f"building the scenario in namespaces (keepalive {timings.keepalive_ms} ms, "
         f"deadtime {timings.deadtime_ms} ms)")
    session = sessions.up(timings=timings,
                          stonith=args.stonith if stonith is None else stonith)
    session.services.watch()
    runner = DrillRunner(session.lab, HbdSystem(session.lab), session.services, progress=_say)
    _say("waiting for vip1 on node0 and vip2 on node2")
    runner.steady(("node0", "node2"), timeout=30 + 3 * timings.initdead_ms / 1000)
    return session


def table(results: list[DrillResult]) -> str:
    head = ("drill", "node", "met", "detection", "outage", "answered by", "failback",
            "other VIP", "node1 restored")
    rows = [head]
    for r in results:
        rows.append((r.drill, r.primary, "yes" if r.ok else "NO", ms(r.detection),
                     ms(r.outage), f"{r.taker[0]} as {r.taker[1]}" if r.taker else "-",
                     ms(r.failback_outage), ms(r.other_outage), "yes" if r.restored else "no"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    problems = [f"{r.drill} {r.primary}: {p}" for r in results for p in r.problems]
    notes = [f"{r.drill} {r.primary}: {n}" for r in results for n in r.notes]
    return "\n".join(lines + [""] + [f"problem: {p}" for p in problems]
                     + [f"note: {n}" for n in notes])


def _run_plan(args: argparse.Namespace, plan, *, stonith: bool, first: int, total: int):
    """Bring a lab up, run `plan` [(drill, primaries)], take it down: (results, probes)."""
    results: list[DrillResult] = []
    probes = []
    session = None
    try:
        session = _up(args, stonith=stonith)
        runner = DrillRunner(session.lab, HbdSystem(session.lab), session.services,
                             progress=_say)
        for number, (drill, primaries) in enumerate(plan, first):
            what = f"{drill} on {' and '.join(primaries)}" + (" with STONITH" if stonith else "")
            _say(f"drill {number}/{total}: {what}")
            try:
                result = runner.run(drill, primaries)
            except (TimeoutError, netns.NetnsError) as exc:
                result = DrillResult(drill, "+".join(primaries), "hbd")
                result.problems.append(str(exc))
            if stonith:
                result.drill += "+stonith"
            results.append(result)
        probes = session.services.probes()
    finally:
        if session is not None:
            session.services.close()
        if not args.keep:
            _say("removing the lab")
            sessions.down(sessions.PREFIX)
    return results, probes


def _demo(args: argparse.Namespace) -> int:
    plan = [(drill, (node,)) for node in ("node0", "node2") for drill in DRILLS]
    plan.append(("poweroff", ("node0", "node2")))
    # a kernel crash again, now with a fencing device: node1 powers the hung node off first
    fenced = [("crash", ("node0",)), ("crash", ("node2",))]
    total = len(plan) + (0 if args.stonith else len(fenced))
    results, probes = _run_plan(args, plan, stonith=args.stonith, first=1, total=total)
    if not args.stonith:
        more, more_probes = _run_plan(args, fenced, stonith=True, first=len(plan) + 1,
                                      total=total)
        results += more
        probes += more_probes
    text = table(results)
    print("\n" + text)
    if args.report:
        from hbd.lab.report import render
        with open(args.report, "w", encoding="utf-8") as handle:
            handle.write(render(results, probes, summary=text,
                                title="hbd lab demo: the source scenario's failure tests"))
        _say(f"report written to {args.report}")
    met = sum(r.ok for r in results)
    _say(f"{met} of {len(results)} drills met their expectation")
    return 0 if met == len(results) else 1


def _status() -> int:
    session = sessions.attach()
    for name, node in session.lab.nodes.items():
        state = "running" if node.running() else "stopped"
        doc = node.status() if state == "running" else None
        held = [g["key"].split("::")[1].split("/")[0] for g in (doc or {}).get("groups", [])
                if g["state"] != "stopped"]
        print(f"{name}: hbd {state} ({doc['status'] if doc else '-'}), eth0 "
              f"{', '.join(node.addresses())} {node.mac()}, hostname {node.hostname()}, "
              f"holds {', '.join(held) or 'nothing'}")
    return 0


def _drill(args: argparse.Namespace) -> int:
    session = sessions.attach()
    session.services.probe_log = f"{session.lab.workdir}/probe-{int(time.time())}.jsonl"
    session.services.watch()
    try:
        runner = DrillRunner(session.lab, HbdSystem(session.lab), session.services,
                             progress=_say)
        result = runner.run(args.name, (args.node,))
    finally:
        session.services.close()
    print("\n" + table([result]))
    return 0 if result.ok else 1


def run(args: argparse.Namespace) -> int:
    try:
        if args.lab_command == "up":
            session = _up(args)
            session.services.close()
            _say("lab is up: 'hbd lab status', 'hbd lab drill stop --node node0', 'hbd lab down'")
            return 0
        if args.lab_command == "demo":
            return _demo(args)
        if args.lab_command == "status":
            return _status()
        if args.lab_command == "drill":
            return _drill(args)
        removed = sessions.down()
        _say(f"lab removed ({len(removed)} namespaces)")
        return 0
    except (netns.NetnsError, TimeoutError) as exc:
        print(f"hbd lab: {exc}", file=sys.stderr)
        return 1

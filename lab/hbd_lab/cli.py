"""`hbd-lab up|status|drill|demo|down|render-conf` (also `hbd lab ...` once installed).

* `up` builds node0/node1/node2, the gateway and a client in namespaces and
  starts hbd on each with the shipped configuration (timings scaled down).
* `status` shows each node's daemon, addresses, MAC and hostname.
* `drill NAME --node node0|node2` runs one drill (scenario.py's table).
* `demo` = up, every drill on node0 and node2, both primaries powered off
  together, then `hang` again with a STONITH device, a table, down. Exit 0
  only if every drill met its expectation.
* `down` removes everything a lab made, even after a crash of the lab itself.
* `cts [--tests T,...] [--iterations N] [--system hbd|heartbeat]` runs
  heartbeat's own Cluster Test Suite on a fresh lab (hbd_lab/cts) and prints
  CTS's summary; exit 0 only if no test failed.
* `render-conf [--check]` writes conf/'s identity scripts from the one
  template (or, with --check, says whether they are up to date).
"""

from __future__ import annotations

import argparse
import sys
import time

from hbd_lab import identity, netns, session as sessions
from hbd_lab.cluster import CONF_ROOT
from hbd_lab.drills import DRILLS, DrillResult, DrillRunner, HbdSystem, ms

DEMO_HBLAN_CUT = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lab_command", metavar="VERB", required=True)
    for name, help_text in (("up", "build the lab and start hbd on every node"),
                            ("demo", "up, every drill, a table, down")):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--keepalive", type=int, default=200, metavar="MS",
                       help="ha.cf keepalive for every node (default 200 ms)")
        p.add_argument("--deadtime", type=int, default=1000, metavar="MS",
                       help="ha.cf deadtime (and deadping) for every node (default 1000 ms)")
        p.add_argument("--warntime", type=int, metavar="MS", help="default: 60%% of deadtime")
        p.add_argument("--initdead", type=int, metavar="MS", help="default: 3 x deadtime")
        p.add_argument("--stonith", action="store_true",
                       help="give the cluster a STONITH device that powers lab nodes off")
        p.add_argument("--watchdog", action="store_true",
                       help="give each node a watchdog device (ha.cf 'watchdog') that powers "
                            "it off when its daemon stops petting it for deadtime")
        if name == "demo":
            p.add_argument("--report", metavar="FILE.html", help="write the drills' timelines")
            p.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
            p.add_argument("--hblan-cut", type=float, default=DEMO_HBLAN_CUT, metavar="S",
                           help=f"how long hblan cuts the heartbeat LAN (default "
                                f"{DEMO_HBLAN_CUT:g} s)")
    sub.add_parser("status", help="what each node runs and holds")
    sub.add_parser("down", help="remove the lab (namespaces, processes, files)")
    d = sub.add_parser("drill", help="inject one failure and report")
    d.add_argument("name", choices=DRILLS)
    d.add_argument("--node", choices=("node0", "node2"), default="node0")
    d.add_argument("--hold", type=float, metavar="S",
                   help="how long the failure lasts (default: the drill's own)")
    c = sub.add_parser("cts", help="heartbeat's Cluster Test Suite against the lab",
                       description="heartbeat's Cluster Test Suite (CTS) on a fresh lab")
    c.add_argument("--system", choices=("hbd", "heartbeat"), default="hbd",
                   help="the daemon on the nodes (default hbd)")
    c.add_argument("--tests", metavar="T,...",
                   help="CTS test names or classes, e.g. Flip,standby,DetectionTime "
                        "(default: every test that applies to a haresources cluster)")
    c.add_argument("--iterations", type=int, default=1, metavar="N",
                   help="runs of each test (default 1)")
    c.add_argument("--seed", type=int, default=1, help="CTS's random seed (node choice)")
    c.add_argument("--out", metavar="DIR", help="where CTS's log and the cluster log go "
                   "(default /run/hbd-lab/hbdcts-cts)")
    r = sub.add_parser("render-conf", help="write conf/'s Remac scripts from the template")
    r.add_argument("--check", action="store_true", help="only say whether they are up to date")


def _timings(args: argparse.Namespace) -> sessions.Timings:
    warn = args.warntime or int(args.deadtime * 0.6)
    init = args.initdead or 3 * args.deadtime
    return sessions.Timings(args.keepalive, args.deadtime, warn, init)


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _runner(session: sessions.Session, **kwargs) -> DrillRunner:
    return DrillRunner(session.lab, HbdSystem(session.lab), session.services,
                       deadtime=session.deadtime, stonith=session.stonith,
                       watchdog=session.watchdog, progress=_say,
                       **kwargs)


def _up(args: argparse.Namespace, *, stonith: bool | None = None) -> sessions.Session:
    timings = _timings(args)
    _say(f"building the scenario in namespaces (keepalive {timings.keepalive_ms} ms, "
         f"deadtime {timings.deadtime_ms} ms)")
    session = sessions.up(timings=timings, stonith=args.stonith if stonith is None else stonith,
                          watchdog=args.watchdog)
    session.services.watch()
    _say("waiting for vip1 on node0 and vip2 on node2")
    _runner(session).steady(timeout=30 + 3 * timings.initdead_ms / 1000)
    return session


def table(results: list[DrillResult]) -> str:
    head = ("drill", "node", "met", "detection", "outage", "identity", "answered by",
            "failback", "other VIP", "two holders", "node1 restored")
    rows = [head]
    for r in results:
        two = max(r.two_holders.values(), default=None)
        rows.append((r.drill, r.primary, "yes" if r.ok else "NO", ms(r.detection),
                     ms(r.outage), ms(r.identity),
                     f"{r.taker[0]} as {r.taker[1]}" if r.taker else "-",
                     ms(r.failback_outage), ms(r.other_outage), ms(two),
                     "yes" if r.restored else "no"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    problems = [f"{r.drill} {r.primary}: {p}" for r in results for p in r.problems + r.late]
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
        runner = _runner(session, hblan_cut=args.hblan_cut)
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
    plan: list[tuple[str, tuple[str, ...]]] = [(drill, (node,)) for node in ("node0", "node2")
                                               for drill in DRILLS]
    plan.append(("poweroff", ("node0", "node2")))
    # hbd hung again, now with a fencing device: node1 powers the hung node off first
    fenced = [("hang", ("node0",)), ("hang", ("node2",))]
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
        from hbd_lab.report import render
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
        result = _runner(session).run(args.name, (args.node,), hold=args.hold)
    finally:
        session.services.close()
    print("\n" + table([result]))
    return 0 if result.ok else 1


def _render_conf(args: argparse.Namespace) -> int:
    files = identity.conf_files(CONF_ROOT)
    if args.check:
        stale = [str(p) for p, text in files.items()
                 if not p.exists() or p.read_text(encoding="utf-8") != text]
        for stale_path in stale:
            print(f"{stale_path}: not what the template renders (run 'hbd-lab render-conf')")
        return 1 if stale else 0
    for path in identity.write_conf(CONF_ROOT):
        print(f"wrote {path}")
    return 0


def _cts(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hbd_lab.cts import run as cts

    tests = [t for t in (args.tests or "").split(",") if t]
    _say(f"CTS against {args.system}: {', '.join(tests) or 'every applicable test'}, "
         f"{args.iterations} iteration(s) each")
    result = cts.run(system=args.system, tests=tests, iterations=args.iterations,
                     seed=args.seed, out_dir=Path(args.out) if args.out else None, echo=False)
    print("\n".join(result.summary) or "CTS printed no summary (see its log)")
    _say(f"CTS log: {result.ctslog}; cluster log: {result.cluster_log}")
    return 0 if result.passed else 1


def run(args: argparse.Namespace) -> int:
    try:
        if args.lab_command == "up":
            session = _up(args)
            session.services.close()
            _say("lab is up: 'hbd-lab status', 'hbd-lab drill stop --node node0', "
                 "'hbd-lab down'")
            return 0
        if args.lab_command == "demo":
            return _demo(args)
        if args.lab_command == "status":
            return _status()
        if args.lab_command == "drill":
            return _drill(args)
        if args.lab_command == "render-conf":
            return _render_conf(args)
        if args.lab_command == "cts":
            return _cts(args)
        removed = sessions.down()
        _say(f"lab removed ({len(removed)} namespaces)")
        return 0
    except (netns.NetnsError, TimeoutError) as exc:
        print(f"hbd-lab: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None, prog: str = "hbd-lab") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

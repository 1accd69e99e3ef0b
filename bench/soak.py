"""Soak at the edge: the scenario's three nodes at keepalive 10 ms / deadtime 50 ms,
with loss on the heartbeat LAN, for minutes (issue 12).

    sudo .venv/bin/python bench/soak.py [--minutes 10] [--keepalive 10] [--deadtime 50]
        [--loss 5] [--no-ping] [--record PATH] [--keep-logs DIR]

The lab (`hbd_lab.session.up`, the shipped conf/node*/ with these timings:
warntime max(2 x keepalive, 0.6 x deadtime), deadping = deadtime, the ping
node kept unless `--no-ping`) comes up, the client probes both VIPs every 10
ms, and once each VIP is answered by its primary, nftables in every node's
namespace drops `--loss` % of what arrives on eth2 (`numgen random`). Then,
for `--minutes`, nothing else is injected, so every death, every resource
operation and every change of who answers a VIP is a false failover.

Recorded (printed, and appended to bench/results/soak-<date>.txt): per node
the CPU (% of one core over the window), RSS, "is dead" lines, late
heartbeats (log lines and the core's counter), resource operations, packets
dropped by the loss rule and by the kernel for a full receive buffer; per VIP the longest gap the client saw and
who answered. Each false failover is printed with the log lines around it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "lab")]

from bench.scale import CLK_TCK, cpu_ticks_of, rss_kb_of, udp_counters  # noqa: E402
from hbd_lab import session as sessions, timeline  # noqa: E402
from hbd_lab.scenario import VIPS  # noqa: E402

PREFIX = "hbdsoak"
TABLE = "hbdsoak"
CONTEXT = 6                      # log lines shown before and after a false failover
ALARMS = ("is dead", "resource operation", "taking over", "STONITH", "fences itself")


@dataclass
class NodeFigures:
    cpu_pct: float = 0.0
    rss_mb: float = 0.0
    deaths: int = 0
    late_lines: int = 0
    late_counter: int | None = None
    resource_ops: int = 0
    dropped: int = 0              # by the loss rule
    rcvbuf: int = 0               # by the kernel: the receive buffer was full


@dataclass
class Soak:
    keepalive_ms: int
    deadtime_ms: int
    loss_pct: int
    ping: bool
    seconds: float = 0.0
    nodes: dict[str, NodeFigures] = field(default_factory=dict)
    vips: dict[str, tuple[float | None, list[str]]] = field(default_factory=dict)
    alarms: list[str] = field(default_factory=list)   # each with its context
    error: str | None = None

    @property
    def false_failovers(self) -> int:
        return sum(n.deaths + n.resource_ops for n in self.nodes.values()) + sum(
            1 for _, who in self.vips.values() if len(who) != 1)


def timings(keepalive: int, deadtime: int) -> sessions.Timings:
    return sessions.Timings(keepalive, deadtime, max(2 * keepalive, int(deadtime * 0.6)),
                            max(2 * deadtime, 3000))


def add_loss(session, pct: int) -> None:
    for name in session.lab.names:
        session.lab[name].ns.run(["nft", "-f", "-"], input=(
            f"table inet {TABLE} {{\n chain input {{\n  type filter hook input priority 0;\n"
            f'  iifname "eth2" numgen random mod 100 < {pct} counter drop\n }}\n}}\n'))


def dropped(session, name: str) -> int:
    out = session.lab[name].ns.run(["nft", "list", "table", "inet", TABLE], check=False).stdout
    try:
        return int(out.split("packets ")[1].split()[0])
    except (IndexError, ValueError):
        return 0


def late_counter(node) -> int | None:
    doc = node.status()
    return None if doc is None else int(doc.get("counters", {}).get("late_heartbeats", 0))


def wait_steady(session, timeout: float) -> None:
    """Each VIP answered by its primary (the client's probes), bounded."""
    start = time.monotonic()
    end = start + timeout
    while time.monotonic() < end:
        probes = session.services.probes()
        if all(any(p.ok and p.node == primary and p.t >= start
                   for p in timeline.for_target(probes, vip))
               for primary, (vip, _, _) in VIPS.items()):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the VIPs are not answered by their primaries after {timeout:.0f} s")


def context(text: str, needles: tuple[str, ...]) -> list[str]:
    """Every line holding one of `needles`, with CONTEXT lines around it (runs of
    nearby hits merged into one excerpt)."""
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if any(n in line for n in needles)]
    out: list[str] = []
    end = -1
    for i in hits:
        lo, hi = max(0, i - CONTEXT, end + 1), i + CONTEXT + 1
        if lo > end + 1 and out:
            out.append("  ...")
        out += lines[lo:hi]
        end = max(end, hi - 1)
    return out


def window(session, soak: Soak, seconds: float, progress=print) -> None:
    lab = session.lab
    names = lab.names
    late0 = {n: late_counter(lab[n]) for n in names}     # hbctl: Python start-ups, so
    pause = time.monotonic() + 2.0                       # they are over before the window
    while time.monotonic() < pause:
        time.sleep(0.2)
    offsets = {n: len(lab[n].log_text()) for n in names}
    ticks = {n: cpu_ticks_of(lab[n].pids()) for n in names}
    rcvbuf = {n: udp_counters(lab[n].ns)[0] for n in names}
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end:           # bounded by `end`; a line a minute
        time.sleep(min(60.0, max(0.0, end - time.monotonic())))
        deaths = sum(lab[n].log_text()[offsets[n]:].count("is dead (") for n in names)
        progress(f"  soak {time.monotonic() - start:.0f}/{seconds:.0f} s, deaths {deaths}")
    soak.seconds = time.monotonic() - start
    for n in names:
        text = lab[n].log_text()[offsets[n]:]
        late1, before = late_counter(lab[n]), late0[n]
        soak.nodes[n] = NodeFigures(
            cpu_pct=(cpu_ticks_of(lab[n].pids()) - ticks[n]) / CLK_TCK / soak.seconds * 100,
            rss_mb=rss_kb_of(lab[n].pids()) / 1024, deaths=text.count("is dead ("),
            late_lines=text.count("Late heartbeat"),
            late_counter=None if before is None or late1 is None else late1 - before,
            resource_ops=text.count("resource operation"), dropped=dropped(session, n),
            rcvbuf=udp_counters(lab[n].ns)[0] - rcvbuf[n])
        found = context(text, ALARMS)
        if found:
            soak.alarms += [f"--- {n} ---", *found]
    probes = session.services.probes()
    t0, t1 = end - seconds, end
    for vip, _, _ in VIPS.values():
        mine = timeline.for_target(probes, vip)
        gap = timeline.outage(mine, t0, t1)
        soak.vips[vip] = (None if gap is None else gap.seconds,
                          sorted({p.node or "?" for p in mine if p.ok and t0 <= p.t <= t1}))


def run(minutes: float, keepalive: int = 10, deadtime: int = 50, loss: int = 5, *,
        ping: bool = True, prefix: str = PREFIX, keep_logs: str | None = None,
        progress=print) -> Soak:
    soak = Soak(keepalive, deadtime, loss, ping)
    session = None
    try:
        progress(f"lab up at keepalive {keepalive} ms / deadtime {deadtime} ms")
        session = sessions.up(timings=timings(keepalive, deadtime), prefix=prefix, ping=ping)
        session.services.watch()
        wait_steady(session, 90)
        add_loss(session, loss)
        progress(f"{loss} % loss on eth2; soaking for {minutes * 60:.0f} s")
        window(session, soak, minutes * 60, progress)
    except Exception as exc:  # noqa: BLE001 - reported in the table, the lab still goes
        soak.error = f"{type(exc).__name__}: {exc}"
    finally:
        if session is not None:
            session.services.close()
            if keep_logs:
                os.makedirs(keep_logs, exist_ok=True)
                for node in session.lab.nodes.values():
                    with open(os.path.join(keep_logs, f"{node.name}.log"), "w") as out:
                        out.write(node.log_text())
        sessions.down(prefix)
    return soak


def table(soak: Soak) -> list[str]:
    head = (f"soak: keepalive {soak.keepalive_ms} ms / deadtime {soak.deadtime_ms} ms, "
            f"{soak.loss_pct} % loss on the heartbeat LAN, ping node "
            f"{'kept' if soak.ping else 'removed'}, {soak.seconds:.0f} s")
    lines = [head, "-" * len(head),
             f"{'node':<6} {'cpu %':>6} {'rss MB':>7} {'deaths':>7} {'late (log)':>10} "
             f"{'late (ctr)':>10} {'rsc ops':>8} {'dropped':>8} {'rcvbuf':>7}"]
    for name, f in soak.nodes.items():
        ctr = "-" if f.late_counter is None else str(f.late_counter)
        lines.append(f"{name:<6} {f.cpu_pct:>6.2f} {f.rss_mb:>7.1f} {f.deaths:>7} "
                     f"{f.late_lines:>10} {ctr:>10} {f.resource_ops:>8} {f.dropped:>8} "
                     f"{f.rcvbuf:>7}")
    for vip, (gap, who) in soak.vips.items():
        text = "-" if gap is None else f"{gap * 1000:.0f} ms"
        lines.append(f"{vip}: longest gap {text}, answered by {', '.join(who) or 'nobody'}")
    if soak.nodes:
        lines.append(f"CPU per node (mean): "
                     f"{statistics.mean(f.cpu_pct for f in soak.nodes.values()):.2f} % of a core")
    lines.append(f"false failovers (deaths + resource operations + VIPs answered by another "
                 f"node): {soak.false_failovers}")
    if soak.error:
        lines.append(f"error: {soak.error}")
    if soak.alarms:
        lines += ["", "what happened (log lines around each death / resource operation):",
                  *soak.alarms]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--keepalive", type=int, default=10, help="ms")
    ap.add_argument("--deadtime", type=int, default=50, help="ms")
    ap.add_argument("--loss", type=int, default=5, help="%% of eth2's input dropped")
    ap.add_argument("--no-ping", action="store_true", help="the ha.cf without its ping node")
    ap.add_argument("--record", help="file the table is appended to")
    ap.add_argument("--keep-logs", metavar="DIR", help="copy each node's hbd log there")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))      # the lab goes on SIGTERM
    first = (f"$ bench/soak.py {' '.join(sys.argv[1:])}    "
             f"({datetime.datetime.now().isoformat(timespec='seconds')}, "
             f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")
    print(first, flush=True)
    soak = run(args.minutes, args.keepalive, args.deadtime, args.loss, ping=not args.no_ping,
               keep_logs=args.keep_logs, progress=lambda t: print(t, flush=True))
    lines = table(soak)
    print("\n".join(["", *lines]), flush=True)
    path = args.record or os.path.join(REPO, "bench", "results",
                                       f"soak-{datetime.date.today().isoformat()}.txt")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n".join([first, "", *lines]) + "\n\n")
    print(f"\nrecorded in {path}")


if __name__ == "__main__":
    main()

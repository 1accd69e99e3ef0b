"""A 60-second flood of node1 from the heartbeat LAN while the cluster runs (issue 10's acceptance).

    python bench/flood.py [--seconds 60] [--rate 20000] [--kinds wrongkey,replay,oldreplay]

Root only (network namespaces). For each kind, builds the scenario's lab at
keepalive 200 ms / deadtime 1 s, lets it settle, records node1's hbd CPU for
10 s idle, then floods node1 from an attacker namespace on the heartbeat
switch spoofing node0's address (tests/netns/flood_lab.py, flood_driver.py),
and prints one line per kind: datagrams sent and rate, node1's CPU idle and
during the flood, false deaths, the longest gap on each VIP and who answered
it, and node1's admission counters. Exit status 0 when no kind disturbed the
cluster. tests/netns/test_flood.py runs the same experiment for 15 s in CI.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hbd_lab.drills import VIPS
from tests.netns.conftest import unique_prefix
from tests.netns.flood_lab import run_flood

COUNTERS = ("received", "dropped_duplicate", "dropped_unauthenticated", "dropped_stale_claim",
            "dropped_stale_rate", "dropped_queue_full", "delivered")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--kinds", default="wrongkey,replay,oldreplay")
    args = parser.parse_args()
    print(f"{'kind':<10} {'sent':>9} {'rate/s':>7} {'cpu idle':>8} {'cpu flood':>9} "
          f"{'deaths':>6} " + " ".join(f"{'gap ' + VIPS[p][0]:>18}" for p in VIPS)
          + "  answered by  problems")
    failed = False
    counters = []
    for kind in args.kinds.split(","):
        r = run_flood(unique_prefix(), rate=args.rate, seconds=args.seconds, kind=kind)
        problems = r.problems()
        failed |= bool(problems)
        gaps = " ".join(f"{(str(int(1000 * g)) + ' ms') if g is not None else '-':>18}"
                        for g in (r.gaps.get(VIPS[p][0]) for p in VIPS))
        who = ",".join("/".join(sorted(r.answered.get(VIPS[p][0], set()))) for p in VIPS)
        print(f"{kind:<10} {r.sent:>9} {r.achieved_rate:>7.0f} {r.idle_cpu:>7.1f}% "
              f"{r.flood_cpu:>8.1f}% {len(r.deaths):>6} {gaps}  {who:<12} "
              f"{'; '.join(problems) or 'none'}", flush=True)
        counters.append((kind, r.counters))
    print("\nnode1's receive counters at the end of each run:")
    print(f"{'kind':<10} " + " ".join(f"{c:>24}" for c in COUNTERS))
    for kind, found in counters:
        print(f"{kind:<10} " + " ".join(f"{found.get(c, 0):>24}" for c in COUNTERS))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

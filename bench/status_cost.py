"""What one routine status costs a node: decode (authenticated) and the core.

    python bench/status_cost.py [--nodes 3 16 64] [--seconds 2] [--profile]

For a cluster of N nodes (N-1 primaries with a group each... as the sim's
`n_node_configs`), one node's core is booted and settled with every peer
active; then the routine statuses its peers send (sha1-signed, as on the wire)
are fed in a loop: `decode` + `Cluster.handle(PacketReceived)` + the timer the
core asks for. Prints microseconds per received status, split into decode and
core, and the per-status cost should not grow with N (issue 12). `--profile`
prints the top of a cProfile of the core part.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import sys
import time
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hbd.config.model import AuthKeys  # noqa: E402
from hbd.core.actions import Send  # noqa: E402
from hbd.core.cluster import Cluster  # noqa: E402
from hbd.core.events import PacketReceived, Started, TimerFired  # noqa: E402
from hbd.wire.codec import Accepted, decode, encode  # noqa: E402
from tests.sim.configs import n_node_configs  # noqa: E402

KEYS = AuthKeys.single("sha1", "bench-key")
TIMINGS = dict(keepalive=0.2, deadtime=1.0, warntime=0.5, initdead=2.0, deadping=1.0)


def peer_statuses(configs, me: str, now: float) -> list[bytes]:
    """One routine status from every other node, as bytes on the wire."""
    out = []
    for name, config in configs.items():
        if name == me:
            continue
        core = Cluster(replace(config, authkeys=KEYS), generation=5, uuid=name.encode()[:16]
                       .ljust(16, b"."), now=now, rng=random.Random(1))
        sends = [a for a in core.handle(Started(), now=now) if isinstance(a, Send)]
        out.append(encode(sends[-1].message.with_field("st", "active"), KEYS))
    return out


def run(n: int, seconds: float, profile: bool) -> dict[str, float]:
    configs = n_node_configs(n, **TIMINGS)
    me = sorted(configs)[-1]                   # a standby
    core = Cluster(replace(configs[me], authkeys=KEYS), generation=5, uuid=b"m" * 16,
                   now=0.0, rng=random.Random(2))
    core.handle(Started(), now=0.0)
    wires = peer_statuses(configs, me, 0.0)
    now = 0.01
    seqs = {}
    decoded = 0.0
    core_t = 0.0
    count = 0
    prof = cProfile.Profile() if profile else None
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for data in wires:
            t0 = time.perf_counter()
            result = decode(data, KEYS)
            t1 = time.perf_counter()
            assert isinstance(result, Accepted)
            msg = result.message
            src = msg.get("src")
            seqs[src] = seqs.get(src, 0) + 1
            msg = msg.with_field("seq", f"{seqs[src]:x}")     # a fresh status each time
            t2 = time.perf_counter()
            if prof:
                prof.enable()
            core.handle(PacketReceived(msg, "eth2"), now=now)
            deadline_at = core.next_deadline()
            if deadline_at is not None and deadline_at <= now:
                core.handle(TimerFired(), now=now)
            if prof:
                prof.disable()
            t3 = time.perf_counter()
            decoded += t1 - t0
            core_t += t3 - t2
            count += 1
            now += TIMINGS["keepalive"] / len(wires)
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(18)
    return {"nodes": n, "statuses": count, "decode_us": decoded / count * 1e6,
            "core_us": core_t / count * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, nargs="+", default=[3, 16, 64])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    print(f"{'nodes':>6} {'statuses':>9} {'decode us':>10} {'core us':>8} {'total us':>9}")
    for n in args.nodes:
        r = run(n, args.seconds, args.profile)
        print(f"{r['nodes']:>6} {r['statuses']:>9} {r['decode_us']:>10.1f} {r['core_us']:>8.1f} "
              f"{r['decode_us'] + r['core_us']:>9.1f}")


if __name__ == "__main__":
    main()

"""Golden trace digests: a refactor of the core must not change what it does.

For a fixed set of seeds, a chaos run of the scenario (and a few hand-made
drills) gives a trace; its sha256 is kept in `trace_digests.txt`. A change
that is meant to alter behaviour regenerates the file on purpose:

    HBD_REGEN_DIGESTS=1 .venv/bin/python -m pytest tests/sim/test_trace_digests.py

and the commit says why. A change meant to be a pure refactor must leave the
file untouched (issue 13: "the per-seed trace digests are unchanged").
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.sim.configs import CHAOS
from tests.sim.harness import Faults, scenario_sim

GOLDEN = Path(__file__).with_name("trace_digests.txt")
SEEDS = range(40)


def chaos_digest(seed: int) -> str:
    sim = scenario_sim(seed, strict=False, ping_interval=1.0, **CHAOS)
    sim.chaos(60.0, Faults())
    sim.recover()
    sim.run_for(12.0)
    return sim.trace_digest()


def drill_digest(name: str) -> str:
    sim = scenario_sim(7, keepalive=0.2, deadtime=1.0, warntime=0.5, initdead=2.0,
                       deadping=1.0)
    sim.run_for(5.0)
    node = "node2" if name.endswith("2") else "node0"
    kind = name.rstrip("2")
    if kind == "stop":
        sim.stop(node)
    elif kind == "kill":
        sim.kill_daemon(node)
    elif kind == "poweroff":
        sim.power_off(node)
    elif kind == "unplug":
        sim.unplug(node)
    elif kind == "freeze":
        sim.freeze(node)
    elif kind == "hblan":
        for other in sim.names:
            if other != node:
                sim.partition(node, other)
    sim.run_for(4.0)
    if kind in ("unplug",):
        sim.plug(node)
    elif kind == "freeze":
        sim.thaw(node)
    elif kind == "hblan":
        sim.heal()
    else:
        sim.start(node) if kind != "kill" else sim.restart(node)
    sim.run_for(6.0)
    return sim.trace_digest()


DRILLS = ("stop", "kill", "poweroff", "unplug", "freeze", "hblan", "stop2", "unplug2")


def current() -> dict[str, str]:
    out = {f"chaos-{seed}": chaos_digest(seed) for seed in SEEDS}
    out.update({f"drill-{name}": drill_digest(name) for name in DRILLS})
    return out


def read_golden() -> dict[str, str]:
    out = {}
    for line in GOLDEN.read_text().splitlines():
        if line and not line.startswith("#"):
            key, digest = line.split()
            out[key] = digest
    return out


def test_trace_digests_match_the_golden_list():
    now = current()
    if os.environ.get("HBD_REGEN_DIGESTS"):
        GOLDEN.write_text("# tests/sim/test_trace_digests.py: key sha256-of-trace\n"
                          + "".join(f"{k} {v}\n" for k, v in now.items()))
        pytest.skip("regenerated trace_digests.txt")
    golden = read_golden()
    changed = sorted(k for k in golden if now.get(k) != golden[k])
    assert not changed, (f"{len(changed)} traces differ from tests/sim/trace_digests.txt: "
                         f"{changed[:10]} (regenerate only for an intended change)")

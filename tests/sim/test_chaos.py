"""Seed sweeps: random faults on the scenario's cluster, then recovery.

Each seed draws a fault schedule (loss up to 30 %, delays, duplicates,
replays, partitions including one-way, power-offs, killed daemons, kernel
freezes, graceful stops, pulled cables, ping loss, failing starts) for
CHAOS_S simulated seconds with short timings. Throughout, the auditor raises if
two nodes hold one group/IP/MAC while the cluster has been clean for longer
than deadtime + keepalive + 1 s. Then everything is healed and brought back,
and after 3 x deadtime + op time each group has exactly one owner and no node
holds a group partially.

A failure names the seed: rerun it alone with
`pytest tests/sim/test_chaos.py -k "[SEED]"` and read the trace in the message.
"""

from __future__ import annotations

import os

import pytest

from tests.sim.configs import CHAOS
from tests.sim.harness import DEFAULT_OP_TIME, Faults, InvariantViolation, scenario_sim

# Longer soaks: HBD_CHAOS_SEEDS=3000 HBD_CHAOS_SECONDS=300 pytest -n 2 tests/sim/test_chaos.py
SEEDS = int(os.environ.get("HBD_CHAOS_SEEDS", 300))
CHAOS_S = float(os.environ.get("HBD_CHAOS_SECONDS", 100.0))
SETTLE_S = 3 * CHAOS["deadtime"] + 8 * DEFAULT_OP_TIME[1]
PING_INTERVAL = 1.0     # the pinger's period here (deadping 3 s covers 2 missed replies)


try:     # a node whose start failed is not eligible for the group for this long
    from hbd.core.takeover import START_FAILURE_HOLDOFF
except ImportError:
    START_FAILURE_HOLDOFF = 30.0


def run_chaos(seed: int, faults: Faults = Faults(), **kw):
    sim = scenario_sim(seed, ping_interval=PING_INTERVAL, **CHAOS, **kw)
    sim.chaos(CHAOS_S, faults)
    # Heal the network and bring every node back, then give it time to settle
    # (longer if a start failed recently: its hold-off may keep a group away from
    # home until it expires, and the failback must have time to finish).
    sim.recover()
    failures = [o["end"] for o in sim.ops if o["ok"] is False]
    settle_until = max([sim.now] + [t + START_FAILURE_HOLDOFF for t in failures]) + SETTLE_S
    sim.run_for(settle_until - sim.now)
    return sim


@pytest.mark.parametrize("seed", range(SEEDS))
def test_one_owner_after_chaos(seed):
    try:
        sim = run_chaos(seed)
    except InvariantViolation as exc:
        pytest.fail(f"seed {seed}: invariant violated during chaos\n{exc}", pytrace=False)
    problems = sim.convergence_problems()
    assert not problems, f"seed {seed}: {problems}\n{sim.report()}"

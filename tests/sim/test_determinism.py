"""FDB's unseed check: one seed, one trace."""

from __future__ import annotations

from tests.sim.configs import CHAOS
from tests.sim.harness import Faults, scenario_sim


def digest(seed: int) -> str:
    sim = scenario_sim(seed, strict=False, **CHAOS)
    sim.chaos(60.0, Faults())
    sim.recover()
    sim.run_for(10.0)
    return sim.trace_digest()


def test_same_seed_gives_the_same_trace():
    assert digest(11) == digest(11)


def test_different_seeds_give_different_traces():
    assert digest(11) != digest(12)


def test_scenario_drill_is_reproducible():
    def run() -> list[str]:
        sim = scenario_sim(3)
        sim.run_for(10.0)
        sim.power_off("node0")
        sim.run_for(70.0)
        sim.start("node0")
        sim.run_for(10.0)
        return sim.trace
    assert run() == run()

"""STONITH before takeover (ha.cf `stonith_host`), in the simulation.

The scenario with a fencing device: a primary that hangs (frozen, holding its
identity) is fenced by the node that takes its group over, and only then is
the group started; a failed fence is retried and the group waits. The sim's
device powers the target off after `fence_time`.
"""

from __future__ import annotations

from dataclasses import replace

from hbd.config.model import Stonith
from hbd.core.fencing import FENCE_RETRY
from tests.sim.configs import SHORT, VIP1, VIP2, scenario_configs
from tests.sim.harness import NodeState, Sim

DEVICE = Stonith("external/hbdlab", ("prefix=lab",), host="*")


def fenced_sim(seed: int = 0) -> Sim:
    configs = {name: replace(c, hacf=replace(c.hacf, stonith=(DEVICE,)))
               for name, c in scenario_configs(**SHORT).items()}
    sim = Sim(configs, seed)
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"] and sim.owners(VIP2) == ["node2"],
                  timeout=4 * SHORT["initdead"])
    return sim


def test_hung_primary_is_fenced_before_its_group_is_taken_over():
    sim = fenced_sim()
    t0 = sim.now
    sim.freeze("node0")                       # hung, still holding vip1's identity
    sim.run_until(lambda: sim.owners(VIP1) == ["node1"], timeout=SHORT["deadtime"] + 5)
    # node1, the taker, fenced node0; node2 (not taking anything) did not.
    assert [(fencer, target) for _, fencer, target in sim.fences] == [("node1", "node0")]
    t_fence = sim.fences[0][0]
    assert t_fence >= t0 + SHORT["deadtime"] - SHORT["keepalive"]
    starts = sim.op_log("node1", "start", VIP1, t0)
    assert starts and min(o["begin"] for o in starts) >= t_fence + sim.fence_time
    assert sim.nodes["node0"].state is NodeState.DOWN      # the device reset it
    assert sim.holders(VIP1) == ["node1"]                  # never two holders
    assert sim.owners(VIP2) == ["node2"] and sim.op_log("node2", "start", VIP1, t0) == []


def test_failed_fence_is_retried_and_the_group_waits():
    sim = fenced_sim()
    sim.fence_fails = 1
    t0 = sim.now
    sim.freeze("node0")
    sim.run_until(lambda: sim.owners(VIP1) == ["node1"],
                  timeout=SHORT["deadtime"] + FENCE_RETRY + 5)
    assert len(sim.fences) == 2 and sim.fences[1][0] - sim.fences[0][0] >= FENCE_RETRY
    starts = sim.op_log("node1", "start", VIP1, t0)
    assert min(o["begin"] for o in starts) >= sim.fences[1][0] + sim.fence_time


def test_graceful_stop_needs_no_fence():
    sim = fenced_sim()
    sim.stop("node0")
    sim.run_until(lambda: sim.owners(VIP1) == ["node1"], timeout=SHORT["deadtime"])
    assert sim.fences == []


def test_no_device_no_fence():
    configs = scenario_configs(**SHORT)
    sim = Sim(configs, 0)
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"], timeout=4 * SHORT["initdead"])
    sim.freeze("node0")
    sim.run_until(lambda: "node1" in sim.owners(VIP1), timeout=SHORT["deadtime"] + 5)
    assert sim.fences == []

"""How fast does the simulation run? Simulated cluster-hours per wall-clock second.

    python bench/sim_bench.py [--hours 1.0] [--budget 20] [--seed 1]

Runs an idle cluster and one with 10 % loss on every link, for 3 nodes (the
source scenario) and 16 nodes (15 primaries and one standby), with the
scenario's timings (keepalive 2 s, deadtime 60 s). Each case simulates up to
`--hours` of cluster time, stopping early once `--budget` wall seconds are
spent (the rate is what matters).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.sim.configs import SCENARIO, n_node_configs, scenario_configs  # noqa: E402
from tests.sim.harness import Sim  # noqa: E402


def run_case(nodes: int, loss: float, hours: float, budget: float, seed: int) -> dict:
    configs = scenario_configs(**SCENARIO) if nodes == 3 else n_node_configs(nodes, **SCENARIO)
    sim = Sim(configs, seed=seed, trace_ops=False)
    sim.run_for(10.0)                       # comm-up and initial placement
    if loss:
        sim.set_loss_all(loss)
    target = hours * 3600.0
    start_steps, start_sim, t0 = sim.steps, sim.now, time.perf_counter()
    while sim.now - start_sim < target and time.perf_counter() - t0 < budget:
        sim.run_for(min(10.0, target - (sim.now - start_sim)))
    wall = time.perf_counter() - t0
    simulated = sim.now - start_sim
    owners = {k: sim.owners(k) for k in sim.groups}
    return dict(nodes=nodes, loss=loss, simulated=simulated, wall=wall,
                events=sim.steps - start_steps, rate=simulated / 3600.0 / wall,
                stable=all(len(v) == 1 for v in owners.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--budget", type=float, default=20.0, help="wall seconds per case")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"{'nodes':>5} {'network':>9} {'simulated':>10} {'wall s':>7} {'events':>9} "
          f"{'events/s':>9} {'cluster-h/wall-s':>17} {'one owner':>9}")
    for nodes in (3, 16):
        for loss in (0.0, 0.1):
            r = run_case(nodes, loss, args.hours, args.budget, args.seed)
            network = "idle" if not loss else f"{loss:.0%} loss"
            print(f"{r['nodes']:>5} {network:>9} {r['simulated'] / 60:>8.1f}mn {r['wall']:>7.2f} "
                  f"{r['events']:>9} {r['events'] / r['wall']:>9.0f} {r['rate']:>17.3g} "
                  f"{'yes' if r['stable'] else 'NO':>9}", flush=True)


if __name__ == "__main__":
    main()

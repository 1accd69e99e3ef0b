"""Seed sweep: the heartbeat LAN splits, the service LAN stays up (issue 9).

Each seed picks a cluster (2, 3 or 5 nodes; with or without STONITH; with or
without a ping node) and a few heartbeat-LAN partitions in a row: one node's
cable (it sees carrier go), one node's switch port (it does not), or the LAN
split in two halves. Each partition lasts a random time (half a dead time to
three), then heals, and the cluster settles.

Asserted for every seed:
* never two physical holders of a group, IP or MAC, at any moment (the probe
  sees the holder on the service LAN; a fenced node is off before its groups
  are started elsewhere);
* never mutual fencing, and never a fence of a node that held no group;
* after the last heal (and every fenced node back), each group has exactly
  one owner.

A failure names the seed; rerun it alone with `-k "[SEED]"`.
"""

from __future__ import annotations

import os
import random
from dataclasses import replace

import pytest

from hbd.config.model import ClusterConfig, Stonith
from tests.sim.configs import GATEWAY, SHORT, group, make_config
from tests.sim.harness import NodeState, Sim

SEEDS = int(os.environ.get("HBD_PARTITION_SEEDS", 300))
DEVICE = Stonith("external/hbdlab", ("prefix=lab",), host="*")
KA, DT = SHORT["keepalive"], SHORT["deadtime"]


def cluster(n: int, rng: random.Random, stonith: bool, ping: bool) -> dict[str, ClusterConfig]:
    names = tuple(f"n{i}" for i in range(n))
    primaries = {2: rng.choice((1, 2)), 3: 2, 5: 3}[n]
    groups = []
    for i, primary in enumerate(names[:primaries]):
        groups.append(group(primary, f"IPaddr::10.0.0.{10 + i}/24/eth0",
                            f"MacAddr::eth0::02:00:00:00:00:{10 + i:02X}", f"Hostname::vip{i}"))
    configs = {name: make_config(name, names, tuple(groups), ping=(GATEWAY,) if ping else (),
                                 **SHORT) for name in names}
    if stonith:
        configs = {k: replace(c, hacf=replace(c.hacf, stonith=(DEVICE,)))
                   for k, c in configs.items()}
    return configs


def partition(sim: Sim, rng: random.Random) -> str:
    names = sim.names
    kind = rng.choice(("cable", "switch", "split"))
    if kind == "split" and len(names) > 2:
        side = rng.sample(names, rng.randint(1, len(names) - 1))
        for a in side:
            for b in names:
                if b not in side:
                    sim.partition(a, b)
        return f"split {sorted(side)}"
    node = rng.choice(names)
    sim.cut_hblan(node, carrier=kind == "cable")
    return f"{kind} {node}"


def heal(sim: Sim) -> None:
    sim.heal()
    for name in sim.names:
        if not sim.nodes[name].hb:
            sim.heal_hblan(name)


def run_seed(seed: int) -> tuple[Sim, dict]:
    rng = random.Random(seed)
    n = (2, 3, 5)[seed % 3]
    stonith = bool((seed // 3) % 2)
    ping = rng.random() < 0.5
    sim = Sim(cluster(n, rng, stonith, ping), seed, strict=False)
    sim.run_until(lambda: all(len(sim.owners(k)) == 1 for k in sim.groups), timeout=60)
    sim.run_for(3 * KA)
    episodes = []
    for _ in range(rng.randint(1, 3)):
        fences_before = len(sim.fences)
        what = partition(sim, rng)
        sim.run_for(rng.uniform(0.5, 3.0) * DT)
        heal(sim)
        sim.run_for(3 * DT)
        episodes.append((what, sim.fences[fences_before:]))
        sim.recover()                          # fenced (powered off) nodes come back
        sim.run_for(3 * DT)
    return sim, {"n": n, "stonith": stonith, "ping": ping, "episodes": episodes}


@pytest.mark.parametrize("seed", range(SEEDS))
def test_heartbeat_lan_partitions_keep_one_holder(seed):
    sim, info = run_seed(seed)
    where = f"seed {seed} {info}\n{sim.report()}"
    assert sim.auditor.all_overlaps() == [], where
    for what, fences in info["episodes"]:
        pairs = {(f, t) for _, f, t in fences}
        assert not [p for p in pairs if (p[1], p[0]) in pairs], f"mutual fencing in {what}: {where}"
    for t, fencer, target, held in sim.fence_holdings:
        assert held, f"t={t:.3f} {fencer} fenced {target}, which held nothing: {where}"
    running = [n for n in sim.names if sim.nodes[n].state is NodeState.RUNNING]
    assert running == list(sim.names), where
    assert sim.convergence_problems() == [], where

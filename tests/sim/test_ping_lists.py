"""Ping nodes when the nodes' `ping` lists differ (issue 11: real clusters have them).

Each node ranks itself by how many of *its own* ping nodes it lost, and says so
(`hbd_plost`), as ipfail compares "ping nodes lost". Counting the ping nodes
reached instead would rank a node with a shorter list below one with a longer
list although neither lost anything, and would not notice a loss that leaves
two nodes with equal counts.

Two nodes; vip1's primary is node0. SHORT timings (deadping 2 s).
"""

from __future__ import annotations

import pytest

from tests.sim.configs import GATEWAY, GROUP1, SHORT, group, make_config
from tests.sim.harness import Sim

VIP1 = GROUP1[0]
OTHER = "192.168.32.253"          # a second ping node, on node0's list only


def configs(node0_pings: tuple[str, ...], node1_pings: tuple[str, ...]):
    groups = (group("node0", *GROUP1),)
    return {name: make_config(name, ("node0", "node1"), groups, ping=pings, **SHORT)
            for name, pings in (("node0", node0_pings), ("node1", node1_pings))}


@pytest.mark.parametrize("seed", range(5))
def test_longer_ping_list_elsewhere_does_not_move_the_group(seed):
    """node0 pings one address, node1 two: nothing is lost, vip1 stays on node0."""
    sim = Sim(configs((GATEWAY,), (GATEWAY, OTHER)), seed=seed)
    sim.run_for(12.0)
    assert sim.owners(VIP1) == ["node0"], sim.report()
    assert sim.status("node1").nodes[0].pings == 2


@pytest.mark.parametrize("seed", range(5))
def test_losing_one_of_two_ping_nodes_moves_the_group(seed):
    """node0 pings two addresses, node1 one. node0 loses OTHER: one lost against
    none (the counts are equal, 1 and 1): vip1 moves to node1, once; back when
    OTHER answers again (auto_failback on)."""
    sim = Sim(configs((GATEWAY, OTHER), (GATEWAY,)), seed=seed)
    sim.run_for(8.0)
    assert sim.owners(VIP1) == ["node0"], sim.report()
    sim.cut_ping("node0", OTHER)
    sim.run_until(lambda: sim.owners(VIP1) == ["node1"], timeout=10.0)
    sim.run_for(4.0)
    assert sim.owners(VIP1) == ["node1"], sim.report()
    assert len([r for r in sim.op_log(node="node1", op="start", group=VIP1)
                if r["spec"] == VIP1]) == 1        # one record per resource: the VIP once
    sim.restore_ping("node0", OTHER)
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"], timeout=10.0)
    sim.run_for(4.0)
    assert sim.owners(VIP1) == ["node0"], sim.report()


@pytest.mark.parametrize("seed", range(5))
def test_equal_losses_move_nothing(seed):
    """Both lose one of their own ping nodes: equally degraded, vip1 stays."""
    sim = Sim(configs((GATEWAY, OTHER), (GATEWAY,)), seed=seed)
    sim.run_for(8.0)
    sim.cut_ping("node0", OTHER)
    sim.cut_ping("node1", GATEWAY)
    sim.run_for(10.0)
    assert sim.owners(VIP1) == ["node0"], sim.report()
    assert not sim.op_log(node="node1", op="start", group=VIP1)

"""A heartbeat 3.0.6 standby (tests/sim/heartbeat_model.py) next to hbd primaries:
heartbeat must end every exchange seeing the cluster stable (issue 11).

Heartbeat keeps one `other_is_stable` flag, cleared by a peer's `starting` and by
the standby exchange, and set only by a `resource ... isstable=1`. While it is
clear, heartbeat refuses to shut down ("Shutdown delayed until current resource
activity finishes.") and ignores standby requests. So after each of these, every
hbd node's last word must be `isstable=1`, a node holding nothing included.
"""

from __future__ import annotations

import pytest

from hbd.core.cluster import Cluster
from tests.sim.configs import GROUP1, SHORT, scenario_configs, two_node_configs
from tests.sim.harness import Sim
from tests.sim.heartbeat_model import HeartbeatStandby

HEARTBEAT = "node1"
VIP1 = GROUP1[0]


def factory(config, **kw):
    if config.node_name == HEARTBEAT:
        return HeartbeatStandby(config, **kw)
    return Cluster(config, **kw)


def settled(seed: int) -> Sim:
    sim = Sim(scenario_configs(ping=False, **SHORT), seed=seed, core_factory=factory)
    # A LAN keeps back-to-back datagrams of one sender in order (heartbeat hands
    # messages to its resource code in arrival order): one fixed delay, no reordering.
    sim.set_delay(0.001, 0.001)
    sim.run_for(3.0)
    assert sim.owners("IPaddr::192.168.32.21/24/eth0/192.168.32.255") == ["node0"], sim.report()
    return sim


def heartbeat(sim: Sim) -> HeartbeatStandby:
    core = sim.core(HEARTBEAT)
    assert isinstance(core, HeartbeatStandby)
    return core


@pytest.mark.parametrize("seed", range(5))
def test_heartbeat_sees_the_cluster_stable_after_start(seed):
    sim = settled(seed)
    assert heartbeat(sim).isstable(), sim.report()


@pytest.mark.parametrize("seed", range(5))
def test_heartbeat_restart_ends_stable(seed):
    """heartbeat restarts: each hbd node answers its `starting` and asks with its own
    `starting` (heartbeat's holdings are unknown again); both end on isstable=1."""
    sim = settled(seed)
    sim.restart(HEARTBEAT)           # killed and started again: a new generation
    sim.run_until(lambda: heartbeat(sim).comm_up, timeout=10.0)
    sim.run_for(2.0)
    assert heartbeat(sim).isstable(), sim.report()


@pytest.mark.parametrize("seed", range(5))
def test_hbd_restart_next_to_heartbeat_ends_stable(seed):
    """node2 (hbd) is restarted: it says `starting` at comm-up and settles with
    `resource ... isstable=1`."""
    sim = settled(seed)
    sim.stop("node2")
    sim.run_for(1.0)
    sim.start("node2")
    sim.run_for(6.0)
    assert sim.owners("IPaddr::192.168.32.22/24/eth0/192.168.32.255") == ["node2"], sim.report()
    assert heartbeat(sim).isstable(), sim.report()


@pytest.mark.parametrize("seed", range(5))
def test_empty_offer_from_heartbeat_is_answered_and_ends_stable(seed):
    """`hb_standby foreign` on the heartbeat node, which holds nothing: node0 (the
    first live node) answers `other`; the exchange completes, nothing moves, and
    heartbeat is stable again (no 10 s cancel)."""
    sim = settled(seed)
    hb = heartbeat(sim)
    sim.act(HEARTBEAT, lambda core, now: core.offer("foreign", now))
    sim.run_for(2.0)
    assert hb.cancelled == 0 and not hb.ignored, (hb.ignored, sim.report())
    assert hb.isstable(), sim.report()
    assert sim.owners("IPaddr::192.168.32.21/24/eth0/192.168.32.255") == ["node0"]
    assert sim.owners("IPaddr::192.168.32.22/24/eth0/192.168.32.255") == ["node2"]


# --- carrier loss next to a heartbeat standby ------------------------------------------------

def two_node(seed: int) -> Sim:
    sim = Sim(two_node_configs(ping=False, **SHORT), seed=seed, core_factory=factory)
    sim.set_delay(0.001, 0.001)
    sim.run_for(3.0)
    assert sim.owners(VIP1) == ["node0"], sim.report()
    return sim


@pytest.mark.parametrize("seed", range(5))
def test_carrier_loss_hands_the_group_to_heartbeat_through_the_standby_exchange(seed):
    """node0's service cable is pulled: vip1's interface lost carrier, so node0
    cannot serve it. heartbeat takes a group only on a death, a shutdone or the
    standby exchange, so node0 offers it (me/other/done) instead of just releasing:
    vip1 moves to heartbeat's node1 once, never on both; the cable back, node0 asks
    with hb_takeover and gets it back (auto_failback on), once."""
    sim = two_node(seed)
    hb = heartbeat(sim)
    sim.pull_service("node0")
    sim.run_until(lambda: sim.owners(VIP1) == ["node1"], timeout=5.0)
    sim.run_for(2.0)
    assert sim.owners(VIP1) == ["node1"] and hb.isstable(), sim.report()
    assert hb.cancelled == 0 and not hb.ignored, (hb.ignored, sim.report())
    sim.plug_service("node0")
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"], timeout=5.0)
    sim.run_for(2.0)
    assert sim.owners(VIP1) == ["node0"] and hb.isstable(), sim.report()
    starts = [r for r in sim.op_log(op="start", group=VIP1) if r["spec"] == VIP1]
    assert [r["node"] for r in starts] == ["node0", "node1", "node0"], sim.report()


@pytest.mark.parametrize("seed", range(5))
def test_an_answer_heartbeat_ignores_does_not_block_the_next_exchange(seed):
    """heartbeat cancels its offer as our `other` arrives (a node died meanwhile):
    nothing follows. hbd forgets that exchange after 10 s, so heartbeat's next
    offer is answered and completes."""
    sim = settled(seed)
    hb = heartbeat(sim)
    hb.drop_next_other = True
    sim.act(HEARTBEAT, lambda core, now: core.offer("foreign", now))
    sim.run_for(2.0)
    assert hb.ignored == ["other after cancel"], sim.report()
    sim.run_for(10.0)
    sim.act(HEARTBEAT, lambda core, now: core.offer("foreign", now))
    sim.run_for(2.0)
    assert hb.ignored == ["other after cancel"] and hb.cancelled == 0, (hb.ignored, sim.report())
    assert hb.isstable(), sim.report()

"""Ownership when the network (not a node) fails: one holder per VIP, whatever breaks.

The scenario's cluster (node0 home of vip1, node2 of vip2, node1 the standby)
with short timings, and the faults of issue 9:

* the heartbeat LAN of one node cut (its cable: the node sees carrier go; or a
  switch port: nothing tells it), the service LAN up — the peers declare it
  dead, but its VIP still answers ARP, so nobody starts it;
* the document's test 2: the primary's service cable (eth0) pulled — it
  releases at once (carrier), and the standby takes over on its release;
* both cables pulled and plugged back (`isolate`);
* hbd hung on a live kernel (`hang`): the VIP moves only once the node was
  fenced or rebooted itself (its watchdog);
* a stop that keeps failing: the node fences itself so that the group moves.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from hbd.config.model import Stonith
from hbd.core.policy import Policy, StopFailure
from tests.sim.configs import SHORT, VIP1, VIP2, scenario_configs
from tests.sim.harness import DEFAULT_OP_TIME, LAN_DELAY, PROBE_WAIT, NodeState, Sim, scenario_sim

KA, DT = SHORT["keepalive"], SHORT["deadtime"]
GROUP_OP_BUDGET = 4 * DEFAULT_OP_TIME[1]
SLACK = 0.01
DEVICE = Stonith("external/hbdlab", ("prefix=lab",), host="*")
PRIMARIES = [pytest.param("node0", VIP1, "node2", VIP2, id="node0"),
             pytest.param("node2", VIP2, "node0", VIP1, id="node2")]


def settled(sim: Sim) -> Sim:
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"] and sim.owners(VIP2) == ["node2"]
                  and not sim.partial_holders(VIP1) and not sim.partial_holders(VIP2),
                  timeout=SHORT["initdead"] + 30)
    sim.run_for(3 * KA)
    return sim


def scenario(seed: int = 0, *, stonith: bool = False, ping: bool = True, **kw) -> Sim:
    if not stonith:
        return settled(scenario_sim(seed, ping=ping, **SHORT, **kw))
    configs = {name: replace(c, hacf=replace(c.hacf, stonith=(DEVICE,)))
               for name, c in scenario_configs(ping=ping, **SHORT).items()}
    return settled(Sim(configs, seed, **kw))


def overlaps(sim: Sim, since: float = 0.0) -> list:
    return [o for o in sim.auditor.all_overlaps() if o.end is None or o.end > since]


def ops_since(sim: Sim, t: float) -> list[dict]:
    return sim.op_log(None, None, None, t)


# --- the heartbeat LAN alone ------------------------------------------------------------------

@pytest.mark.parametrize("carrier", [True, False], ids=["cable", "switch"])
@pytest.mark.parametrize("primary,key,other,other_key", PRIMARIES)
def test_heartbeat_lan_cut_leaves_each_vip_one_holder(primary, key, other, other_key, carrier):
    sim = scenario()
    t0 = sim.now
    sim.cut_hblan(primary, carrier=carrier)
    sim.run_for(10.0)
    # The peers declared it dead, probed its VIP, heard it answer, started nothing.
    assert sim.notice_times("node1", "node", primary, since=t0, status="dead")
    assert [p for p in sim.probes if p[1] == "node1" and p[2] == key and p[3]]
    assert not [p for p in sim.probes if p[2] == key and not p[3]]
    assert sim.holders(key) == [primary] and sim.holders(other_key) == [other]
    assert overlaps(sim, t0) == [], sim.report()
    # node1 keeps probing while it stays dead (one probe a keepalive).
    assert len([p for p in sim.probes if p[1] == "node1" and p[2] == key]) >= (10.0 - DT) / KA - 2
    # After the heal nothing moves that need not.
    sim.heal_hblan(primary)
    sim.run_for(3 * DT)
    assert ops_since(sim, t0) == [], sim.report()
    assert sim.owners(key) == [primary] and sim.owners(other_key) == [other]


def test_cut_off_node_knows_it_from_carrier_and_takes_nothing():
    sim = scenario()
    sim.cut_hblan("node0", carrier=True)
    sim.run_for(2 * DT)
    # node0 sees every peer dead; its heartbeat link lost carrier: it is the one cut
    # off, so it takes nothing over (and does not even probe for vip2).
    assert not [p for p in sim.probes if p[1] == "node0"]
    assert sim.status("node0").group_view(VIP2).state.value == "stopped"


# --- the document's test 2: the service cable -----------------------------------------------

@pytest.mark.parametrize("primary,key,other,other_key", PRIMARIES)
def test_service_cable_pulled_primary_releases_and_standby_takes_over(primary, key, other,
                                                                      other_key):
    sim = scenario()
    t0 = sim.now
    sim.pull_service(primary)
    # It releases at once (carrier), says so on the heartbeat LAN, and node1 starts
    # on that announcement: no deadtime, no probe (a graceful handover).
    sim.run_until(lambda: sim.owners(key) == ["node1"], timeout=1.0)
    t_up = sim.now
    assert t_up - t0 <= 2 * GROUP_OP_BUDGET + 2 * LAN_DELAY[1] + SLACK, sim.report()
    assert not [p for p in sim.probes if p[2] == key]
    stops = sim.op_log(primary, "stop", key, t0)
    starts = sim.op_log("node1", "start", key, t0)
    assert starts[0]["begin"] >= stops[-1]["end"]
    assert sim.op_log(None, None, other_key, t0) == []          # nothing else moves
    assert not sim.notice_times("node1", "node", primary, since=t0, status="dead")
    # Plugged back: auto_failback on returns the group.
    t1 = sim.now
    sim.plug_service(primary)
    sim.run_until(lambda: sim.owners(key) == [primary], timeout=3 * KA + 1.0)
    assert sim.op_log(None, None, other_key, t1) == []
    assert overlaps(sim, t0) == []


# --- both cables ----------------------------------------------------------------------------

@pytest.mark.parametrize("ping", [True, False], ids=["ping", "noping"])
@pytest.mark.parametrize("primary,key,other,other_key", PRIMARIES)
def test_isolated_primary_releases_and_fails_back_like_any_failback(primary, key, other,
                                                                     other_key, ping):
    sim = scenario(ping=ping)
    t0 = sim.now
    sim.unplug(primary)
    sim.run_for(DT + 2 * KA + PROBE_WAIT + GROUP_OP_BUDGET + SLACK)
    # Its service link is down: it released at once; its heartbeat link too: it is
    # the one cut off and took nothing over. node1 took its group after deadtime.
    assert sim.owners(key) == ["node1"] and sim.holders(other_key) == [other], sim.report()
    assert sim.op_log(primary, "start", None, t0) == []
    t1 = sim.now
    sim.plug(primary)
    sim.run_until(lambda: sim.owners(key) == [primary], timeout=3 * KA + 1.0)
    # An ordinary failback: node1 stopped before the primary started; vip2 untouched.
    stops = sim.op_log("node1", "stop", key, t1)
    starts = sim.op_log(primary, "start", key, t1)
    assert starts[0]["begin"] >= stops[-1]["end"]
    assert sim.op_log(None, None, other_key, t0) == []
    assert overlaps(sim, t0) == [], sim.report()


def test_isolated_without_carrier_keeper_reannounces_after_the_other_let_go():
    """A switch failure isolates node0 (no carrier change): it keeps vip1, node1
    takes vip1 too (its probe cannot reach node0). On the heal, node1 releases and
    node0 re-announces (gratuitous ARP from the virtual MAC) only after node1 has
    let go, so switches and ARP caches end up pointing at node0."""
    sim = scenario(carrier=False)
    sim.unplug("node0")
    sim.run_for(DT + 2 * KA + GROUP_OP_BUDGET)
    assert sim.owners(VIP1) == ["node0", "node1"]          # node0 out of reach, still holding
    t1 = sim.now
    sim.plug("node0")
    sim.run_until(lambda: sim.holders(VIP1) == ["node0"], timeout=3 * KA + 1.0)
    sim.run_for(KA)
    released = max(o["end"] for o in sim.op_log("node1", "stop", VIP1, t1))
    reannounced = [t for t, g in sim.nodes["node0"].reannounced if g == VIP1 and t >= t1]
    assert reannounced and reannounced[0] >= released, sim.report()
    assert sim.op_log("node0", None, VIP2, t1) == [] and sim.owners(VIP2) == ["node2"]


# --- hbd hung on a live kernel -----------------------------------------------------------------

def test_hung_node_keeps_its_vip_without_stonith_and_says_why():
    sim = scenario()
    t0 = sim.now
    sim.hang("node0")
    sim.run_for(DT + 5 * KA)
    assert sim.holders(VIP1) == ["node0"] and sim.op_log("node1", None, VIP1, t0) == []
    waiting = sim.status("node1").group_view(VIP1).waiting
    assert "node0 may still hold it" in waiting
    waits = sim.notice_times("node1", "warning", VIP1, since=t0, waiting="probe")
    assert len(waits) == 1                                     # said once, not every probe
    # Its watchdog reboots it: the address goes, the next probe finds nothing.
    t1 = sim.now
    sim.power_off("node0")
    sim.run_until(lambda: sim.owners(VIP1) == ["node1"],
                  timeout=KA + PROBE_WAIT + GROUP_OP_BUDGET + SLACK)
    assert sim.now - t1 <= KA + PROBE_WAIT + GROUP_OP_BUDGET + SLACK
    assert overlaps(sim, t0) == []


def test_hung_node_is_fenced_by_the_majority_then_its_vip_moves():
    sim = scenario(stonith=True)
    t0 = sim.now
    sim.hang("node0")
    sim.run_until(lambda: sim.owners(VIP1) == ["node1"], timeout=DT + 3.0)
    assert [(f, t) for _, f, t in sim.fences] == [("node1", "node0")]
    starts = sim.op_log("node1", "start", VIP1, t0)
    assert min(o["begin"] for o in starts) >= sim.fences[0][0] + sim.fence_time
    assert overlaps(sim, t0) == []


# --- fencing fences the right node ------------------------------------------------------------

def test_heartbeat_lan_cut_with_stonith_isolated_node_fences_nobody():
    sim = scenario(stonith=True)
    t0 = sim.now
    sim.cut_hblan("node0", carrier=False)         # node0 cannot tell from carrier
    sim.run_for(DT + 3.0)
    # node1 (with node2: the majority) fenced node0 and took vip1; node0, alone,
    # fenced nobody although it saw node2 die too.
    assert [(f, t) for _, f, t in sim.fences] == [("node1", "node0")], sim.report()
    assert sim.owners(VIP1) == ["node1"] and sim.owners(VIP2) == ["node2"]
    assert overlaps(sim, t0) == []


def two_node_fenced(seed: int, both_primaries: bool) -> Sim:
    from tests.sim.configs import GROUP1, GROUP2, group, make_config
    groups = (group("node0", *GROUP1),) + ((group("node1", *GROUP2),) if both_primaries else ())
    configs = {n: make_config(n, ("node0", "node1"), groups, **SHORT) for n in ("node0", "node1")}
    configs = {n: replace(c, hacf=replace(c.hacf, stonith=(DEVICE,))) for n, c in configs.items()}
    sim = Sim(configs, seed)
    keys = [g.key for g in groups]
    sim.run_until(lambda: all(len(sim.owners(k)) == 1 for k in keys), timeout=30)
    sim.run_for(3 * KA)
    return sim


@pytest.mark.parametrize("both_primaries", [False, True], ids=["active-passive", "active-active"])
def test_two_nodes_never_fence_each_other(both_primaries):
    sim = two_node_fenced(0, both_primaries)
    sim.partition("node0", "node1")                # the heartbeat LAN between them
    sim.run_for(DT + Policy().fence_delay + 5.0)
    # Exactly one fence. Active-passive: node1 wants vip1 and fences node0, but only
    # after the delay (node0 holds more). Active-active: both want the other's group;
    # node0 ranks first on the tie and shoots first.
    targets = [(f, t) for _, f, t in sim.fences]
    assert targets == ([("node1", "node0")] if not both_primaries else [("node0", "node1")])
    if not both_primaries:
        assert sim.fences[0][0] >= Policy().fence_delay
    for key in sim.groups:
        assert len(sim.holders(key)) == 1


# --- a stop that keeps failing -----------------------------------------------------------------

def test_failed_stop_fences_itself_and_the_group_moves():
    sim = scenario()
    t0 = sim.now
    sim.fail_next("node0", "MacAddr::eth0::00:1E:68:1E:99:5E", "stop", times=100)
    sim.admin("node0", "standby", "all")
    sim.run_until(lambda: sim.self_fences, timeout=30.0)
    assert sim.self_fences[0][1:] == ("node0", "reboot")
    sim.run_until(lambda: sim.owners(VIP1) == ["node1"],
                  timeout=DT + KA + PROBE_WAIT + GROUP_OP_BUDGET + SLACK)
    assert sim.nodes["node0"].state is NodeState.DOWN
    assert overlaps(sim, t0) == []


def test_failed_stop_held_when_told_to_hold():
    sim = scenario(policy=Policy(on_stop_failure=StopFailure.HOLD))
    sim.fail_next("node0", "MacAddr::eth0::00:1E:68:1E:99:5E", "stop", times=100)
    sim.admin("node0", "standby", "all")
    sim.run_for(20.0)
    assert sim.self_fences == []
    view = sim.status("node0").group_view(VIP1)
    assert view.state.value == "stop_failed" and "operator" in view.waiting
    assert sim.holders(VIP1) == ["node0"]

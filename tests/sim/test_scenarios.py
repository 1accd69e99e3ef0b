"""The source scenario's cluster and its drills, on real cores.

Three nodes in ha.cf order node0, node2, node1: node0 is the primary of vip1,
node2 of vip2, node1 the standby for both; `auto_failback on`; ping
192.168.32.254. The scenario's four drills (graceful stop, cable pulled, power
off, kernel crash) run on node0 and on node2, with short timings and with the
scenario's own (keepalive 2, deadtime 60, initdead 240).

Timing rules asserted (from the core's contract):
* a peer is declared dead exactly `deadtime` after its last `status` was
  received; node1 then starts the group at once, left to right;
* a graceful stop hands over without waiting for deadtime: the peer's first
  start follows the leaver's last stop by no more than a link delay;
* failback stops on the holder (right to left) before the primary starts
  (left to right): the auditor sees no moment with two holders.
"""

from __future__ import annotations

import pytest

from hbd.core.events import AdminVerb
from tests.sim.configs import GATEWAY, GROUP1, GROUP2, SCENARIO, SHORT, VIP1, VIP2, two_node_configs
from tests.sim.harness import (DEFAULT_OP_TIME, LAN_DELAY, PROBE_WAIT, NodeState, Sim,
                                scenario_sim)

SPECS = {VIP1: GROUP1, VIP2: GROUP2}
PRIMARIES = [pytest.param("node0", VIP1, id="node0"), pytest.param("node2", VIP2, id="node2")]
TIMINGS = [pytest.param(SHORT, id="short"), pytest.param(SCENARIO, id="scenario")]
OP_MAX = DEFAULT_OP_TIME[1]
GROUP_OP_BUDGET = 4 * OP_MAX          # four resources, each at most 50 ms
SLACK = 0.01                          # processing: a few same-instant events


def settled(seed: int = 0, timings=SHORT, **kw) -> Sim:
    """Start all three nodes together and wait until each primary holds its group."""
    sim = scenario_sim(seed, **timings, **kw)
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"] and sim.owners(VIP2) == ["node2"]
                  and not sim.partial_holders(VIP1) and not sim.partial_holders(VIP2),
                  timeout=timings["initdead"] + 30)
    sim.run_for(3 * timings["keepalive"])
    assert sim.holders(VIP1) == ["node0"] and sim.holders(VIP2) == ["node2"], sim.report()
    return sim


def overlaps_since(sim: Sim, t: float) -> list:
    return [o for o in sim.auditor.all_overlaps() if o.end is None or o.end > t]


def dead_at(sim: Sim, observer: str, subject: str, since: float) -> float:
    times = sim.notice_times(observer, "node", subject, since=since, status="dead")
    assert times, f"{observer} never declared {subject} dead\n{sim.report()}"
    return times[0]


def assert_dead_exactly_deadtime_after_last_status(sim, observer, subject, since, deadtime,
                                                   keepalive):
    t_dead = dead_at(sim, observer, subject, since)
    last_rx = sim.last_status_rx[(subject, observer)]
    assert t_dead == pytest.approx(last_rx + deadtime, abs=1e-6), sim.report()
    # ... which is between deadtime - keepalive and deadtime (+ link delay) after the fault
    assert deadtime - keepalive - 1e-6 <= t_dead - since <= deadtime + LAN_DELAY[1] + 1e-6
    return t_dead


def assert_started_in_order(sim, node, key, since, by):
    starts = sim.op_log(node, "start", key, since)
    assert [o["spec"] for o in starts] == list(SPECS[key]), sim.report()
    assert all(o["ok"] for o in starts), sim.report()
    assert starts[-1]["end"] <= by + 1e-9, (starts[-1]["end"], by, sim.report())
    return starts


def assert_handover(sim, key, source, target, since):
    """source stopped the whole group right to left before target began to start it."""
    stops = sim.op_log(source, "stop", key, since)
    starts = sim.op_log(target, "start", key, since)
    assert [o["spec"] for o in stops] == list(reversed(SPECS[key])), sim.report()
    assert all(o["ok"] for o in stops), sim.report()
    assert [o["spec"] for o in starts] == list(SPECS[key]), sim.report()
    assert starts[0]["begin"] >= stops[-1]["end"], sim.report()
    return stops, starts


# --- drill 1: graceful stop, then restart -----------------------------------------------------

@pytest.mark.parametrize("timings", TIMINGS)
@pytest.mark.parametrize("primary,key", PRIMARIES)
def test_graceful_stop_hands_over_at_once_and_restart_fails_back(primary, key, timings):
    sim = settled(timings=timings)
    ka = timings["keepalive"]
    # `service heartbeat stop` on the primary.
    t0 = sim.now
    sim.stop(primary)
    sim.run_for(ka + 2 * GROUP_OP_BUDGET)
    # It released right to left, said shutdone and exited; node1 started at once,
    # well within one keepalive and long before deadtime.
    assert sim.nodes[primary].state is NodeState.DOWN, sim.report()
    stops, starts = assert_handover(sim, key, primary, "node1", t0)
    assert starts[0]["begin"] - stops[-1]["end"] <= LAN_DELAY[1] + SLACK
    assert starts[-1]["end"] - t0 <= 2 * GROUP_OP_BUDGET + LAN_DELAY[1] + SLACK
    assert sim.owners(key) == ["node1"]
    assert overlaps_since(sim, t0) == []
    # The other primary was not disturbed.
    other = VIP2 if key == VIP1 else VIP1
    assert sim.op_log(None, None, other, t0) == []
    # Restart the primary: node1 stops first, then the primary starts (auto_failback on).
    t1 = sim.now
    sim.start(primary)
    sim.run_until(lambda: sim.owners(key) == [primary], timeout=2 * ka + 1.0)
    assert_handover(sim, key, "node1", primary, t1)
    assert sim.now - t1 <= 2 * ka + 2 * GROUP_OP_BUDGET + 2 * LAN_DELAY[1] + SLACK, sim.report()
    sim.run_for(timings["deadtime"] + 3 * ka)
    assert overlaps_since(sim, t0) == []
    assert sim.held_by("node1") == [] and sim.holders(key) == [primary]


# --- drill 2: cable pulled, then plugged back ----------------------------------------------------

@pytest.mark.parametrize("timings", TIMINGS)
@pytest.mark.parametrize("primary,key", PRIMARIES)
def test_cable_pulled_fails_over_after_deadtime_and_back_when_plugged(primary, key, timings):
    sim = settled(timings=timings)
    ka, dt = timings["keepalive"], timings["deadtime"]
    # Pull every cable of the primary (heartbeat and service side, so its ping too).
    t0 = sim.now
    sim.unplug(primary)
    sim.run_for(dt + ka + GROUP_OP_BUDGET + SLACK)
    # node1 declares it dead exactly deadtime after the last status it received, and
    # starts the group at once.
    t_dead = assert_dead_exactly_deadtime_after_last_status(sim, "node1", primary, t0, dt, ka)
    starts = assert_started_in_order(sim, "node1", key, t0, by=t_dead + GROUP_OP_BUDGET + SLACK)
    assert starts[0]["begin"] - t_dead <= SLACK
    assert "node1" in sim.owners(key)
    # The other primary does not take it (node1 is the preferred backup).
    assert sim.op_log("node0" if primary == "node2" else "node2", "start", key, t0) == []
    # Plug it back: within a keepalive both see each other, one copy is released and
    # the group ends on its primary (auto_failback on).
    t1 = sim.now
    sim.plug(primary)
    sim.run_until(lambda: sim.holders(key) == [primary] and sim.owners(key) == [primary],
                  timeout=dt + 3 * ka)
    assert sim.now - t1 <= 2 * ka + 2 * GROUP_OP_BUDGET + 2 * LAN_DELAY[1] + SLACK, sim.report()
    sim.run_for(dt + 3 * ka)
    assert sim.held_by("node1") == [] and sim.holders(key) == [primary], sim.report()
    # Cut off, the primary saw every peer die too, but it had lost its ping node as
    # well: it took nothing of theirs (it would have collided on the LAN when plugged).
    other = VIP2 if key == VIP1 else VIP1
    assert sim.op_log(primary, "start", other, t0) == [], sim.report()


# --- drill 3: power off, then on ---------------------------------------------------------------

@pytest.mark.parametrize("timings", TIMINGS)
@pytest.mark.parametrize("primary,key", PRIMARIES)
def test_power_off_fails_over_after_deadtime_and_power_on_fails_back(primary, key, timings):
    sim = settled(timings=timings)
    ka, dt = timings["keepalive"], timings["deadtime"]
    # Pull the power plug of the primary: its addresses vanish with it.
    t0 = sim.now
    sim.power_off(primary)
    assert sim.holders(key) == []
    sim.run_for(dt + ka + GROUP_OP_BUDGET + SLACK)
    # Dead exactly deadtime after the last status; node1 takes the group at once.
    t_dead = assert_dead_exactly_deadtime_after_last_status(sim, "node1", primary, t0, dt, ka)
    starts = assert_started_in_order(sim, "node1", key, t0, by=t_dead + GROUP_OP_BUDGET + SLACK)
    assert starts[0]["begin"] - t_dead <= SLACK
    assert sim.owners(key) == ["node1"]
    # The other primary declares it dead too, and takes nothing.
    other = "node0" if primary == "node2" else "node2"
    dead_at(sim, other, primary, t0)
    assert sim.op_log(other, "start", None, t0) == []
    # Power on: a new generation; node1 hands the group back with no overlap.
    t1 = sim.now
    sim.start(primary)
    sim.run_until(lambda: sim.owners(key) == [primary], timeout=2 * ka + 1.0)
    assert_handover(sim, key, "node1", primary, t1)
    sim.run_for(dt)
    assert overlaps_since(sim, t0) == []
    assert sim.held_by("node1") == [] and sim.holders(key) == [primary]
    assert sim.nodes[primary].disk["generation"] == 2


# --- drill 4: kernel crash (freeze), then the machine comes back ---------------------------------

@pytest.mark.parametrize("timings", TIMINGS)
@pytest.mark.parametrize("primary,key", PRIMARIES)
def test_kernel_crash_fails_over_and_thaw_resolves_the_double_holder(primary, key, timings):
    sim = settled(timings=timings)
    ka, dt = timings["keepalive"], timings["deadtime"]
    # The primary's kernel hangs: nothing runs, its addresses stay configured.
    t0 = sim.now
    sim.freeze(primary)
    sim.run_for(dt + ka + GROUP_OP_BUDGET + SLACK)
    # node1 declares it dead after deadtime and takes the group: without STONITH the
    # address is now on two machines (the scenario's "resource contention").
    t_dead = assert_dead_exactly_deadtime_after_last_status(sim, "node1", primary, t0, dt, ka)
    assert_started_in_order(sim, "node1", key, t0, by=t_dead + GROUP_OP_BUDGET + SLACK)
    assert sim.holders(key) == sorted([primary, "node1"])
    # The machine comes back: its overdue timer fires, then its queued packets. Within
    # about a keepalive the two see each other and the double holding ends, with the
    # group on its primary.
    t1 = sim.now
    sim.thaw(primary)
    sim.run_until(lambda: sim.holders(key) == [primary] and sim.owners(key) == [primary],
                  timeout=dt + 3 * ka)
    assert sim.now - t1 <= 2 * ka + 2 * GROUP_OP_BUDGET + 2 * LAN_DELAY[1] + SLACK, sim.report()
    sim.run_for(dt + 3 * ka)
    assert sim.held_by("node1") == [] and sim.holders(key) == [primary], sim.report()
    # Cut off, the primary saw every peer die too, but it had lost its ping node as
    # well: it took nothing of theirs (it would have collided on the LAN when plugged).
    other = VIP2 if key == VIP1 else VIP1
    assert sim.op_log(primary, "start", other, t0) == [], sim.report()
    # The thawed node did not declare its live peers dead on its stale timer.
    assert sim.notice_times(primary, "node", "node1", since=t1, status="dead") == []


# --- start-up ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_startup_gives_each_group_to_its_primary_only(seed):
    # All three boot together. Ping replies arrive at each node at a different
    # moment in the first keepalive; that must not make anyone look better placed
    # than a primary whose first reply is still on its way (its ping node is
    # `init`, not `dead`, until deadping has passed).
    sim = scenario_sim(seed, **SHORT)
    sim.run_for(SHORT["initdead"] + 3 * SHORT["deadtime"])
    assert sim.op_log("node1") == [], sim.report()
    assert sim.auditor.all_overlaps() == []
    assert sim.owners(VIP1) == ["node0"] and sim.owners(VIP2) == ["node2"]


def test_two_of_three_booting_together_split_the_groups_without_overlap():
    # node0 and node1 boot at the same instant; node2 stays off. Both wait initdead
    # for node2 and reach comm-up at t = initdead, each before it has heard that the
    # other one is active. node0 must take vip1 and node1 (node2's first backup) vip2,
    # never both vip1; and no core may spin on a past deadline meanwhile.
    sim = scenario_sim(0, autostart=False, **SHORT)
    sim.start("node0")
    sim.start("node1")
    sim.run_for(SHORT["initdead"] + 3 * SHORT["deadtime"])
    assert sim.auditor.all_overlaps() == [], sim.report()
    assert sim.owners(VIP1) == ["node0"] and sim.owners(VIP2) == ["node1"], sim.report()


def test_no_timer_spin_while_a_peer_is_up_but_not_yet_active():
    # node1 boots 1 s after node0 (node2 never): node0 hears node1 while node1 is still
    # `up`, waiting out its initdead. The core must not keep asking for a deadline that
    # has passed (CoreLivelock = the runtime would busy-loop).
    sim = scenario_sim(0, autostart=False, strict=False, **SHORT)
    sim.start("node0")
    sim.at(0.5 * SHORT["initdead"], lambda: sim.start("node1"))
    sim.run_for(3 * SHORT["initdead"])
    assert not [line for line in sim.trace if "BUG" in line]


# --- the daemon is killed: its addresses stay up, so nobody takes them --------------------------

@pytest.mark.parametrize("timings", TIMINGS)
def test_killed_daemon_keeps_group_until_its_addresses_go(timings):
    sim = settled(timings=timings)
    ka, dt = timings["keepalive"], timings["deadtime"]
    # kill -9 hbd on node0: vip1 stays configured on node0 and answers ARP.
    t0 = sim.now
    sim.kill_daemon("node0")
    sim.run_for(dt + ka + GROUP_OP_BUDGET + SLACK)
    t_dead = assert_dead_exactly_deadtime_after_last_status(sim, "node1", "node0", t0, dt, ka)
    # node1 probed at once, heard vip1 answer, and started nothing: one holder.
    probes = [p for p in sim.probes if p[1] == "node1" and p[2] == VIP1]
    assert probes and probes[0][0] == pytest.approx(t_dead + PROBE_WAIT, abs=1e-6)
    assert all(answered for *_, answered in probes)
    assert sim.op_log("node1", None, VIP1, t0) == [] and sim.holders(VIP1) == ["node0"]
    assert "answers on the service LAN" in sim.status("node1").group_view(VIP1).waiting
    # systemd's ExecStopPost (hbd restore) clears node0's leftovers: the next probe
    # finds nothing and node1 takes over, within one probe interval.
    t1 = sim.now
    sim.stop_post("node0")
    sim.run_for(ka + PROBE_WAIT + GROUP_OP_BUDGET + SLACK)
    assert_started_in_order(sim, "node1", VIP1, t1, by=t1 + ka + PROBE_WAIT + GROUP_OP_BUDGET
                            + SLACK)
    # node0 starts again: node1 fails back to it, never two holders.
    t2 = sim.now
    sim.start("node0")
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"], timeout=2 * ka + 1.0)
    assert_handover(sim, VIP1, "node1", "node0", t2)
    assert overlaps_since(sim, t0) == []


# --- more than one failure ----------------------------------------------------------------------

def test_standby_takes_both_groups_when_both_primaries_fail_together():
    sim = settled()
    dt, ka = SHORT["deadtime"], SHORT["keepalive"]
    # Power off both primaries at the same instant.
    t0 = sim.now
    sim.power_off("node0")
    sim.power_off("node2")
    sim.run_for(dt + ka + 2 * GROUP_OP_BUDGET + SLACK)
    # node1 declares both dead after deadtime and holds both groups.
    dead_at(sim, "node1", "node0", t0)
    dead_at(sim, "node1", "node2", t0)
    assert sim.owners(VIP1) == ["node1"] and sim.owners(VIP2) == ["node1"], sim.report()
    # Both come back: each group returns to its primary, node1 ends with nothing.
    t1 = sim.now
    sim.start("node0")
    sim.start("node2")
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"] and sim.owners(VIP2) == ["node2"],
                  timeout=3 * ka + 1.0)
    assert_handover(sim, VIP1, "node1", "node0", t1)
    assert_handover(sim, VIP2, "node1", "node2", t1)
    sim.run_for(dt)
    assert overlaps_since(sim, t0) == [] and sim.held_by("node1") == []


def test_standby_failure_moves_nothing():
    sim = settled()
    dt, ka = SHORT["deadtime"], SHORT["keepalive"]
    # Power off the standby.
    t0 = sim.now
    sim.power_off("node1")
    sim.run_for(dt + ka + SLACK)
    # Both primaries notice, and keep their groups without touching them.
    dead_at(sim, "node0", "node1", t0)
    dead_at(sim, "node2", "node1", t0)
    assert sim.op_log(None, None, None, t0) == []
    # It comes back: still nothing moves.
    sim.start("node1")
    sim.run_for(dt + 3 * ka)
    assert sim.op_log(None, None, None, t0) == []
    assert sim.owners(VIP1) == ["node0"] and sim.owners(VIP2) == ["node2"]


def test_second_backup_takes_over_when_primary_and_standby_are_down():
    sim = settled()
    dt, ka = SHORT["deadtime"], SHORT["keepalive"]
    # node1 (standby) dies first, then node0: node2 is vip1's last candidate.
    sim.power_off("node1")
    sim.run_for(dt + ka)
    t0 = sim.now
    sim.power_off("node0")
    # node1, a better backup, is silent: node2 gives it one keepalive, then probes.
    sim.run_for(dt + 2 * ka + PROBE_WAIT + GROUP_OP_BUDGET + SLACK)
    assert sim.owners(VIP1) == ["node2"] and sim.owners(VIP2) == ["node2"], sim.report()
    # node1 returns: it is the preferred backup, but vip1 does not move to it
    # (auto_failback only returns a group to its primary).
    t1 = sim.now
    sim.start("node1")
    sim.run_for(dt + 3 * ka)
    assert sim.owners(VIP1) == ["node2"], sim.report()
    # node0 returns: vip1 goes home from node2.
    t2 = sim.now
    sim.start("node0")
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"], timeout=3 * ka + 1.0)
    assert_handover(sim, VIP1, "node2", "node0", t2)
    assert overlaps_since(sim, t0) == [] and t1 < t2


# --- auto_failback on / off -----------------------------------------------------------------------

@pytest.mark.parametrize("failback", ["on", "off"])
def test_returning_primary_gets_group_only_when_auto_failback_on(failback):
    sim = settled(auto_failback=failback)
    dt, ka = SHORT["deadtime"], SHORT["keepalive"]
    sim.power_off("node0")
    sim.run_for(dt + ka + GROUP_OP_BUDGET + SLACK)
    assert sim.owners(VIP1) == ["node1"]
    # node0 powers on again.
    t1 = sim.now
    sim.start("node0")
    sim.run_for(dt + 3 * ka)
    if failback == "on":
        # The holder stops first, then node0 starts; node1 ends with nothing.
        assert sim.owners(VIP1) == ["node0"] and sim.held_by("node1") == [], sim.report()
        assert_handover(sim, VIP1, "node1", "node0", t1)
    else:
        # off: vip1 stays on node1, node0 runs nothing.
        assert sim.owners(VIP1) == ["node1"] and sim.held_by("node0") == [], sim.report()
        assert sim.op_log("node0", "start", None, t1) == []
    assert overlaps_since(sim, t1) == []


def test_no_failback_when_auto_failback_off_until_the_holder_leaves():
    sim = settled(auto_failback="off")
    dt, ka = SHORT["deadtime"], SHORT["keepalive"]
    sim.power_off("node0")
    sim.run_for(dt + ka + GROUP_OP_BUDGET + SLACK)
    sim.start("node0")
    sim.run_for(dt)
    assert sim.owners(VIP1) == ["node1"]
    # A graceful stop of the holder gives vip1 back to node0 at once.
    t0 = sim.now
    sim.stop("node1")
    sim.run_for(ka + 2 * GROUP_OP_BUDGET)
    assert_handover(sim, VIP1, "node1", "node0", t0)
    assert sim.owners(VIP1) == ["node0"]


# --- a flapping primary --------------------------------------------------------------------------

def test_no_takeover_when_primary_flaps_faster_than_deadtime():
    sim = settled(carrier=False)           # a switch port flapping: no carrier change
    dt = SHORT["deadtime"]
    t0 = sim.now
    # node0's cable goes out for 1.5 s (< deadtime), back for 1 s, ten times.
    for i in range(10):
        sim.at(t0 + 2.5 * i, lambda: sim.unplug("node0"))
        sim.at(t0 + 2.5 * i + 1.5, lambda: sim.plug("node0"))
    sim.run_for(25.0 + dt)
    # Nobody is ever declared dead and no resource operation runs.
    assert sim.notice_times("node1", "node", "node0", since=t0, status="dead") == []
    assert sim.op_log(None, None, None, t0) == []
    assert sim.owners(VIP1) == ["node0"]


def test_flapping_primary_ends_on_primary_without_overlap():
    sim = settled()
    dt, ka = SHORT["deadtime"], SHORT["keepalive"]
    t0 = sim.now
    # node0 power-cycles: off long enough to fail over, on long enough to fail back.
    for i in range(5):
        sim.power_off("node0")
        sim.run_for(dt + 1.0)
        assert sim.owners(VIP1) == ["node1"], sim.report()
        sim.start("node0")
        sim.run_for(1.0 + (i % 3) * ka)
    sim.run_for(dt + 3 * ka)
    # Never two holders, and it ends at home.
    assert overlaps_since(sim, t0) == [], sim.report()
    assert sim.owners(VIP1) == ["node0"] and sim.held_by("node1") == []


# --- ping nodes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("timings", TIMINGS)
def test_ping_loss_on_primary_gives_group_to_standby_and_back(timings):
    sim = settled(timings=timings)
    ka, deadping = timings["keepalive"], timings["deadping"]
    # node0's route to the gateway breaks; the heartbeat link (eth2) is fine.
    t0 = sim.now
    sim.cut_gateway("node0")
    last_ping = sim.last_ping["node0"]
    sim.run_for(deadping + 3 * ka + 2 * GROUP_OP_BUDGET + 3 * LAN_DELAY[1] + SLACK)
    # deadping after its last reply node0 counts the ping node dead; within a couple of
    # keepalives (peers' ping counts must be fresh: that is what keeps a gateway outage
    # everywhere from moving anything) it releases vip1 right to left, and node1, which
    # still reaches the gateway, takes it.
    stops, starts = assert_handover(sim, VIP1, "node0", "node1", t0)
    t_dead = sim.notice_times("node0", "node", GATEWAY, since=t0, status="dead")[0]
    assert t_dead == pytest.approx(last_ping + deadping, abs=1e-6)
    assert t_dead <= stops[0]["begin"] <= t_dead + 3 * ka + SLACK, sim.report()
    assert sim.owners(VIP1) == ["node1"] and sim.owners(VIP2) == ["node2"]
    # The gateway is back: vip1 returns to node0 (auto_failback on), no overlap.
    t1 = sim.now
    sim.restore_gateway("node0")
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"], timeout=deadping + 3 * ka)
    assert_handover(sim, VIP1, "node1", "node0", t1)
    assert overlaps_since(sim, t0) == []


def test_ping_loss_everywhere_moves_nothing():
    sim = settled()
    dt = SHORT["deadtime"]
    t0 = sim.now
    # The gateway itself dies: nobody reaches it.
    for name in sim.names:
        sim.cut_gateway(name)
    sim.run_for(5 * (SHORT["deadping"] + dt))
    # Nobody is better placed than anyone else: no ping-pong, not a single operation.
    assert sim.op_log(None, None, None, t0) == [], sim.report()
    assert sim.owners(VIP1) == ["node0"] and sim.owners(VIP2) == ["node2"]


# --- resource failures -----------------------------------------------------------------------------

def test_failed_start_on_standby_rolls_back_and_next_backup_takes_over():
    sim = settled()
    dt, ka = SHORT["deadtime"], SHORT["keepalive"]
    # node1's MacAddr start for vip1 will fail.
    mac = GROUP1[1]
    sim.fail_next("node1", mac, "start")
    t0 = sim.now
    sim.power_off("node0")
    sim.run_for(dt + ka + 3 * GROUP_OP_BUDGET + 2 * LAN_DELAY[1] + SLACK)
    # node1's identity move (one block) failed on the MAC: the block was undone as a
    # whole (a stop of the block, stop being idempotent); node1 does not hold vip1 and
    # node2 took it.
    ops = [(o["op"], o["spec"], o["ok"]) for o in sim.op_log("node1", None, VIP1, t0)]
    assert ops[:4] == [("start", s, False) for s in GROUP1], ops
    assert ops[4:] == [("stop", s, True) for s in reversed(GROUP1)], ops
    assert "node1" not in sim.holders(VIP1)
    assert sim.owners(VIP1) == ["node2"], sim.report()
    starts = sim.op_log("node2", "start", VIP1, t0)
    rollback_end = sim.op_log("node1", "stop", VIP1, t0)[-1]["end"]
    assert starts[0]["begin"] >= rollback_end
    assert overlaps_since(sim, t0) == []


# --- operator requests ------------------------------------------------------------------------------

def test_standby_all_moves_groups_away_and_takeover_brings_them_back():
    sim = settled()
    ka = SHORT["keepalive"]
    # hbctl standby on node0: vip1 goes to node1 (stop first).
    t0 = sim.now
    sim.admin("node0", AdminVerb.STANDBY, "all")
    sim.run_until(lambda: sim.owners(VIP1) == ["node1"], timeout=2 * ka + 1.0)
    assert_handover(sim, VIP1, "node0", "node1", t0)
    sim.run_for(5 * ka)
    assert sim.owners(VIP1) == ["node1"]          # standby sticks
    # hbctl takeover on node0: back again.
    t1 = sim.now
    sim.admin("node0", AdminVerb.TAKEOVER, "all")
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"], timeout=2 * ka + 1.0)
    assert_handover(sim, VIP1, "node1", "node0", t1)
    assert overlaps_since(sim, t0) == []


# --- the scenario's own per-node haresources ---------------------------------------------------------

def test_per_node_haresources_node0_killed_only_node1_takes_over():
    sim = settled(per_node_haresources=True)
    dt, ka = SHORT["deadtime"], SHORT["keepalive"]
    # node0 knows only node0/node1 and its own group; node2 only node2/node1.
    t0 = sim.now
    sim.power_off("node0")
    sim.run_for(dt + ka + GROUP_OP_BUDGET + SLACK)
    assert sim.owners(VIP1) == ["node1"]
    assert sim.op_log("node2", None, None, t0) == []
    sim.start("node0")
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"], timeout=2 * ka + 1.0)
    assert overlaps_since(sim, t0) == []


# --- two nodes --------------------------------------------------------------------------------------

def test_two_node_cluster_fails_over_and_back():
    sim = Sim(two_node_configs(**SHORT), seed=0)
    dt, ka = SHORT["deadtime"], SHORT["keepalive"]
    # Both start: node0 (primary) takes vip1.
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"], timeout=SHORT["initdead"] + 5)
    sim.run_for(3 * ka)
    # Power off node0: node1 takes over after deadtime.
    t0 = sim.now
    sim.power_off("node0")
    sim.run_for(dt + ka + GROUP_OP_BUDGET + SLACK)
    t_dead = assert_dead_exactly_deadtime_after_last_status(sim, "node1", "node0", t0, dt, ka)
    assert_started_in_order(sim, "node1", VIP1, t0, by=t_dead + GROUP_OP_BUDGET + SLACK)
    # Power on: failback.
    t1 = sim.now
    sim.start("node0")
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"], timeout=2 * ka + 1.0)
    assert_handover(sim, VIP1, "node1", "node0", t1)
    assert overlaps_since(sim, t0) == []


def test_lone_node_takes_its_group_after_initdead():
    configs = two_node_configs(**SHORT)
    sim = Sim(configs, seed=0, autostart=False)
    # Only node1 boots; node0 never appears.
    sim.start("node1")
    # node0 (the primary, ranked first) may be alive behind a partition and taking its
    # group itself: node1 waits one keepalive more, probes, then starts.
    sim.run_for(SHORT["initdead"] + SHORT["keepalive"] + PROBE_WAIT + GROUP_OP_BUDGET + SLACK)
    t_dead = dead_at(sim, "node1", "node0", 0.0)
    assert t_dead == pytest.approx(SHORT["initdead"], abs=1e-6)
    assert sim.owners(VIP1) == ["node1"], sim.report()


# --- the same drill with every message through the wire codec ------------------------------------

def test_power_off_drill_survives_a_wire_codec_round_trip():
    from hbd.wire import codec
    rejected = []

    def round_trip(message, config):
        result = codec.decode(codec.encode(message, config.authkeys), config.authkeys)
        if not hasattr(result, "message"):
            rejected.append((message, str(result)))
            return None
        return result.message

    sim = settled(wire=round_trip)
    dt, ka = SHORT["deadtime"], SHORT["keepalive"]
    # Power off node0 and back on, every packet encoded and decoded on the way.
    t0 = sim.now
    sim.power_off("node0")
    sim.run_for(dt + ka + GROUP_OP_BUDGET + SLACK)
    assert sim.owners(VIP1) == ["node1"], sim.report()
    sim.start("node0")
    sim.run_until(lambda: sim.owners(VIP1) == ["node0"], timeout=2 * ka + 1.0)
    assert overlaps_since(sim, t0) == []
    assert rejected == []

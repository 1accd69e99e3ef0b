"""The simulation's own mechanics, checked with a toy core (not hbd's).

The toy core sends `status` every keepalive, declares a peer dead `deadtime`
after it last heard it, and holds every group whose first live node (in its
own view) is itself. It has no hand-over protocol, so a partition gives two
holders; that is what the auditor tests need.
"""

from __future__ import annotations

import pytest

from hbd.core.actions import Notice, RunResourceOp, Send, ShutdownComplete
from hbd.core.events import (PacketReceived, PingReplied, ResourceOpFinished, ResourceOpKind,
                             ShutdownRequested, Started, TimerFired)
from hbd.wire.message import Message
from tests.sim.configs import GATEWAY, SHORT, VIP1, VIP2, scenario_configs, two_node_configs
from tests.sim.harness import InvariantViolation, LAN_DELAY, NodeState, Sim


class ToyCore:
    def __init__(self, config, *, generation, uuid, now, rng, wall_offset=0.0, greedy=False):
        self.config = config
        self.me = config.node_name
        self.generation = generation
        self.rng = rng
        self.greedy = greedy
        self.started_at = now
        self.heard: dict[str, float] = {}
        self.dead: set[str] = set()
        self.send_at = now
        self.log: list[tuple[float, object]] = []
        self.holding: dict[str, str] = {}        # group -> "starting"/"held"/"stopping"
        self.pending: dict[int, tuple[str, int]] = {}
        self.next_op = 0
        self.stopping = False

    def next_deadline(self):
        times = [self.send_at]
        for n in self.config.nodes:
            if n != self.me and n not in self.dead:
                times.append(self.heard.get(n, self.started_at - self.config.deadtime
                                            + self.config.initdead) + self.config.deadtime)
        return min(times)

    def status(self):
        return None

    def handle(self, event, *, now):
        self.log.append((now, event))
        out = []
        if isinstance(event, Started):
            out.append(("save", self.generation + 1))
        elif isinstance(event, PacketReceived):
            src = event.message.get("src")
            if event.message.type == "shutdone":
                self.dead.add(src)
            else:
                self.heard[src] = now
                if src in self.dead:
                    self.dead.discard(src)
                    out.append(Notice("node", src, "is back", (("status", "active"),)))
        elif isinstance(event, TimerFired):
            if now >= self.send_at:
                self.send_at = now + self.config.keepalive
                out.append(Send(Message.of(("t", "status"), ("src", self.me))))
            for n in self.config.nodes:
                if n == self.me or n in self.dead:
                    continue
                last = self.heard.get(n, self.started_at - self.config.deadtime
                                      + self.config.initdead)
                if now >= last + self.config.deadtime:
                    self.dead.add(n)
                    out.append(Notice("node", n, "dead", (("status", "dead"),)))
        elif isinstance(event, ResourceOpFinished):
            group, index = self.pending.pop(event.op_id)
            out.extend(self._progress(group, index, event.ok))
        elif isinstance(event, ShutdownRequested):
            self.stopping = True
        if not isinstance(event, ResourceOpFinished):
            out.extend(self._place())
        if self.stopping and not self.holding and not self.pending:
            out.append(Send(Message.of(("t", "shutdone"), ("src", self.me))))
            out.append(ShutdownComplete())
        return [a for a in out if not isinstance(a, tuple)]

    def _alive_first(self):
        if any(n != self.me and n not in self.dead and n not in self.heard
               for n in self.config.nodes):
            return None        # comm not up yet: every node heard or declared dead
        for n in self.config.nodes:
            if n == self.me or n not in self.dead and n in self.heard:
                return n
        return None

    def _place(self):
        out = []
        for g in self.config.groups:
            want = not self.stopping and (self.greedy or self._alive_first() == self.me)
            state = self.holding.get(g.key)
            if want and state is None:
                self.holding[g.key] = "starting"
                out.append(self._op(g, 0, ResourceOpKind.START))
            elif not want and state == "held":
                self.holding[g.key] = "stopping"
                out.append(self._op(g, len(g.resources) - 1, ResourceOpKind.STOP))
        return out

    def _op(self, g, index, kind):
        self.next_op += 1
        self.pending[self.next_op] = (g.key, index)
        return RunResourceOp(self.next_op, g.key, (g.resources[index],), kind, (index,))

    def _progress(self, key, index, ok):
        g = self.config.group(key)
        if self.holding[key] == "starting":
            if not ok:
                del self.holding[key]
                return [Notice("group", key, "start failed")]
            if index + 1 < len(g.resources):
                return [self._op(g, index + 1, ResourceOpKind.START)]
            self.holding[key] = "held"
        else:
            if index > 0:
                return [self._op(g, index - 1, ResourceOpKind.STOP)]
            del self.holding[key]
        return self._place()


def toy(**kw):
    def factory(config, **args):
        return ToyCore(config, **args, **kw)
    return factory


def toy_sim(seed=0, configs=None, **kw):
    configs = configs or two_node_configs(**SHORT)
    return Sim(configs, seed, core_factory=toy(**kw.pop("toy", {})), **kw)


def received(sim, node, since=0.0):
    return [(t, e.message.get("src")) for t, e in sim.core(node).log
            if isinstance(e, PacketReceived) and t >= since]


# --- clock and queue ------------------------------------------------------------------

def test_calls_at_the_same_time_run_in_scheduling_order():
    sim = toy_sim(autostart=False)
    seen = []
    for i in range(5):
        sim.at(1.0, lambda i=i: seen.append(i))
    sim.at(0.5, lambda: seen.append("early"))
    sim.run_for(2.0)
    assert seen == ["early", 0, 1, 2, 3, 4]
    assert sim.now == 2.0


def test_run_until_returns_the_time_and_times_out():
    sim = toy_sim(autostart=False)
    flag = []
    sim.at(3.25, lambda: flag.append(1))
    assert sim.run_until(lambda: flag, timeout=10) == 3.25
    with pytest.raises(TimeoutError, match="seed=0"):
        sim.run_until(lambda: False, timeout=1.0)
    assert sim.now == 4.25


def test_timer_fires_at_the_core_deadline():
    # Status goes out every keepalive exactly: the toy sends at each TimerFired.
    sim = toy_sim()
    sim.run_for(1.0)
    fired = [t for t, e in sim.core("node0").log if isinstance(e, TimerFired)]
    assert fired[:6] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])


# --- network ------------------------------------------------------------------------------

def test_packets_arrive_within_the_link_delay():
    sim = toy_sim()
    sim.set_delay(0.05, 0.10)
    sim.run_for(5.0)
    arrivals = [t for t, _ in received(sim, "node1", since=0.5)]
    # node0 sends at multiples of 0.2; each arrives 50-100 ms later.
    offsets = [round(t % 0.2, 6) for t in arrivals]
    assert all(0.05 - 1e-9 <= o <= 0.10 + 1e-9 for o in offsets)
    assert len(arrivals) == pytest.approx(22, abs=1)


def test_loss_drops_about_the_given_fraction():
    sim = toy_sim(seed=3, configs=two_node_configs(keepalive=0.2, deadtime=100, initdead=200))
    sim.set_loss("node0", "node1", 0.5)
    sim.run_for(200.0)
    n = len(received(sim, "node1"))
    assert 400 < n < 600          # 1000 sent, binomial(1000, 0.5)


def test_partition_and_heal():
    sim = toy_sim()
    sim.run_for(1.0)
    sim.partition("node0", "node1")
    sim.run_for(3.0)
    assert received(sim, "node1", since=1.01) == []
    assert received(sim, "node0", since=1.01) == []
    assert sim.notice_times("node1", "node", "node0", status="dead") == [pytest.approx(3.0, abs=0.01)]
    sim.heal()
    sim.run_for(1.0)
    assert received(sim, "node1", since=4.0)


def test_oneway_partition_cuts_one_direction():
    sim = toy_sim()
    sim.partition_oneway("node0", "node1")
    sim.run_for(2.0)
    assert received(sim, "node1") == []
    assert len(received(sim, "node0")) == 10


def test_isolate_and_unplug():
    sim = toy_sim(configs=scenario_configs(**SHORT))
    sim.isolate("node2")
    sim.run_for(1.0)
    assert {s for _, s in received(sim, "node0")} == {"node1"}
    assert received(sim, "node2") == []
    sim.heal()
    sim.unplug("node1")
    sim.run_for(1.0)
    assert {s for _, s in received(sim, "node0", since=1.01)} == {"node2"}
    assert received(sim, "node1", since=1.01) == []
    pings = [t for t, e in sim.core("node1").log if isinstance(e, PingReplied) and t > 1.01]
    assert pings == []


def test_hold_queues_until_release():
    sim = toy_sim()
    sim.hold("node0", "node1")
    sim.run_for(1.0)
    assert received(sim, "node1") == []
    sim.release("node0", "node1")
    sim.run_for(0.01)
    assert len(received(sim, "node1")) == 6        # sent at 0.0, 0.2, ..., 1.0
    assert all(1.0 <= t <= 1.0 + LAN_DELAY[1] for t, _ in received(sim, "node1"))


def test_duplicates_and_replays_deliver_extra_copies():
    sim = toy_sim(seed=5, strict=False)
    sim.set_duplicate(0.5, "node0", "node1")
    sim.run_for(10.0)
    assert len(received(sim, "node1")) > 60          # 50 sent, ~25 duplicated
    sim2 = toy_sim(seed=5)
    sim2.set_replay(0.5, "node0", "node1")
    sim2.run_for(10.0)
    assert len(received(sim2, "node1")) > 60


def test_broadcast_fans_out_in_sorted_order():
    sim = toy_sim(configs=scenario_configs(**SHORT))
    sim.set_delay(0.01, 0.01)
    sim.run_for(0.1)
    firsts = [line for line in sim.trace if "start" in line]
    assert firsts  # started all three
    # Same send time, same delay: deliveries happen in sorted destination order.
    got = [(t, n) for n in ("node0", "node1", "node2") for t, s in received(sim, n)
           if s == "node0"]
    assert sorted(got) == [(pytest.approx(0.01), "node1"), (pytest.approx(0.01), "node2")]


def test_ping_replies_every_interval_unless_gateway_cut():
    sim = toy_sim()
    sim.run_for(2.0)
    pings = [t for t, e in sim.core("node0").log if isinstance(e, PingReplied)]
    assert len(pings) == 10 and all(e.address == GATEWAY for _, e in sim.core("node0").log
                                    if isinstance(e, PingReplied))
    sim.cut_gateway("node0")
    sim.run_for(2.0)
    assert [t for t, e in sim.core("node0").log if isinstance(e, PingReplied) and t > 2.0] == []


# --- resources, nodes and the auditor ------------------------------------------------------------

def test_first_node_takes_the_group_after_initdead():
    sim = toy_sim()
    sim.run_for(1.0)
    assert sim.owners(VIP1) == ["node0"]
    assert sim.holders(VIP1) == ["node0"]


def test_power_off_clears_resources_kill_keeps_them():
    sim = toy_sim()
    sim.run_for(1.0)
    sim.power_off("node0")
    assert sim.owners(VIP1) == []
    sim.run_for(3.0)
    assert sim.owners(VIP1) == ["node1"]

    sim = toy_sim()
    sim.run_for(1.0)
    sim.kill_daemon("node0")
    sim.run_for(3.0)
    assert sim.owners(VIP1) == ["node0", "node1"]          # split brain
    assert f"group:{VIP1}" in {o.key for o in sim.auditor.all_overlaps()}
    sim.restart("node0")                                     # crash recovery clears it
    assert "crash recovery" in sim.trace[-4] or any("crash recovery" in ln for ln in sim.trace)
    sim.run_for(2.0)
    assert sim.owners(VIP1) == ["node0"]                     # toy fails back at once


def test_generation_is_read_from_disk_on_restart():
    sim = toy_sim()
    sim.run_for(0.1)
    sim.nodes["node0"].disk["generation"] = 7
    sim.restart("node0")
    assert sim.core("node0").generation == 7


def test_freeze_queues_input_and_thaw_fires_the_overdue_timer_first():
    sim = toy_sim()
    sim.run_for(1.0)
    sim.freeze("node1")
    sim.run_for(1.0)
    assert sim.nodes["node1"].state is NodeState.FROZEN
    before = len(sim.core("node1").log)
    sim.thaw("node1")
    events = [e for _, e in sim.core("node1").log[before:]]
    assert isinstance(events[0], TimerFired)
    assert sum(isinstance(e, PacketReceived) for e in events) == 5
    assert all(t == 2.0 for t, _ in sim.core("node1").log[before:])


def test_failed_start_leaves_nothing():
    sim = toy_sim()
    sim.fail_next("node0", VIP1, "start")
    sim.run_until(lambda: sim.op_log("node0", "start") and sim.op_log("node0")[0]["ok"] is False,
                  timeout=1.0)
    assert sim.holders(VIP1) == []
    assert sim.nodes["node0"].resources.failures == {(VIP1, "start"): 0}


def test_graceful_stop_ends_the_daemon():
    sim = toy_sim()
    sim.run_for(1.0)
    sim.stop("node0")
    sim.run_for(0.5)
    assert sim.nodes["node0"].state is NodeState.DOWN
    assert sim.owners(VIP1) == ["node1"]


def test_auditor_records_overlap_during_partition_without_raising():
    sim = toy_sim()
    sim.run_for(1.0)
    sim.partition("node0", "node1")
    sim.run_for(5.0)
    assert sim.owners(VIP1) == ["node0", "node1"]
    sim.heal()
    sim.run_for(1.0)
    overlaps = [o for o in sim.auditor.all_overlaps() if o.key == f"group:{VIP1}"]
    assert len(overlaps) == 1 and overlaps[0].nodes == ("node0", "node1")
    assert overlaps[0].end is not None
    assert {o.key for o in sim.auditor.all_overlaps()} == {
        f"group:{VIP1}", "ip:192.168.32.21", "mac:00:1E:68:1E:99:5E"}


def test_auditor_raises_with_the_seed_when_clean_and_still_two_holders():
    sim = toy_sim(seed=42, toy={"greedy": True})
    with pytest.raises(InvariantViolation, match=r"seed=42") as info:
        sim.run_for(10.0)
    # window = deadtime + keepalive + 1 s = 3.2 s after the last disturbance (t=0)
    assert 3.2 < sim.now <= 3.45
    assert "last 50 trace lines" in str(info.value)


def test_same_seed_same_digest_different_seed_differs():
    def run(seed):
        sim = toy_sim(seed=seed, configs=scenario_configs(**SHORT))
        sim.chaos(30.0)
        sim.recover()
        sim.run_for(5.0)
        return sim.trace_digest()
    assert run(1) == run(1)
    assert run(1) != run(2)


def test_chaos_runs_with_the_toy_core():
    # The toy has no hand-over, so overlaps are expected: record, don't raise.
    sim = toy_sim(seed=9, configs=scenario_configs(**SHORT), strict=False)
    sim.chaos(60.0)
    sim.recover()
    sim.run_for(6.0)
    assert any("chaos" in line for line in sim.trace)
    assert sim.owners(VIP2) == ["node0"] and sim.owners(VIP1) == ["node0"]


def test_swizzle_clogs_then_unclogs_every_chosen_link():
    sim = toy_sim(seed=4, configs=scenario_configs(**SHORT), strict=False)
    sim.swizzle(2.0)
    sim.run_for(1.0)
    held = [pair for pair, link in sim.links.items() if link.held]
    assert held                                   # some links are clogged mid-way
    sim.run_for(1.5)
    assert not any(link.held or link.queue for link in sim.links.values())

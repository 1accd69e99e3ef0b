"""takeover.decide() and GroupRun on their own (pure, no Cluster)."""

from hbd.config.model import AutoFailback, Resource, ResourceGroup
from hbd.core.events import ResourceOpKind
from hbd.core.placement import backup_order
from hbd.core.status import GroupState
from hbd.core.takeover import STOP_RETRIES, GroupRun, NodeFacts, Step, StepOutcome, decide

NODES = ("node0", "node2", "node1")          # ha.cf order of the source scenario
VIP1 = ResourceGroup("node0", (Resource("IPaddr", ("192.168.32.21/24/eth0",)),
                               Resource("MacAddr", ("eth0", "00:1E:68:1E:99:5E")),
                               Resource("Hostname", ("nodevir",))))
VIP2 = ResourceGroup("node2", (Resource("IPaddr", ("192.168.32.22/24/eth0",)),))
GROUPS = (VIP1, VIP2)
# three scripts: a step each (native identity resources side by side form one block)
SCRIPTS = ResourceGroup("node0", (Resource("fs"), Resource("db"), Resource("httpd")))
ON, OFF = AutoFailback.ON, AutoFailback.OFF


def facts(**overrides):
    base = {n: NodeFacts(n, eligible=True) for n in NODES}
    for name, kw in overrides.items():
        base[name] = NodeFacts(name, **{"eligible": True, **kw})
    return base


def wants(me, f, group=VIP1, afb=ON):
    return decide(group, me, NODES, GROUPS, f, afb)


def test_backup_order_prefers_dedicated_standby():
    assert backup_order(VIP1, NODES, GROUPS) == ("node1", "node2")
    assert backup_order(VIP2, NODES, GROUPS) == ("node1", "node0")


def test_primary_takes_its_group_when_all_alive():
    f = facts()
    assert wants("node0", f).want
    assert not wants("node1", f).want
    assert not wants("node2", f).want


def test_standby_takes_group_of_dead_primary_not_other_primary():
    f = facts(node0={"eligible": False})
    assert wants("node1", f).want
    assert not wants("node2", f).want
    assert wants("node1", f).desired == "node1"


def test_standby_takes_both_groups_when_both_primaries_dead():
    f = facts(node0={"eligible": False}, node2={"eligible": False})
    assert wants("node1", f, VIP1).want and wants("node1", f, VIP2).want


def test_other_primary_takes_group_when_standby_also_dead():
    f = facts(node0={"eligible": False}, node1={"eligible": False})
    assert wants("node2", f, VIP1).want


def test_auto_failback_on_holder_releases_to_returning_primary():
    f = facts(node1={"holds": frozenset({VIP1.key})})
    d = wants("node1", f)
    assert not d.want and d.desired == "node0" and d.holder == "node1"
    # the primary waits until the release is announced
    assert not wants("node0", f).want
    assert wants("node0", facts()).want


def test_auto_failback_off_holder_keeps_group():
    f = facts(node1={"holds": frozenset({VIP1.key})})
    assert wants("node1", f, afb=OFF).want
    assert not wants("node0", f, afb=OFF).want


def test_healed_partition_better_ranked_holder_keeps():
    f = facts(node0={"holds": frozenset({VIP1.key})}, node1={"holds": frozenset({VIP1.key})})
    assert wants("node0", f).want
    assert not wants("node1", f).want
    # same under auto_failback off: ranking decides, deterministically
    assert wants("node0", f, afb=OFF).want and not wants("node1", f, afb=OFF).want


def test_standby_request_moves_group_to_backup():
    f = facts(node0={"standby": frozenset({"local"}), "holds": frozenset({VIP1.key})})
    assert not wants("node0", f).want
    assert wants("node1", facts(node0={"standby": frozenset({"local"})})).want


def test_standby_node_still_holds_when_nobody_else_can():
    f = facts(node0={"standby": frozenset({"local", "foreign"})},
              node1={"eligible": False}, node2={"eligible": False})
    assert wants("node0", f).want


def test_takeover_claim_beats_primary():
    f = facts(node1={"claims": frozenset({"foreign"})})
    assert wants("node1", f).desired == "node1"


def test_ping_degraded_primary_gives_way():
    f = facts(node0={"ping_degraded": True, "holds": frozenset({VIP1.key})})
    assert not wants("node0", f).want
    assert wants("node1", facts(node0={"ping_degraded": True})).want


def test_failed_start_makes_node_unusable_for_that_group():
    f = facts(node0={"eligible": False}, node1={"failed": frozenset({VIP1.key})})
    assert not wants("node1", f).want
    assert wants("node2", f).want


def test_backup_waits_for_better_ranked_node_still_starting():
    f = facts(node0={"eligible": False, "pending": True})
    assert not wants("node1", f).want


def test_never_start_a_group_a_peer_holds():
    f = facts(node0={"eligible": False}, node2={"holds": frozenset({VIP1.key})})
    assert not wants("node1", f).want


def _run(results, group=SCRIPTS):
    run = GroupRun(group)
    run.begin_start()
    seen = []
    outcome = None
    for ok in results:
        step = run.current()
        seen.append(step)
        run.op_id = 1
        outcome = run.finish_step(ok, now=0.0)
        if outcome in (StepOutcome.STARTED, StepOutcome.STOPPED, StepOutcome.STOP_FAILED):
            break
    return run, seen, outcome


def test_start_runs_left_to_right():
    run, seen, outcome = _run([True, True, True])
    assert [s.indices for s in seen] == [(0,), (1,), (2,)] and outcome is StepOutcome.STARTED
    assert run.state is GroupState.STARTED


def test_stop_runs_right_to_left():
    run, _, _ = _run([True, True, True])
    run.begin_stop()
    assert run.plan == [Step((2,), ResourceOpKind.STOP), Step((1,), ResourceOpKind.STOP),
                        Step((0,), ResourceOpKind.STOP)]


def test_failed_start_rolls_back_what_started():
    run, seen, outcome = _run([True, False, True, True])
    assert seen[:2] == [Step((0,), ResourceOpKind.START), Step((1,), ResourceOpKind.START)]
    assert seen[2:] == [Step((1,), ResourceOpKind.STOP), Step((0,), ResourceOpKind.STOP)]
    assert outcome is StepOutcome.STOPPED and run.state is GroupState.STOPPED
    assert run.failed_until is not None


def test_interrupted_start_stops_only_what_started():
    run = GroupRun(SCRIPTS)
    run.begin_start()
    run.op_id = 1
    assert run.finish_step(True, now=0.0) is StepOutcome.NEXT
    run.begin_stop()
    assert run.plan == [Step((0,), ResourceOpKind.STOP)]


def test_failed_stop_retries_then_stays_held():
    run, _, _ = _run([True, True, True])
    run.begin_stop()
    outcomes = []
    for _ in range(STOP_RETRIES):
        run.op_id, run.retry_at = 1, None
        outcomes.append(run.finish_step(False, now=0.0))
    assert outcomes[:-1] == [StepOutcome.RETRY] * (STOP_RETRIES - 1)
    assert outcomes[-1] is StepOutcome.STOP_FAILED
    assert run.state is GroupState.STOP_FAILED and run.state.holding


def test_ping_blind_node_takes_no_other_nodes_group_but_keeps_what_it_holds():
    # node0 (primary of vip1) is dead; node1 is cut off from its ping node: it does
    # not take vip1 (it is probably the one cut off); node2 does instead.
    f = facts(node0={"eligible": False}, node1={"ping_blind": True})
    assert not wants("node1", f).want
    assert wants("node2", f).want
    # Already holding vip1 (auto_failback off keeps it there), node1 keeps it while
    # blind: losing the gateway for a moment must not force a failback.
    f = facts(node1={"ping_blind": True, "holds": frozenset({VIP1.key})})
    assert wants("node1", f, afb=OFF).want and wants("node1", f, afb=OFF).desired == "node1"
    # Its own groups it may still start.
    f = facts(node2={"ping_blind": True})
    assert wants("node2", f, group=VIP2).want


def test_heartbeat_peer_with_unknown_holdings_blocks_new_starts():
    f = facts(node1={"holds_unknown": True})
    assert not wants("node0", f).want                # it may hold vip1: ask first
    f = facts(node1={"holds_unknown": True}, node0={"holds": frozenset({VIP1.key})})
    assert wants("node0", f).want                    # what one holds is kept


def test_adjacent_identity_resources_are_one_block():
    run = GroupRun(VIP1)
    run.begin_start()
    assert run.plan == [Step((0, 1, 2), ResourceOpKind.START)]
    mixed = ResourceGroup("node0", (Resource("fs"), *VIP1.resources, Resource("httpd"),
                                    Resource("DefaultRoute", ("10.0.0.1",))))
    run = GroupRun(mixed)
    run.begin_start()
    assert [s.indices for s in run.plan] == [(0,), (1, 2, 3), (4,), (5,)]
    run.op_id = 1
    assert run.finish_step(True, now=0.0) is StepOutcome.NEXT
    run.op_id = 1
    assert run.finish_step(False, now=0.0) is StepOutcome.START_FAILED
    # rollback: the failed block and what started before it, right to left
    assert [(s.indices, s.op) for s in run.plan] == [((1, 2, 3), ResourceOpKind.STOP),
                                                    ((0,), ResourceOpKind.STOP)]

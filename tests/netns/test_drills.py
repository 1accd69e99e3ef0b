"""The drills (hbd_lab/scenario.py's table), each on a fresh lab (`hbd-lab` machinery).

Every test builds the whole scenario (node0, node1, node2, gateway, client),
starts hbd on each node with the shipped configuration (keepalive 200 ms,
deadtime 1 s), injects one failure and asserts on the drill's verdict (what
the client saw on the VIPs, what the 10 ms holders sampler saw on the nodes;
its deadlines are figures, see `assert_behaved`) and on the real interfaces
of node1 and of the primary afterwards.

A drill whose expectation needs core work still to land goes into NEEDS_CORE
(`xfail(strict=True)` with the reason); none does today.
"""

from __future__ import annotations

import time

import pytest

from hbd_lab import session as sessions, timeline
from hbd_lab.cluster import wait_for
from hbd_lab.drills import DRILLS, VIPS, DrillRunner, HbdSystem, own_identity_problems
from tests.netns.conftest import require_netns, unique_prefix

NEEDS_CORE: dict[str, str] = {}     # drills still waiting for core work (none)


@pytest.fixture
def lab_session(request):
    require_netns()
    prefix = unique_prefix()
    session = None
    try:
        param = getattr(request, "param", {})
        session = sessions.up(prefix=prefix, stonith=param.get("stonith", False),
                              ping=param.get("ping", True),
                              watchdog=param.get("watchdog", False))
        session.services.watch()
        yield session
    finally:
        if session is not None:
            session.services.close()
            for node in session.lab.nodes.values():
                tail = node.log_text()[-2000:]
                if tail:
                    print(f"===== {node.name} hbd log (tail) =====\n{tail}")
        sessions.down(prefix)


def runner_for(session, **kwargs) -> DrillRunner:
    return DrillRunner(session.lab, HbdSystem(session.lab), session.services,
                       deadtime=session.deadtime, stonith=session.stonith,
                       watchdog=session.watchdog, **kwargs)


def assert_behaved(result) -> None:
    """The drill's behaviour as scenario.py's table expects it. Its deadline of
    deadtime + 50 ms (`result.late`) is the table's and the benchmark's figure, not
    asserted here: a sound takeover on a busy machine misses it now and then."""
    assert result.problems == []
    if result.late:
        print(f"{result.drill} {result.primary} over its deadline: {result.late}")


def holds_identity(lab, node, primary):
    vip, host, mac = VIPS[primary]
    n = lab[node]
    return (f"{vip}/24" in n.addresses() and n.mac() == mac and n.hostname() == host)


def _drill_params():
    for drill in DRILLS:
        marks = [pytest.mark.xfail(strict=True, reason=NEEDS_CORE[drill])] \
            if drill in NEEDS_CORE else []
        yield pytest.param(drill, marks=marks, id=drill)


@pytest.mark.parametrize("primary", ["node0", "node2"])
@pytest.mark.parametrize("drill", list(_drill_params()))
def test_drill(lab_session, drill, primary):
    lab = lab_session.lab
    result = runner_for(lab_session, hblan_cut=10.0).run(drill, (primary,))
    vip, host, mac = VIPS[primary]
    assert_behaved(result)
    if drill in ("hang", "hblan"):        # nothing had to move: the primary kept its VIP
        assert result.taker is None
    else:   # while node1 stood in, the client reached the VIP at node1 as the virtual host
        assert result.taker == ("node1", host, mac)
    # Afterwards: node1 is itself again, the primary holds its identity.
    assert own_identity_problems(lab, "node1") == []
    wait_for(lambda: holds_identity(lab, primary, primary), timeout=10,
             what=f"{primary} to hold its VIP, MAC and hostname")


@pytest.mark.parametrize("lab_session", [{"ping": False}], indirect=True, ids=["no-ping"])
@pytest.mark.parametrize("primary", ["node0", "node2"])
def test_isolate_for_two_seconds_without_a_ping_node(lab_session, primary):
    """The benchmark's cable pull: both cables out for 2 s, heartbeat's default of no
    ping node; the failback must cost no more than an ordinary one."""
    result = runner_for(lab_session).run("isolate", (primary,), hold=2.0)
    assert_behaved(result)
    assert own_identity_problems(lab_session.lab, "node1") == []


def test_both_primaries_fail_together(lab_session):
    lab = lab_session.lab
    result = runner_for(lab_session).run("poweroff", ("node0", "node2"))
    assert_behaved(result)
    assert result.taker[0] == "node1"
    assert own_identity_problems(lab, "node1") == []
    for primary in ("node0", "node2"):
        wait_for(lambda primary=primary: holds_identity(lab, primary, primary), timeout=10,
                 what=f"{primary} to hold its identity again")


@pytest.mark.parametrize("lab_session", [{"stonith": True}], indirect=True, ids=["stonith"])
@pytest.mark.parametrize("primary", ["node0", "node2"])
def test_hang_with_stonith_fences_the_hung_primary_before_taking_over(lab_session, primary):
    lab = lab_session.lab
    vip, host, mac = VIPS[primary]
    result = runner_for(lab_session).run("hang", (primary,))
    assert_behaved(result)
    assert result.fenced and result.taker == ("node1", host, mac)
    log = lab["node1"].log_text()
    fenced = log.index(f"node {primary} fenced (STONITH)")
    first_start = log.index(f"op='start' resource='IPaddr::{vip}")
    assert log.index(f"fencing {primary} (STONITH)") < fenced < first_start
    # the hung node was powered off: once node1 answered, only node1 did, until recovery
    probes = [p for p in timeline.for_target(lab_session.services.probes(), vip)
              if p.ok and result.t_taken <= p.t <= result.t_recover]
    assert {p.node for p in probes} == {"node1"}
    wait_for(lambda: holds_identity(lab, primary, primary), timeout=15,
             what=f"{primary}, booted again, to hold its identity")
    assert own_identity_problems(lab, "node1") == []


@pytest.mark.parametrize("lab_session", [{"watchdog": True}], indirect=True, ids=["watchdog"])
def test_hang_with_a_watchdog_reboots_the_hung_primary_before_node1_takes_over(lab_session):
    lab = lab_session.lab
    result = runner_for(lab_session).run("hang", ("node0",))
    assert_behaved(result)
    log = (lab["node0"].root / "watchdog.log").read_text()
    assert "armed" in log and "rebooting node0" in log
    # rebooted, not fenced: node1's log shows no STONITH
    assert "fencing node0" not in lab["node1"].log_text()


def test_no_false_failover_at_20_percent_loss(lab_session):
    """nftables drops 20% of what each node receives on the heartbeat LAN, for two
    minutes, at keepalive 200 ms / deadtime 2 s: nobody is declared dead, node1 never
    takes anything, and the client never loses either VIP."""
    lab = lab_session.lab
    for name in lab.names:
        node = lab[name]
        hacf = (node.config_dir / "ha.cf").read_text()
        (node.config_dir / "ha.cf").write_text(hacf.replace("deadtime 1000ms", "deadtime 2000ms")
                                               .replace("deadping 1000ms", "deadping 2000ms"))
        node.stop()
    for name in lab.names:
        lab[name].start()
    runner_for(lab_session).steady()
    for name in lab.names:
        lab[name].ns.run(["nft", "-f", "-"], input=(
            "table inet hbdloss {\n chain input {\n  type filter hook input priority 0;\n"
            '  iifname "eth2" numgen random mod 100 < 20 counter drop\n }\n}\n'))
    start = time.monotonic()
    end = start + 120.0
    while time.monotonic() < end:          # bounded: two minutes of checks, one a second
        doc = lab["node1"].status()
        assert doc is not None
        assert [g["state"] for g in doc["groups"]] == ["stopped", "stopped"]
        assert {n["name"]: n["status"] for n in doc["nodes"] if n["type"] == "normal"} == {
            "node0": "active", "node1": "active", "node2": "active"}
        next_check = min(end, time.monotonic() + 1.0)
        wait_for(lambda t=next_check: time.monotonic() >= t, timeout=2, what="the next check")
    counters = lab["node0"].ns.run(["nft", "list", "table", "inet", "hbdloss"]).stdout
    dropped = int(counters.split("packets ")[1].split()[0])
    assert dropped > 100            # the loss really happened
    for name in lab.names:
        log = lab[name].log_text().split("--- start 2 ---")[1]
        assert "is dead" not in log
        if name == "node1":                  # the standby never touched a resource
            assert "resource operation" not in log
    probes = lab_session.services.probes()
    for primary, (vip, _, _) in VIPS.items():
        mine = timeline.for_target(probes, vip)
        gap = timeline.outage(mine, start, end)
        assert gap is not None and gap.seconds < 0.3
        assert {p.node for p in mine if p.ok and start <= p.t <= end} == {primary}

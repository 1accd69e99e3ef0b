"""The source document's failure tests, each on a fresh lab (`hbd lab` machinery).

Every test builds the whole scenario (node0, node1, node2, gateway, client),
starts hbd on each node with the shipped configuration (keepalive 200 ms,
deadtime 1 s), injects one failure and asserts on the client's view (who
answered on the VIP, with which hostname and MAC) and on the real interfaces
of node1 and of the primary afterwards.
"""

from __future__ import annotations

import time

import pytest

from hbd.lab import netns, session as sessions, timeline
from hbd.lab.cluster import wait_for
from hbd.lab.drills import DRILLS, VIPS, DrillRunner, HbdSystem, own_identity_problems
from tests.netns.conftest import unique_prefix

_reason = netns.available()


@pytest.fixture
def lab_session(request):
    if _reason is not None:
        pytest.skip(f"network namespaces unavailable here: {_reason}")
    prefix = unique_prefix()
    session = None
    try:
        session = sessions.up(prefix=prefix, stonith=getattr(request, "param", False))
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


def holds_identity(lab, node, primary):
    vip, host, mac = VIPS[primary]
    n = lab[node]
    return (f"{vip}/24" in n.addresses() and n.mac() == mac and n.hostname() == host)


@pytest.mark.parametrize("primary", ["node0", "node2"])
@pytest.mark.parametrize("drill", DRILLS)
def test_drill(lab_session, drill, primary):
    lab = lab_session.lab
    runner = DrillRunner(lab, HbdSystem(lab), lab_session.services)
    result = runner.run(drill, (primary,))
    vip, host, mac = VIPS[primary]
    assert result.ok, result.problems
    # While node1 stood in, the client reached the VIP at node1 as the virtual host and MAC.
    assert result.taker == ("node1", host, mac)
    assert result.outage is not None and result.outage < 3.0
    if drill == "stop":      # a graceful stop hands over without waiting for deadtime
        assert result.outage < 1.0
    assert result.failback_outage is not None and result.failback_outage < 1.0
    assert result.other_outage is not None and result.other_outage < 0.2
    # Afterwards: node1 is itself again, the primary holds its identity.
    assert own_identity_problems(lab, "node1") == []
    wait_for(lambda: holds_identity(lab, primary, primary), timeout=10,
             what=f"{primary} to hold its VIP, MAC and hostname")


def test_both_primaries_fail_together(lab_session):
    lab = lab_session.lab
    runner = DrillRunner(lab, HbdSystem(lab), lab_session.services)
    result = runner.run("poweroff", ("node0", "node2"))
    assert result.ok, result.problems
    assert result.taker[0] == "node1"
    assert own_identity_problems(lab, "node1") == []
    for primary in ("node0", "node2"):
        wait_for(lambda: holds_identity(lab, primary, primary), timeout=10,
                 what=f"{primary} to hold its identity again")


@pytest.mark.parametrize("lab_session", [True], indirect=True, ids=["stonith"])
def test_crash_with_stonith_fences_the_hung_primary_before_taking_over(lab_session):
    lab = lab_session.lab
    runner = DrillRunner(lab, HbdSystem(lab), lab_session.services)
    result = runner.run("crash", ("node0",))
    assert result.ok, result.problems
    assert result.taker == ("node1", "nodevir", "00:1e:68:1e:99:5e")
    log = lab["node1"].log_text()
    fenced = log.index("node node0 fenced (STONITH)")
    first_start = log.index("op='start' resource='IPaddr::192.168.32.21")
    assert log.index("fencing node0 (STONITH)") < fenced < first_start
    # the hung node was powered off: once node1 answered, only node1 did, until recovery
    probes = [p for p in timeline.for_target(lab_session.services.probes(), VIPS["node0"][0])
              if p.ok and result.t_taken <= p.t <= result.t_recover]
    assert {p.node for p in probes} == {"node1"}
    wait_for(lambda: holds_identity(lab, "node0", "node0"), timeout=15,
             what="node0, booted again, to hold its identity")
    assert own_identity_problems(lab, "node1") == []


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
    runner = DrillRunner(lab, HbdSystem(lab), lab_session.services)
    runner.steady(("node0", "node2"))
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
        wait_for(lambda: time.monotonic() >= next_check, timeout=2, what="the next check")
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

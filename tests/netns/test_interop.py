"""Mixed clusters: Debian's heartbeat 3.0.6 and hbd on one heartbeat LAN (issue 5).

One node runs the real heartbeat (`hbd_lab.heartbeat.HeartbeatDaemon`, in the
lab node's namespaces with its own /etc/ha.d, /var/lib/heartbeat, /run and
/var/log); the others run hbd. All nodes get the same ha.cf (the scenario's,
timings scaled down), the same authkeys and the same haresources:

    node0 IPaddr::192.168.32.21/24/eth0/192.168.32.255
    node2 IPaddr::192.168.32.22/24/eth0/192.168.32.255

heartbeat runs Debian's resource.d/IPaddr for these, hbd its native IPaddr.
What works is asserted here; what does not work yet (a returning hbd primary
while heartbeat holds its group, standby/takeover across the two, legacy
ip-request, heartbeat's stop after an hbd takeover) is described, with
captures, in docs/interop.md. Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import pytest

from hbd_lab.cluster import render_authkeys, render_hacf, scenario_template, wait_for
from hbd_lab.heartbeat import HeartbeatDaemon, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None,
                                reason=f"heartbeat 3.0.6 unavailable: {unavailable()}")

# deadtime 2 s (not 1): heartbeat checks deadlines only when its loop wakes, so
# it declares a node dead up to a keepalive late, and a busy machine should not
# make it declare a live hbd node dead.
FAST = {"keepalive": "200ms", "deadtime": "2", "warntime": "1", "initdead": "4",
        "deadping": "2"}
MEDIA = {
    "bcast": ["bcast eth2"],
    "ucast": ["ucast eth2 10.160.100.30", "ucast eth2 10.160.100.31", "ucast eth2 10.160.100.32"],
    "mcast": ["mcast eth2 225.0.0.1 694 1 0"],
}
VIP1, VIP2 = "192.168.32.21/24", "192.168.32.22/24"
GROUP1 = "IPaddr::192.168.32.21/24/eth0/192.168.32.255"
HARESOURCES = f"node0 {GROUP1}\nnode2 IPaddr::192.168.32.22/24/eth0/192.168.32.255\n"
NAMES = ("node0", "node1", "node2")


@pytest.fixture
def heartbeat_on(make_lab):
    """`heartbeat_on(lab_node)` -> HeartbeatDaemon; every one is killed at teardown
    (before make_lab stops the hbd nodes), and its log tail printed."""
    daemons: list[HeartbeatDaemon] = []

    def make(node) -> HeartbeatDaemon:
        daemon = HeartbeatDaemon(node)
        daemons.append(daemon)
        return daemon

    yield make
    for daemon in daemons:
        daemon.kill()
        tail = (daemon.console_text() + daemon.log_text())[-4000:]
        if tail:
            print(f"===== {daemon.node.name} heartbeat log (tail) =====\n{tail}")


def install(lab, hb, *, media="bcast", auth="sha1", haresources=HARESOURCES):
    """The same ha.cf, haresources and authkeys on every node, hbd or heartbeat."""
    hacf = render_hacf(scenario_template("node0")[0], timings=FAST, media=MEDIA[media])
    keys = render_authkeys(auth)
    for name, node in lab.nodes.items():
        if name == hb.node.name:
            hb.install(hacf, haresources, keys)
        else:
            node.install(hacf, haresources, keys)


def start(lab, hb, *, hbd_holds=()):
    """Start the hbd nodes, wait until they hold `hbd_holds` (so their `resource`
    answers to heartbeat's `starting` are stable ones), then start heartbeat."""
    hbd_nodes = [n for n in NAMES if n != hb.node.name]
    for name in hbd_nodes:
        lab[name].start()
    for name, address in hbd_holds:
        wait_for(lambda name=name, address=address: address in lab[name].addresses(), timeout=15,
                 what=f"hbd {name} to hold {address}")
    hb.start()

    def all_active():
        return (all(hb.node_status(n) == "active" for n in hbd_nodes)
                and all(lab.active_view(o).get(n) == "active"
                        for o in hbd_nodes for n in NAMES))
    wait_for(all_active, timeout=20, what="every node active in every view")


def holder(lab, observer, key=GROUP1):
    doc = lab[observer].status()
    groups = [g for g in (doc or {}).get("groups", []) if g["key"] == key]
    return groups[0]["holder"] if groups else None


def holders_of(lab, address):
    return [n for n in NAMES if address in lab[n].addresses()]


# --- membership -----------------------------------------------------------------------------

@pytest.mark.parametrize("media,auth", [("bcast", "sha1"), ("ucast", "sha1"),
                                        ("mcast", "md5"), ("bcast", "crc")])
def test_heartbeat_and_hbd_see_each_other_active(make_lab, heartbeat_on, media, auth):
    lab = make_lab(NAMES, extras=("gw",))   # the gw answers ha.cf's ping node: without
    hb = heartbeat_on(lab["node1"])         # it, heartbeat's comm-up waits for initdead
    install(lab, hb, media=media, auth=auth, haresources="")
    start(lab, hb)
    # heartbeat's view, through its own API
    listed = hb.cl_status("listnodes", "-n")
    assert listed.returncode == 0 and set(listed.stdout.split()) == set(NAMES)
    for peer in ("node0", "node2"):
        status = hb.cl_status("nodestatus", peer)
        assert (status.returncode, status.stdout.strip()) == (0, "active")
        assert hb.cl_status("nodetype", peer).stdout.strip() == "normal"
        assert hb.cl_status("hblinkstatus", peer, "eth2").stdout.strip() == "up"
    # hbd's view of the heartbeat node: a normal, active, non-hbd peer on eth2,
    # with the generation heartbeat keeps in /var/lib/heartbeat/hb_generation
    generation = int((hb.lib_dir / "hb_generation").read_text())
    for observer in ("node0", "node2"):
        nodes = {n["name"]: n for n in lab[observer].status()["nodes"]}
        assert nodes["node1"]["status"] == "active" and nodes["node1"]["type"] == "normal"
        assert nodes["node1"]["is_hbd"] is False and nodes["node1"]["links"] == {"eth2": "up"}
        assert nodes["node1"]["generation"] == generation
        other = "node2" if observer == "node0" else "node0"
        assert nodes[other]["is_hbd"] is True
        listing = lab[observer].hbctl("nodes")
        line = next(x for x in listing.stdout.splitlines() if x.startswith("node1"))
        assert listing.returncode == 0 and "active" in line


# --- groups: heartbeat as the standby for hbd primaries ---------------------------------------

@pytest.mark.parametrize("how", ["stop", "kill"])
def test_heartbeat_standby_takes_over_when_hbd_primary_goes(make_lab, heartbeat_on, how):
    lab = make_lab()
    hb = heartbeat_on(lab["node1"])
    install(lab, hb)
    start(lab, hb, hbd_holds=[("node0", VIP1), ("node2", VIP2)])
    assert holders_of(lab, VIP1) == ["node0"] and holders_of(lab, VIP2) == ["node2"]
    assert hb.rscstatus() in ("none", "local")       # heartbeat holds nothing here
    if how == "stop":
        assert lab["node0"].stop() == 0              # releases vip1, sends shutdone
        assert VIP1 not in lab["node0"].addresses()
    else:
        lab["node0"].kill()                          # vip1 stays configured on node0
    wait_for(lambda: VIP1 in lab["node1"].addresses(), timeout=15,
             what="heartbeat on node1 to take vip1")
    wait_for(lambda: holder(lab, "node2") == "node1", timeout=10,
             what="hbd node2 to see heartbeat's node1 as vip1's holder")
    assert VIP1 not in lab["node2"].addresses()      # hbd elected heartbeat's node1
    assert holders_of(lab, VIP2) == ["node2"]
    log = hb.log_text()
    assert "mach_down takeover complete for node node0" in log
    if how == "stop":
        # shutdone: taken over at once, before deadtime could declare node0 dead
        assert "Received shutdown notice from 'node0'" in log
        taken = log.index("mach_down takeover complete for node node0")
        assert "node node0: is dead" not in log[:taken]
    else:
        assert "node node0: is dead" in log and VIP1 in lab["node0"].addresses()


def test_returning_hbd_primary_gets_its_group_back_from_heartbeat(make_lab, heartbeat_on):
    """heartbeat's standby took vip1; hbd's node0 comes back. hbd does not start vip1
    while heartbeat holds it; it asks with `hb_takeover`, heartbeat goes standby for
    its foreign groups (ask_resources me/other/done), and node0 starts vip1 after
    heartbeat's release: one holder at every sample, the group home once."""
    lab = make_lab()
    hb = heartbeat_on(lab["node1"])
    install(lab, hb)
    start(lab, hb, hbd_holds=[("node0", VIP1), ("node2", VIP2)])
    assert lab["node0"].stop() == 0
    wait_for(lambda: holders_of(lab, VIP1) == ["node1"], timeout=15,
             what="heartbeat on node1 to take vip1")
    wait_for(lambda: "mach_down takeover complete for node node0" in hb.log_text(),
             timeout=15, what="heartbeat to finish its takeover")
    lab["node0"].start()
    seen = []

    def home():
        seen.append(holders_of(lab, VIP1))
        return seen[-1] == ["node0"]
    wait_for(home, timeout=20, what="vip1 back on node0")
    assert all(len(now) <= 1 for now in seen), seen
    assert "node1 did not say what it holds" not in lab["node0"].log_text()
    log = hb.log_text()
    assert "standby" in log and holders_of(lab, VIP2) == ["node2"]


# --- groups: hbd as the standby for a heartbeat primary ---------------------------------------

def heartbeat_primary_holding_vip1(make_lab, heartbeat_on):
    """heartbeat on node0 (vip1's primary), hbd on node1 and node2; node0 holds vip1."""
    lab = make_lab()
    hb = heartbeat_on(lab["node0"])
    install(lab, hb)
    start(lab, hb, hbd_holds=[("node2", VIP2)])
    wait_for(lambda: holders_of(lab, VIP1) == ["node0"], timeout=15,
             what="heartbeat on node0 to take vip1")
    return lab, hb


def test_hbd_standby_takes_over_from_heartbeat_primary_and_hands_back(make_lab, heartbeat_on):
    lab, hb = heartbeat_primary_holding_vip1(make_lab, heartbeat_on)
    wait_for(lambda: holder(lab, "node1") == "node0", timeout=10,
             what="hbd to see heartbeat's node0 as vip1's holder")
    # graceful stop: heartbeat releases and sends shutdone; hbd's node1 takes vip1
    assert hb.stop() == 0
    wait_for(lambda: holders_of(lab, VIP1) == ["node1"], timeout=10,
             what="hbd node1 to take vip1")
    # heartbeat comes back: hbd releases (auto_failback on), heartbeat takes vip1
    hb.start()
    overlap = []

    def handed_back():
        now = holders_of(lab, VIP1)
        if len(now) > 1:
            overlap.append(now)
        return now == ["node0"]
    wait_for(handed_back, timeout=15, what="vip1 back on heartbeat's node0")
    assert overlap == []
    assert holders_of(lab, VIP2) == ["node2"]
    wait_for(lambda: holder(lab, "node1") == "node0", timeout=10,
             what="hbd to see node0 as vip1's holder again")


def test_hbd_standby_takes_over_when_heartbeat_primary_is_killed(make_lab, heartbeat_on):
    lab, hb = heartbeat_primary_holding_vip1(make_lab, heartbeat_on)
    hb.kill()
    assert hb.pids() == [] and not hb.running()
    # The killed node keeps its IP, and its kernel answers ARP for it: after deadtime
    # hbd's node1 probes, hears vip1 and does not bring it up a second time.
    wait_for(lambda: "still answers on the service LAN" in lab["node1"].log_text(),
             timeout=15, what="hbd node1 to probe vip1 after deadtime")
    assert holders_of(lab, VIP1) == ["node0"] and holders_of(lab, VIP2) == ["node2"]
    log = lab["node1"].log_text()
    assert "node node0: is dead" in log and "reason='deadtime'" in log
    # The address goes (a reboot, or an operator): the next probe hears nothing.
    lab["node0"].ns.run(["ip", "addr", "flush", "label", "eth0:0"])
    wait_for(lambda: VIP1 in lab["node1"].addresses(), timeout=10,
             what="hbd node1 to take vip1 once it is quiet")
    assert holders_of(lab, VIP1) == ["node1"]

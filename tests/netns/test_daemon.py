"""The daemon on real interfaces: hbd processes in network + UTS namespaces.

Each test builds (part of) the source scenario with `hbd_lab.cluster.Lab`:
node0/node1/node2 with eth2 on the heartbeat LAN 10.160.100.0/24 and, where
resources move, eth0 on the service LAN 192.168.32.0/24 with the gateway
(.254, the ping node) and a client (.40). The configuration is the shipped
`conf/node*/` with timings scaled down (keepalive 200 ms, deadtime 1 s). Every
wait is on a condition with a deadline.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from hbd_lab.cluster import render_authkeys, render_hacf, scenario_template, wait_for

FAST = {"keepalive": "200ms", "deadtime": "1", "warntime": "600ms", "initdead": "2",
        "deadping": "1"}
MEDIA = {
    "bcast": ["bcast eth2"],
    "ucast": ["ucast eth2 10.160.100.30", "ucast eth2 10.160.100.31", "ucast eth2 10.160.100.32"],
    "mcast": ["mcast eth2 225.0.0.1 694 1 0"],
}
VIP1 = "192.168.32.21/24"
ARP_DRIVER = os.path.join(os.path.dirname(__file__), "identity_driver.py")
VMAC1 = "00:1e:68:1e:99:5e"


def install(lab, *, media="bcast", auth="sha1", key="lab-key", haresources=True,
            timings=FAST, only=None, keys=None, extra=()):
    for name, node in lab.nodes.items():
        if only and name not in only:
            continue
        hacf, hares = scenario_template(name)
        node.install(render_hacf(hacf, timings=timings, media=MEDIA[media], extra=extra),
                     hares if haresources else "",
                     render_authkeys(auth, (keys or {}).get(name, key)))


def views(lab, names):
    return {name: lab.active_view(name) for name in names}


def all_active(lab, names):
    def check():
        seen = views(lab, names)
        return all(seen[o].get(n) == "active" for o in names for n in names) and seen
    return check


def holder(lab, observer, key_prefix):
    doc = lab[observer].status()
    if not doc:
        return None
    for group in doc["groups"]:
        if group["key"].startswith(key_prefix):
            return group["holder"]
    return None


# --- membership over each medium and each key type ------------------------------------

@pytest.mark.parametrize("auth", ["crc", "md5", "sha1"])
@pytest.mark.parametrize("media", ["bcast", "ucast", "mcast"])
def test_nodes_see_each_other(make_lab, media, auth):
    names = ("node0", "node1", "node2") if auth == "sha1" else ("node0", "node1")
    lab = make_lab(names, service=False)
    install(lab, media=media, auth=auth, haresources=False)
    for name in names:
        lab[name].start()
    seen = wait_for(all_active(lab, names), timeout=20, what=f"{names} all active over {media}")
    for observer in names:
        doc = lab[observer].status()
        assert doc["daemon"]["runtime"].get("packets_accepted", 0) > 0
        for peer in names:
            if peer != observer:
                assert seen[observer][peer] == "active"
                node = next(n for n in doc["nodes"] if n["name"] == peer)
                assert node["links"] == {"eth2": "up"}


def test_peer_with_wrong_key_is_never_accepted(make_lab):
    names = ("node0", "node1", "node2")
    lab = make_lab(names, service=False)
    install(lab, haresources=False, keys={"node2": "some-other-key"})
    for name in names:
        lab[name].start()
    wait_for(all_active(lab, ("node0", "node1")), timeout=20, what="node0 and node1 active")

    def drops_seen():
        doc = lab["node0"].status()
        return doc and doc["daemon"]["runtime"].get("dropped_auth_failed", 0) >= 5
    wait_for(drops_seen, timeout=10, what="node0 to drop node2's datagrams")
    for observer in ("node0", "node1"):
        assert lab.active_view(observer).get("node2") in ("dead", None, "init")
    assert {lab.active_view("node2").get(n) for n in ("node0", "node1")} <= {"dead", None, "init"}


# --- the scenario's identity: takeover, release, crash ----------------------------------

def own_identity(node, address):
    return (node.addresses() == [address] and node.mac() == node_mac_of(node.name)
            and node.hostname() == node.name
            and node.default_routes() == ["192.168.32.254 eth0"])


def node_mac_of(name):
    from hbd_lab.cluster import node_mac
    return node_mac(name, 0)


def holds_vip1_identity(node):
    return (sorted(node.addresses()) == sorted(["192.168.32.31/24", VIP1])
            and node.mac() == VMAC1 and node.hostname() == "nodevir"
            and node.default_routes() == ["192.168.32.254 eth0"])


def test_standby_takes_over_vip1_identity_and_gives_it_back(make_lab):
    lab = make_lab()
    install(lab)
    client = lab.extra("client")
    # A raw ARP listener in the client namespace (tests/netns/identity_driver.py),
    # listening before anything moves; it exits at the first gratuitous ARP.
    arp = client.popen([sys.executable, ARP_DRIVER, "listen-arp", "eth0", "192.168.32.21",
                        VMAC1, "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(arp.stdout.readline()) == {"ready": True}
        lab["node2"].start()
        lab["node1"].start()     # node0 is down: node1 stands in for it after initdead
        wait_for(lambda: holds_vip1_identity(lab["node1"]), timeout=20,
                 what="node1 to hold vip1's IP, MAC, hostname and route")
        out, err = arp.communicate(timeout=10)
    finally:
        if arp.poll() is None:
            arp.kill()
            arp.wait()
    assert arp.returncode == 0, f"the client saw no gratuitous ARP: {err}"
    assert json.loads(out.splitlines()[-1])["arp"]["sender_mac"] == VMAC1
    brd = json.loads(lab["node1"].ns.ip("-j", "-4", "addr", "show", "dev", "eth0"))
    vip = [a for a in brd[0]["addr_info"] if a["local"] == "192.168.32.21"][0]
    assert vip["prefixlen"] == 24 and vip["broadcast"] == "192.168.32.255"
    # The client reaches the VIP, at the virtual MAC.
    client.run(["ping", "-c", "1", "-W", "2", "192.168.32.21"])
    assert VMAC1 in client.ip("neigh", "show", "192.168.32.21")
    # node0 comes back: auto_failback on hands vip1 back, node1 is itself again.
    lab["node0"].start()
    wait_for(lambda: own_identity(lab["node1"], "192.168.32.31/24"), timeout=20,
             what="node1 to get back its own IP, MAC, hostname and route")
    wait_for(lambda: VIP1 in lab["node0"].addresses() and lab["node0"].mac() == VMAC1
             and lab["node0"].hostname() == "nodevir", timeout=20,
             what="node0 to hold vip1 again")
    assert holder(lab, "node1", "IPaddr::192.168.32.21") == "node0"


def test_sigkill_while_holding_then_restart_restores_own_identity(make_lab):
    lab = make_lab()
    install(lab)
    lab["node2"].start()
    lab["node1"].start()
    wait_for(lambda: holds_vip1_identity(lab["node1"]), timeout=20, what="node1 to hold vip1")
    lab["node1"].kill()                       # dies holding node0's identity
    assert holds_vip1_identity(lab["node1"])  # nothing released it
    # node0 starts: node1 is silent (initdead), but vip1 still answers ARP from node1's
    # kernel, so node0 does not bring it up a second time (issue 9), and says why.
    lab["node0"].start()
    wait_for(lambda: "still answers on the service LAN" in lab["node0"].log_text(),
             timeout=20, what="node0's probe to hear vip1")
    assert holds_vip1_identity(lab["node1"]) and "192.168.32.21/24" not in \
        lab["node0"].addresses()
    # node1 restarts: it restores its own identity before joining; vip1 goes quiet and
    # node0 takes it (probed again every keepalive).
    lab["node1"].start()
    wait_for(lambda: holder(lab, "node0", "IPaddr::192.168.32.21") == "node0", timeout=20,
             what="node0 to hold vip1")
    wait_for(lambda: lab.active_view("node1").get("node0") == "active", timeout=20,
             what="restarted node1 to rejoin")
    assert own_identity(lab["node1"], "192.168.32.31/24")
    log = lab["node1"].log_text().split("--- start 2 ---")[1]
    assert "restored after an unclean stop" in log
    assert log.index("restored after an unclean stop") < log.index("hbd started")
    assert holder(lab, "node1", "IPaddr::192.168.32.21") == "node0"


def test_sigterm_releases_and_peer_takes_over_without_waiting_deadtime(make_lab):
    lab = make_lab()
    install(lab)
    for name in ("node0", "node1", "node2"):
        lab[name].start()
    wait_for(lambda: holder(lab, "node1", "IPaddr::192.168.32.21") == "node0", timeout=20,
             what="node0 to hold vip1")
    assert lab["node0"].stop() == 0
    assert lab["node0"].addresses() == ["192.168.32.30/24"]     # released before exit
    assert lab["node0"].hostname() == "node0"
    wait_for(lambda: holds_vip1_identity(lab["node1"]), timeout=10, what="node1 takes vip1")
    log = lab["node1"].log_text()
    assert "node node0: is dead (shutdown)" in log     # a graceful leave, not a failure
    assert "reason='deadtime'" not in log


# --- hbctl against a running daemon --------------------------------------------------------

def hbctl_as_nobody(argv):
    """Run hbctl's main() as uid/gid 65534 in a forked child: (exit code, stdout, stderr)."""
    import grp, pwd  # noqa: E401,F401 - loaded before the child loses access to /root
    from hbd import cli, control  # noqa: F401
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop privileges, run hbctl, report, exit without cleanup
        code = 99
        out, err = io.StringIO(), io.StringIO()
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.main(argv)
        except BaseException as exc:  # report anything, never return into pytest
            err.write(repr(exc))
        os.write(write_fd, json.dumps([code, out.getvalue(), err.getvalue()]).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return tuple(json.loads(data))


def test_hbctl_status_standby_takeover_and_errors(make_lab):
    lab = make_lab()
    # apiauth names a user other than root: the socket is world-connectable and
    # every request is checked against the peer's credentials.
    install(lab, extra=["apiauth hbctl uid=daemon"])
    for name in ("node0", "node1", "node2"):
        lab[name].start()
    wait_for(lambda: holder(lab, "node1", "IPaddr::192.168.32.21") == "node0", timeout=20,
             what="node0 to hold vip1")
    status = lab["node0"].hbctl("status")
    assert status.returncode == 0 and "node0" in status.stdout and "node1" in status.stdout
    nodes = lab["node0"].hbctl("nodes")
    assert nodes.returncode == 0 and "active" in nodes.stdout
    assert lab["node0"].hbctl("standby").returncode == 0
    wait_for(lambda: holds_vip1_identity(lab["node1"]), timeout=15, what="standby hands vip1 over")
    assert lab["node0"].hbctl("takeover").returncode == 0
    wait_for(lambda: holder(lab, "node1", "IPaddr::192.168.32.21") == "node0", timeout=15,
             what="takeover brings vip1 back")
    wait_for(lambda: own_identity(lab["node1"], "192.168.32.31/24"), timeout=10,
             what="node1 back to itself")
    bad = lab["node0"].hbctl("standby", "sideways")
    assert bad.returncode == 2 and "sideways" in bad.stderr
    code, _, err = hbctl_as_nobody(["--run-dir", str(lab["node0"].run_dir), "standby"])
    assert code == 4 and "not allowed to 'standby'" in err, err
    assert lab["node0"].hbctl("status").returncode == 0      # still serving
    lab["node2"].stop()
    stopped = lab["node2"].hbctl("status")
    assert stopped.returncode == 3 and "not running" in stopped.stderr


# --- systemd: notify, reload ----------------------------------------------------------------

def test_notify_ready_status_and_stopping(make_lab, tmp_path):
    lab = make_lab(("node0", "node1"), service=False)
    install(lab, haresources=False)
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(15)
    try:
        lab["node0"].start(env={"NOTIFY_SOCKET": path})
        messages = []

        def got(word):
            while not any(word in m for m in messages):
                messages.append(sock.recv(4096).decode())
            return True
        got("READY=1")
        lab["node1"].start()
        got("STATUS=")
        lab["node0"].signal(signal.SIGTERM)
        got("STOPPING=1")
        assert lab["node0"].proc.wait(20) == 0
    finally:
        sock.close()


def test_sighup_applies_logging_and_names_changes_that_need_restart(make_lab):
    lab = make_lab(("node0", "node1"))
    install(lab)
    node = lab["node1"]
    node.start()                 # alone: it stands in for node0 and node2

    def held():
        doc = node.status()
        return doc and [g["state"] for g in doc["groups"]] == ["started", "started"]
    wait_for(held, timeout=20, what="node1 to hold both groups")
    addresses = sorted(node.addresses())
    assert addresses == ["192.168.32.21/24", "192.168.32.22/24", "192.168.32.31/24"]
    logfile = node.root / "ha-log"
    hacf = (node.config_dir / "ha.cf").read_text()
    (node.config_dir / "ha.cf").write_text(
        hacf.replace("deadtime 1", "deadtime 2") + f"logfile {logfile}\n")
    node.signal(signal.SIGHUP)
    wait_for(lambda: logfile.exists() and "configuration reloaded" in logfile.read_text(),
             timeout=10, what="the reload to log into the new logfile")
    assert "deadtime" in node.log_text().split("need a restart")[1].splitlines()[0]
    assert held() and sorted(node.addresses()) == addresses     # nothing was dropped
    assert node.running()


def test_debian_ipaddr_and_resource_agents_ipaddr2_run_unchanged(make_lab):
    """haresources names Debian heartbeat's resource.d/IPaddr and resource-agents'
    IPaddr2 (class prefixes, see hbd/config/agents.py); hbd runs them as they are."""
    lab = make_lab(("node0", "node1"))
    install(lab)
    node = lab["node1"]
    (node.config_dir / "haresources").write_text(
        "node0 heartbeat:IPaddr::192.168.32.21/24/eth0/192.168.32.255\n"
        "node2 ocf:heartbeat:IPaddr2::ip=192.168.32.22::cidr_netmask=24::nic=eth0\n")
    node.start(["--resource-dir", "/etc/ha.d/resource.d"])

    def held():
        doc = node.status()
        return doc and [g["state"] for g in doc["groups"]] == ["started", "started"]
    wait_for(held, timeout=20, what="node1 to start both script groups")
    assert sorted(node.addresses()) == ["192.168.32.21/24", "192.168.32.22/24",
                                        "192.168.32.31/24"]
    assert node.stop() == 0
    assert node.addresses() == ["192.168.32.31/24"]


def test_bad_configuration_exits_6_and_a_missing_interface_exits_1(make_lab):
    lab = make_lab(("node0",), service=False)
    install(lab, haresources=False)
    node = lab["node0"]
    hacf = (node.config_dir / "ha.cf").read_text()
    (node.config_dir / "ha.cf").write_text(hacf + "deadtime banana\n")
    run = node.ns.run(node.argv(), check=False, timeout=30)
    assert run.returncode == 6
    assert "ha.cf:" in run.stderr and "deadtime" in run.stderr and "Traceback" not in run.stderr
    (node.config_dir / "ha.cf").write_text(hacf.replace("bcast eth2", "bcast eth9"))
    run = node.ns.run(node.argv(), check=False, timeout=30)
    assert run.returncode == 1
    assert "eth9" in run.stderr and "Traceback" not in run.stderr

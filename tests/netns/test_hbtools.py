"""cl_status, hb_standby and hb_takeover against running daemons (issue 11).

A mixed cluster on the heartbeat LAN: hbd on node0 and node2, Debian's
heartbeat 3.0.6 on node1, all with the same ha.cf (nodes, a ping node and a
ping group in an interleaved order, computed warntime/deadping). Debian's
real `cl_status` asks heartbeat on node1, our shim asks hbd on node0, and
everything that the two nodes see alike must come out byte for byte alike
(stderr with heartbeat's log prefix masked); a node's own links are compared
with the other side's own links. Then an all-hbd cluster moves vip1 with the
installed `hb_standby` and `hb_takeover`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hbd_lab.cluster import render_authkeys, wait_for
from hbd_lab.heartbeat import HeartbeatDaemon, unavailable

HBD_NODES = ("node0", "node2")
NAMES = ("node0", "node1", "node2")
PING, GROUP = "192.168.32.254", "grp"
# The lab rewrites heartbeat's log directives (hbd_lab.heartbeat.lab_hacf), so logfile,
# debugfile, logfacility and use_logd differ by construction; tests/cli checks them.
PARAMETERS = ("cluster", "hopfudge", "keepalive", "deadtime", "deadping", "initdead", "warntime",
              "watchdog", "baud", "udpport", "nice_failback", "auto_failback", "rtprio",
              "hbgenmethod", "realtime", "debug", "normalpoll", "msgfmt", "conn_logd_time",
              "log_badpack", "use_apphbd",
              "coredumps", "coreroot", "crm", "pacemaker", "autojoin", "uuidfrom", "compression",
              "compression_threshold", "traditional_compression", "env", "max_rexmit_delay",
              "record_config_changes", "record_pengine_inputs", "enable_config_writes",
              "memreserve", "quorum_server", "node", "ping", "ping_group", "bcast", "mcast",
              "apiauth", "respawn", "stonith", "KEEPALIVE", "nosuch")
MEDIA = {"bcast": "bcast eth2", "mcast": "mcast eth2 225.0.0.1 694 1 0"}
LOG_PREFIX = re.compile(r"^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \S+ cl_status: \[\d+\]: ",
                        re.MULTILINE)
BIN = Path(sys.executable).parent

needs_heartbeat = pytest.mark.skipif(unavailable() is not None,
                                     reason=f"heartbeat 3.0.6 unavailable: {unavailable()}")


def hacf(media: str) -> str:
    return "\n".join([
        "udpport 694", "keepalive 200ms", "deadtime 2", "initdead 4", "auto_failback on",
        "crm no", "node node2", f"ping {PING}", "node NODE1",
        f"ping_group {GROUP} {PING} 192.168.32.41", "node node0", MEDIA[media]]) + "\n"


@pytest.fixture
def heartbeat_node1(make_lab):
    lab = make_lab(NAMES, extras=("gw",))
    daemon = HeartbeatDaemon(lab["node1"])
    yield lab, daemon
    daemon.kill()
    tail = (daemon.console_text() + daemon.log_text())[-3000:]
    if tail:
        print(f"===== node1 heartbeat log (tail) =====\n{tail}")


def shim(lab, node: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HBD_RUN_DIR": str(lab[node].run_dir), "LC_ALL": "C"}
    return subprocess.run([sys.executable, "-m", "hbd.hbtools.cl_status", *args], env=env,
                          capture_output=True, text=True, timeout=30)


def result(proc: subprocess.CompletedProcess) -> tuple[int, str, str]:
    return proc.returncode, proc.stdout, LOG_PREFIX.sub("<log> ", proc.stderr)


def start_mixed(lab, hb: HeartbeatDaemon, media: str) -> None:
    keys = render_authkeys("sha1")
    for name, node in lab.nodes.items():
        (hb.install if name == "node1" else node.install)(hacf(media), "", keys)
    for name in HBD_NODES:
        lab[name].start()
    hb.start()

    def settled() -> bool:
        theirs = hb.cl_status("listnodes", "-v").stdout
        ours = shim(lab, "node0", "listnodes", "-v").stdout
        up = (all(f"{n}\tactive" in theirs and f"{n}\tactive" in ours for n in NAMES)
              and all(f"{p}\tping" in theirs and f"{p}\tping" in ours for p in (PING, GROUP)))
        return up and hb.node_status("node0") == "active"
    wait_for(settled, timeout=30, what="every node active and both ping nodes up, both views")


def comparisons(media: str) -> list[tuple[str, ...]]:
    """cl_status arguments whose answer must be the same from node1 (heartbeat) and
    node0 (hbd): nothing about the asking node itself. Not rscstatus: with no group of
    its own, heartbeat says `local` where hbd says `none` (docs/hbctl.md)."""
    cases: list[tuple[str, ...]] = [
        ("hbstatus",), ("hbstatus", "-m"), ("hbstatus", "-x"), ("listnodes",),
        ("listnodes", "-n"), ("listnodes", "-p"), ("listnodes", "-m"), ("listnodes", "-pn"),
        ("listnodes", "-x"), ("rscstatus", "-x"),
        ("nodestatus", "nodex"), ("nodestatus",), ("nodeweight", "nodex"), ("nodetype",),
        ("listhblinks", "nodex"), ("listhblinks",), ("hblinkstatus", "node2", "eth9"),
        ("hblinkstatus", "node2"), ("hblinkstatus", GROUP, PING), ("hbparameter",),
        ("hbparameter", "-p"), ("clientstatus", "node2"), ("nodestatus", "NODE2"),
    ]
    for node in (*NAMES, PING, GROUP):
        for question in ("nodestatus", "nodetype", "nodeweight", "nodesite"):
            cases += [(question, node), (question, "-m", node)]
    for node in ("node2", PING, GROUP):
        cases += [("listhblinks", node), ("listhblinks", "-v", node), ("listhblinks", "-mv", node)]
    cases += [("hblinkstatus", "node2", "eth2"), ("hblinkstatus", "-m", PING, PING),
              ("hblinkstatus", GROUP, GROUP)]
    cases += [("hbparameter", "-p", name) for name in PARAMETERS]
    if media == "bcast":       # every node hears itself: the full listings agree too
        cases += [("listnodes", "-v"), ("listnodes", "-v", "-m")]
    return cases


@needs_heartbeat
@pytest.mark.parametrize("media", ["bcast", "mcast"])
def test_cl_status_answers_as_heartbeat_does(heartbeat_node1, media):
    lab, hb = heartbeat_node1
    start_mixed(lab, hb, media)
    differences = []
    for args in comparisons(media):
        real, ours = result(hb.cl_status(*args)), result(shim(lab, "node0", *args))
        if real != ours:
            differences.append((args, real, ours))
    # a node about itself: heartbeat on node1 about node1, hbd on node0 about node0
    for real_args, our_args in [(("listhblinks", "-v", "node1"), ("listhblinks", "-v", "node0")),
                                (("hblinkstatus", "node1", "eth2"),
                                 ("hblinkstatus", "node0", "eth2")),
                                (("clientstatus", "node1", "ipfail"),
                                 ("clientstatus", "node0", "ipfail"))]:
        real, ours = result(hb.cl_status(*real_args)), result(shim(lab, "node0", *our_args))
        if real != ours:
            differences.append((our_args, real, ours))
    assert differences == [], "\n".join(map(repr, differences))
    real, ours = hb.cl_status("test").stdout, shim(lab, "node0", "test").stdout
    assert ours.splitlines()[:3] == real.replace("node1", "node0").splitlines()[:3]
    if media == "bcast":       # all but heartbeat's version line
        real, ours = hb.cl_status("hbstatus", "-v").stdout, shim(lab, "node0", "hbstatus", "-v")
        assert ours.returncode == 0 and ours.stdout.split("\n", 1)[1] == real.split("\n", 1)[1]
        assert ours.stdout.startswith("version:\t3.0.6 (hbd ")
    # an hbd peer about which heartbeat's API has no answer, and the other way round
    assert result(hb.cl_status("clientstatus", "node0", "ipfail"))[0] == 13
    assert result(shim(lab, "node0", "clientstatus", "node1", "ipfail"))[0] == 13


# --- hb_standby / hb_takeover moving a group --------------------------------------------------

def tool(lab, node: str, name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HBD_RUN_DIR": str(lab[node].run_dir)}
    return subprocess.run([str(BIN / name), *args], env=env, capture_output=True, text=True,
                          timeout=30)


def test_hb_standby_and_hb_takeover_move_the_group(make_lab):
    from hbd_lab.cluster import render_hacf, scenario_template
    lab = make_lab()
    timings = {"keepalive": "200ms", "deadtime": "1", "warntime": "600ms", "initdead": "2",
               "deadping": "1"}
    for name, node in lab.nodes.items():
        text, haresources = scenario_template(name)
        node.install(render_hacf(text, timings=timings, media=["bcast eth2"]), haresources,
                     render_authkeys("sha1"))
    for name in NAMES:
        lab[name].start()
    vip1 = "192.168.32.21/24"
    wait_for(lambda: vip1 in lab["node0"].addresses(), timeout=20, what="node0 to hold vip1")
    wait_for(lambda: shim(lab, "node1", "nodestatus", "node0").stdout == "active\n",
             timeout=20, what="node1 to see node0 active")
    standby = tool(lab, "node0", "hb_standby", "local")
    assert standby.returncode == 0 and standby.stdout == ""
    assert standby.stderr.endswith("Going standby [local].\n")
    wait_for(lambda: vip1 in lab["node1"].addresses() and vip1 not in lab["node0"].addresses(),
             timeout=20, what="vip1 to move to node1")
    takeover = tool(lab, "node0", "hb_takeover", "local")
    assert (takeover.returncode, takeover.stdout, takeover.stderr) == (0, "", "")
    wait_for(lambda: vip1 in lab["node0"].addresses() and vip1 not in lab["node1"].addresses(),
             timeout=20, what="vip1 to come back to node0")
    assert shim(lab, "node0", "rscstatus").stdout == "local\n"
    lab["node2"].stop()
    stopped = tool(lab, "node2", "hb_takeover")
    assert stopped.returncode == 1
    assert stopped.stderr == f"{BIN / 'hb_takeover'}: hbd is not running\n"
    assert result(shim(lab, "node2", "hbstatus")) == (
        1, "Heartbeat is stopped on this machine.\n", "")

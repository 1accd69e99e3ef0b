"""keepalived 2.2.7 on the scenario's lab: the benchmark's VRRP alternative.

The lab is the scenario's (`make_lab()`: node0, node1, node2, gw, client in
namespaces); each node runs `KeepalivedDaemon` with the configuration of
`hbd_lab.keepalived` and adverts every 0.1 s (VRRPv3), so a backup takes over
about 0.36 s after the master falls silent. hbd itself is never started here.
Assertions read `ip -j`, `hostname` and ARP frames inside the namespaces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from hbd_lab.cluster import SERVICE_MACS, wait_for
from hbd_lab.keepalived import (KEEPALIVED, VIPS, KeepalivedDaemon, advert_for_deadtime,
                                advert_interval, master_down_interval, render_identity_script,
                                render_keepalived)

ADVERT = 0.1
TIMEOUT = 10.0                     # generous: a takeover needs ~0.4 s
VIP1, VIP2 = VIPS
OWN_IP = {"node0": "192.168.32.30/24", "node1": "192.168.32.31/24",
          "node2": "192.168.32.32/24"}
ARP_DRIVER = str(Path(__file__).with_name("identity_driver.py"))

needs_keepalived = pytest.mark.skipif(not os.access(KEEPALIVED, os.X_OK),
                                      reason=f"{KEEPALIVED} is not installed")


# --- the rendered files (no namespaces needed) ---------------------------------------
def test_render_gives_each_node_its_priorities_and_vrrpv3_timing():
    text = render_keepalived("node1", advert=0.1, script_dir="/x")
    assert "vrrp_version 3" in text and text.count("advert_int 0.10") == 2
    assert text.count("priority 100") == 2 and text.count("interface eth2") == 2
    assert "192.168.32.21/24 brd 192.168.32.255 dev eth0\n" in text   # eth0 is tracked
    assert 'notify_master "/x/identity vip1 master"' in text
    assert 'startup_script "/x/identity reset"' in text
    node0 = render_keepalived("node0", advert=1, identity="ip")
    assert "priority 150" in node0 and "priority 50" in node0
    assert "notify" not in node0 and "identity" not in node0.split("\n", 1)[1]


@pytest.mark.parametrize("bad", [0.001, 0.004, 41.0])
def test_advert_outside_vrrpv3_range_is_refused(bad):
    with pytest.raises(ValueError, match="outside"):
        render_keepalived("node0", advert=bad)


def test_timing_helpers_follow_rfc5798():
    assert advert_interval(0.123) == 0.12
    assert master_down_interval(1.0, 100) == pytest.approx(3.609375)
    assert advert_for_deadtime(3.61) == 1.0


def test_identity_script_is_posix_sh_with_the_nodes_own_identity():
    script = render_identity_script("node1", "/x/keepalived")
    assert "RMAC=00:1E:68:1E:19:5E" in script and "RIP=192.168.32.31\n" in script
    assert "RHOST=node1\n" in script and "STATE=/x/keepalived\n" in script
    assert "MANAGE_VIP=no\n" in script and "INSTANCE=\n" in script
    assert "vip2) echo 00:1E:68:1E:88:5E nodevir2 192.168.32.22" in script
    assert "/sys/class" not in script                # sysfs shows the host's interfaces
    assert "@" not in script.replace("$@", "")      # every placeholder filled
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)


# --- the lab ----------------------------------------------------------------------------
@pytest.fixture
def cluster(make_lab):
    """Start keepalived on the three nodes: `start(identity)` -> (lab, daemons)."""
    running: dict[str, KeepalivedDaemon] = {}

    def start(identity: str = "script"):
        lab = make_lab()
        for name in lab.names:
            daemon = KeepalivedDaemon(lab[name])
            daemon.install_scenario(advert=ADVERT, identity=identity)
            running[name] = daemon
        for daemon in running.values():
            daemon.start()
        return lab, running

    yield start
    for daemon in running.values():                  # all at once: each takes ~1 s
        daemon.terminate()
    for name, daemon in running.items():
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
        print(f"===== {name} keepalived log (tail) =====\n{daemon.log_text()[-2500:]}")
        print(f"===== {name} identity log =====\n{daemon.identity_log()[-1500:]}")


def holds(lab, node: str, vip, *, identity: bool = True) -> bool:
    """`node` has `vip`'s address and, with `identity`, its MAC and host name."""
    n = lab[node]
    if f"{vip.address}/24" not in n.addresses():
        return False
    return not identity or (n.mac() == vip.mac and n.hostname() == vip.hostname)


def is_itself(lab, node: str) -> bool:
    """`node` carries only its own identity: own MAC, address, name and default route."""
    n = lab[node]
    return (n.mac() == SERVICE_MACS[node] and n.addresses() == [OWN_IP[node]]
            and n.hostname() == node and n.default_routes() == ["192.168.32.254 eth0"])


def wait_holds(lab, node, vip, identity=True):
    wait_for(lambda: holds(lab, node, vip, identity=identity), timeout=TIMEOUT,
             what=f"{node} to hold {vip.name}", interval=0.02)


def wait_itself(lab, node):
    wait_for(lambda: is_itself(lab, node), timeout=TIMEOUT,
             what=f"{node} to carry its own identity again", interval=0.02)


def listen_for_garp(lab, vip) -> subprocess.Popen:
    """An ARP listener on the client, waiting for a gratuitous ARP of `vip` at its MAC."""
    proc = lab.extra("client").popen(
        [sys.executable, ARP_DRIVER, "listen-arp", "eth0", vip.address, vip.mac,
         str(TIMEOUT), "--any-form"], stdout=subprocess.PIPE, text=True)
    assert json.loads(proc.stdout.readline()) == {"ready": True}
    return proc


@needs_keepalived
def test_config_passes_keepalived_config_test_on_every_node(make_lab):
    lab = make_lab()
    for name in lab.names:
        daemon = KeepalivedDaemon(lab[name])
        daemon.install_scenario(advert=ADVERT)
        proc = lab[name].ns.run([KEEPALIVED, "-t", "-f", str(daemon.config_path)], check=False)
        assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stderr


@needs_keepalived
def test_primaries_take_their_vips_with_the_whole_identity(cluster):
    lab, _ = cluster("script")
    wait_holds(lab, "node0", VIP1)
    wait_holds(lab, "node2", VIP2)
    assert lab["node0"].addresses() == ["192.168.32.21/24"]     # Remac: own IP replaced
    assert lab["node0"].default_routes() == ["192.168.32.254 eth0"]
    # all start together: node1 may be master for a few adverts until it hears 150
    wait_itself(lab, "node1")


@needs_keepalived
def test_sigkill_moves_vip1_to_node1_and_restart_fails_back(cluster):
    lab, daemons = cluster("script")
    wait_holds(lab, "node0", VIP1)
    wait_holds(lab, "node2", VIP2)
    daemons["node0"].kill()                          # crash: node0 keeps what it held
    assert lab["node0"].ns.pids() == []              # parent, VRRP child and scripts
    listener = listen_for_garp(lab, VIP1)            # from now on, only node1 can send it
    wait_holds(lab, "node1", VIP1)
    assert lab["node1"].default_routes() == ["192.168.32.254 eth0"]
    assert listener.wait(TIMEOUT) == 0               # the client heard vip1 at its MAC
    daemons["node0"].start()                         # startup script: own identity first
    wait_itself(lab, "node1")                        # preempted: node1 gives vip1 back
    wait_holds(lab, "node0", VIP1)
    assert holds(lab, "node2", VIP2)


@needs_keepalived
def test_node1_holding_both_shows_the_last_taken_identity(cluster):
    lab, daemons = cluster("script")
    wait_holds(lab, "node0", VIP1)
    wait_holds(lab, "node2", VIP2)
    daemons["node0"].stop()                          # priority 0: node1 takes vip1 at once
    wait_holds(lab, "node1", VIP1)
    wait_itself(lab, "node0")                        # shutdown script restored node0
    # vip1's address moves to vip2's MAC with it: the kernel announces it (arp_notify)
    listener = listen_for_garp(lab, replace(VIP1, mac=VIP2.mac))
    daemons["node2"].stop()
    wait_holds(lab, "node1", VIP2)                   # both addresses, vip2's MAC and name
    assert listener.wait(TIMEOUT) == 0
    assert sorted(lab["node1"].addresses()) == ["192.168.32.21/24", "192.168.32.22/24"]
    daemons["node2"].start()                         # vip2 home again: vip1's identity back
    wait_holds(lab, "node2", VIP2)
    wait_for(lambda: holds(lab, "node1", VIP1) and not holds(lab, "node1", VIP2,
                                                             identity=False),
             timeout=TIMEOUT, what="node1 back to vip1 only", interval=0.02)


@needs_keepalived
def test_frozen_master_loses_vip_and_takes_it_back_when_thawed(cluster):
    lab, daemons = cluster("script")
    wait_holds(lab, "node2", VIP2)
    daemons["node2"].freeze()                        # no adverts; node2's VIP stays
    wait_holds(lab, "node1", VIP2)
    daemons["node2"].thaw()                          # its priority 150 wins again
    wait_itself(lab, "node1")
    wait_holds(lab, "node2", VIP2)


@needs_keepalived
def test_ip_mode_moves_only_the_address(cluster):
    lab, daemons = cluster("ip")
    wait_holds(lab, "node0", VIP1, identity=False)
    assert lab["node0"].mac() == SERVICE_MACS["node0"] and lab["node0"].hostname() == "node0"
    assert sorted(lab["node0"].addresses()) == ["192.168.32.21/24", "192.168.32.30/24"]
    daemons["node0"].kill()
    wait_holds(lab, "node1", VIP1, identity=False)
    assert lab["node1"].mac() == SERVICE_MACS["node1"] and lab["node1"].hostname() == "node1"
    daemons["node0"].start()
    wait_for(lambda: lab["node1"].addresses() == ["192.168.32.31/24"], timeout=TIMEOUT,
             what="node1 to give vip1 back", interval=0.02)
    wait_holds(lab, "node0", VIP1, identity=False)

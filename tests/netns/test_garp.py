"""Gratuitous ARP re-teaches the switch as well as the ARP caches.

Lab (namespaces of the `topology` fixture): a Linux bridge "svc" in the switch
namespace, nodes A (192.168.32.31) and B (.32) and a client (.40) plugged into
it. Both nodes run `Identity` through `identity_driver.py`, each with its own
state dir. The bridge's forwarding table is read with `bridge fdb show`
inside the switch namespace; its ageing time is 300 s, so an entry that moves
within the test's deadline was moved by a frame, not by ageing. IPv6 is off
in the nodes, so the only frames from the virtual MAC are the ones hbd sends.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hbd_lab.netns import Topology
from tests.netns.identity_lab import DRIVER, VIRTUAL_MAC, read_line, wait_for

VIP = "192.168.32.21"
BLOCK = [f"IPaddr::{VIP}/24/eth0", "MacAddr::eth0::00:1E:68:1E:99:5E"]


class Segment:
    def __init__(self, topology: Topology, tmp: Path) -> None:
        self.topology = topology
        self.tmp = tmp
        switch = topology.add_switch("svc")
        self.ports = {}
        for name, host in (("a", 31), ("b", 32), ("client", 40)):
            node = topology.add_node(name)
            # no IPv6: its duplicate address detection after a MAC change would send
            # frames from the virtual MAC at times of its own, moving the entry too
            for conf in ("all", "default"):
                node.run(["sysctl", "-qw", f"net.ipv6.conf.{conf}.disable_ipv6=1"])
            self.ports[name] = topology.cable(name, "eth0", switch,
                                              address=f"192.168.32.{host}/24")

    def drive(self, node: str, commands: list[dict]) -> list[dict]:
        proc = self.topology.nodes[node].run(
            [sys.executable, DRIVER, "run", str(self.tmp / node), "--garp-count", "1"],
            input=json.dumps(commands), check=False, timeout=20)
        assert proc.returncode == 0, proc.stderr
        replies = [json.loads(line) for line in proc.stdout.splitlines()]
        assert all(r.get("ok", True) for r in replies), replies
        return replies

    def port_of_virtual_mac(self) -> str | None:
        out = subprocess.run(["bridge", "-n", self.topology.switch_ns, "fdb", "show",
                              "br", "svc"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            words = line.split()
            if words and words[0] == VIRTUAL_MAC and "dev" in words:
                return words[words.index("dev") + 1]
        return None


@pytest.fixture
def segment(topology, tmp_path) -> Segment:
    return Segment(topology, tmp_path)


def start(node_ops: list[str]) -> dict:
    return {"op": "start_block", "specs": node_ops, "group": "vip1"}


def test_announcement_after_the_other_let_go_moves_the_virtual_mac_to_the_new_port(segment):
    a, b = segment.ports["a"], segment.ports["b"]
    segment.drive("a", [start(BLOCK)])
    wait_for(lambda: segment.port_of_virtual_mac() == a, "the switch to learn A's port")
    segment.drive("b", [start(BLOCK)])          # both carry the virtual MAC (a heal)
    wait_for(lambda: segment.port_of_virtual_mac() == b, "B's announcement to teach B's port")
    segment.drive("a", [{"op": "reannounce", "specs": BLOCK}])
    wait_for(lambda: segment.port_of_virtual_mac() == a, "A's last frame to win the port back")
    segment.drive("a", [{"op": "stop_block", "specs": BLOCK, "group": "vip1"}])
    # A is itself again; nothing told the switch, which still sends the virtual MAC to A
    assert segment.port_of_virtual_mac() == a

    segment.drive("b", [{"op": "reannounce", "specs": BLOCK}])

    wait_for(lambda: segment.port_of_virtual_mac() == b, "B's announcement to move the entry",
             timeout=2)
    client = segment.topology.nodes["client"]
    client.run(["ping", "-c", "1", "-W", "2", VIP])
    assert VIRTUAL_MAC in client.ip("neigh", "show", VIP)


def test_both_forms_go_out_from_the_interfaces_current_mac(segment):
    client = segment.topology.nodes["client"]
    listener = client.popen([sys.executable, DRIVER, "listen-arp", "eth0", VIP, VIRTUAL_MAC,
                             "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    assert read_line(listener) == {"ready": True}

    segment.drive("b", [start(BLOCK)])

    request, reply = json.loads(listener.communicate(timeout=8)[0].splitlines()[-1])["forms"]
    assert (request["op"], reply["op"]) == (1, 2)
    assert request["source_mac"] == reply["source_mac"] == VIRTUAL_MAC

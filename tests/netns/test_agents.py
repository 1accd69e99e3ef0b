"""Debian's own agents through ScriptRunner, in a network namespace (root only).

Heartbeat 3.0.6's resource.d/IPaddr (a wrapper around ocf:heartbeat:IPaddr) and
resource-agents' ocf:heartbeat:IPaddr2 add and remove a real address on eth0 of
a namespace. The runner runs inside the namespace through `script_driver.py`;
pytest stays in the host's namespace and looks with `ip -j addr`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

DRIVER = str(Path(__file__).with_name("script_driver.py"))
IPADDR_SCRIPT = "/etc/ha.d/resource.d/IPaddr"
IPADDR2_AGENT = "/usr/lib/ocf/resource.d/heartbeat/IPaddr2"


@pytest.fixture
def alpha(topology):
    node = topology.add_node("alpha")
    lan = topology.add_switch("lan")
    topology.cable("alpha", "eth0", lan, address="192.168.32.31/24")
    return node


@pytest.fixture
def drive(alpha, tmp_path):
    """Run ops on alpha; results as dicts. The agents name pid and tracking files in
    HA_RSCTMP after the address, so each test has its own (the runner creates it)."""
    def run_ops(spec: str, *ops: str) -> list[dict]:
        argv = [sys.executable, DRIVER, "--env", f"HA_RSCTMP={tmp_path}/rsctmp", spec, *ops]
        proc = alpha.run(argv, timeout=60)
        return [json.loads(line) for line in proc.stdout.splitlines()]
    return run_ops


def inet(node, ifname: str = "eth0") -> dict[str, dict]:
    """IPv4 addresses on `ifname` as "address/prefix" -> ip's addr_info entry."""
    links = json.loads(node.ip("-j", "addr", "show", "dev", ifname))
    return {f"{a['local']}/{a['prefixlen']}": a
            for link in links for a in link["addr_info"] if a["family"] == "inet"}


def needs(path: str):
    return pytest.mark.skipif(not os.access(path, os.X_OK), reason=f"{path} is not installed")


@needs(IPADDR_SCRIPT)
def test_heartbeat_ipaddr_script_adds_and_removes_the_address(alpha, drive):
    spec = "heartbeat:IPaddr::192.168.32.21/24/eth0/192.168.32.255"
    before, start, status = drive(spec, "status", "start", "status")
    assert not before["ok"] and "is not running" in before["detail"]
    assert start["ok"], start["detail"]
    assert status["ok"], status["detail"]         # its status prints "... Running OK"
    address = inet(alpha)["192.168.32.21/24"]
    assert address["broadcast"] == "192.168.32.255"

    stop, after = drive(spec, "stop", "status")
    assert stop["ok"], stop["detail"]
    assert not after["ok"] and "is not running" in after["detail"]
    assert list(inet(alpha)) == ["192.168.32.31/24"]


@needs(IPADDR2_AGENT)
def test_ocf_ipaddr2_agent_adds_and_removes_the_address(alpha, drive):
    spec = "ocf:heartbeat:IPaddr2::ip=192.168.32.21::cidr_netmask=24::nic=eth0"
    before, start, monitor = drive(spec, "status", "start", "status")
    assert (before["ok"], before["rc"]) == (False, 7)
    assert start["ok"], start["detail"]
    assert (monitor["ok"], monitor["rc"]) == (True, 0)
    assert "192.168.32.21/24" in inet(alpha)

    stop, after = drive(spec, "stop", "status")
    assert stop["ok"], stop["detail"]
    assert (after["ok"], after["rc"]) == (False, 7)
    assert list(inet(alpha)) == ["192.168.32.31/24"]

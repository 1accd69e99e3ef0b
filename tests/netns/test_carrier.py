"""Carrier watch (`hbd.resources.carrier.CarrierWatch`) on veths in namespaces.

Node n1's eth0 is a veth plugged into a bridge port in the switch namespace;
setting that port down is a cable pulled at the switch: n1's eth0 loses
carrier. The watcher runs inside n1 (`identity_driver.py watch-carrier`) and
prints every report as a JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hbd_lab.netns import Topology
from tests.netns.identity_lab import DRIVER, read_line, wait_for


class Watcher:
    def __init__(self, topology: Topology, *ifaces: str) -> None:
        self.proc = topology.nodes["n1"].popen([sys.executable, DRIVER, "watch-carrier",
                                                *ifaces], stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE, bufsize=0)
        self.reports: list[tuple[str, bool]] = []
        while (line := read_line(self.proc)) != {"ready": True}:
            self.reports.append((line["iface"], line["carrier"]))
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.text = b""

    def new(self) -> list[tuple[str, bool]]:
        self.text += self.proc.stdout.read() or b""
        lines = [json.loads(x) for x in self.text.decode().splitlines()]
        return [(x["iface"], x["carrier"]) for x in lines]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


@pytest.fixture
def n1(topology):
    switch = topology.add_switch("svc")
    topology.add_node("n1")
    topology.cable("n1", "eth0", switch, address="192.168.32.31/24")
    return topology


def test_initial_state_then_cable_pulled_and_plugged_back(n1):
    watcher = Watcher(n1, "eth0", "eth9")
    try:
        assert watcher.reports == [("eth0", True), ("eth9", False)]

        n1.set_port("n1", "eth0", False)
        wait_for(lambda: watcher.new() == [("eth0", False)], "eth0 to lose carrier")
        n1.set_port("n1", "eth0", True)
        wait_for(lambda: watcher.new() == [("eth0", False), ("eth0", True)],
                 "eth0 to get carrier back")
    finally:
        watcher.close()


def test_interface_that_appears_goes_down_and_disappears(n1):
    node = n1.nodes["n1"]
    watcher = Watcher(n1, "eth9")
    try:
        node.ip("link", "add", "eth9", "type", "veth", "peer", "name", "peer9")
        node.ip("link", "set", "peer9", "up")
        node.ip("link", "set", "eth9", "up")
        wait_for(lambda: watcher.new() == [("eth9", True)], "eth9 to appear with carrier")
        node.ip("link", "set", "eth9", "down")
        wait_for(lambda: watcher.new()[1:] == [("eth9", False)], "eth9 down: no carrier")
        node.ip("link", "set", "eth9", "up")
        node.ip("link", "del", "eth9")
        wait_for(lambda: watcher.new()[2:] == [("eth9", True), ("eth9", False)],
                 "eth9 removed: no carrier")
        assert watcher.reports == [("eth9", False)]
    finally:
        watcher.close()


def test_other_interfaces_changes_are_not_reported(n1):
    node = n1.nodes["n1"]
    watcher = Watcher(n1, "eth0")
    try:
        node.ip("link", "add", "eth5", "type", "veth", "peer", "name", "peer5")
        node.ip("link", "set", "eth5", "up")
        node.ip("link", "set", "eth0", "mtu", "1400")    # eth0 changes, its carrier does not
        n1.set_port("n1", "eth0", False)                  # the one change to report
        wait_for(lambda: watcher.new(), "a report")
        assert watcher.new() == [("eth0", False)]
    finally:
        watcher.close()

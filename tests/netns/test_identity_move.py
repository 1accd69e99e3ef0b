"""One identity move: a group's identity resources as one block, on real interfaces.

The lab is `identity_lab.py`'s. The order of the kernel's changes is read from
`ip -o monitor` inside n1, which prints link, address and route changes in
the order the kernel made them: the test is exact, not a race.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from hbd_lab.cluster import wait_for as lab_wait_for
from tests.netns.identity_lab import GROUP, VIRTUAL_MAC, Lab, drive, identity_of, lab

_ = lab  # the fixture

VIP = "192.168.32.21"
# the scenario's group with another gateway (so that the route changes too),
# listed in an order no client would want
BLOCK = ["DefaultRoute::192.168.32.253", GROUP[0], "Hostname::nodevir", GROUP[1]]


def block(op: str, specs: list[str], group: str = "vip1") -> dict:
    return {"op": f"{op}_block", "specs": specs, "group": group}


class Monitor:
    """`ip -o monitor link address route` inside a node, listening on return."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.proc = lab.n1.popen(["ip", "-o", "monitor", "link", "address", "route"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.text = ""
        # a marker change proves it listens: an address on lo, added and removed
        lab.n1.ip("addr", "add", "127.0.0.9/8", "dev", "lo")
        lab.n1.ip("addr", "del", "127.0.0.9/8", "dev", "lo")
        lab_wait_for(lambda: "Deleted" in self.read() and "127.0.0.9" in self.text,
                     timeout=5, what="ip monitor to listen", interval=0.02)
        self.text = ""

    def read(self) -> str:
        chunk = self.proc.stdout.read()
        self.text += (chunk or b"").decode()
        return self.text

    def lines(self) -> list[str]:
        self.read()
        self.proc.kill()
        self.proc.wait(5)
        return [line for line in self.text.splitlines() if line.strip()]


def first(lines: list[str], *words: str, deleted: bool = False) -> int:
    """The index of the first line holding every word (and Deleted, or not)."""
    for n, line in enumerate(lines):
        if all(w in line for w in words) and line.startswith("Deleted") == deleted:
            return n
    raise AssertionError(f"no change with {words} in:\n" + "\n".join(lines))


def test_block_start_orders_mac_before_address_and_stop_address_first(lab):
    original = identity_of(lab.n1)
    monitor = Monitor(lab)

    started = drive(lab, [block("start", BLOCK)])[0]
    now = identity_of(lab.n1)
    stopped = drive(lab, [block("stop", BLOCK), {"op": "journaled"}])

    lines = monitor.lines()
    assert started["ok"], started
    assert (now["mac"], now["hostname"]) == (VIRTUAL_MAC, "nodevir")
    assert (VIP, 24, "192.168.32.255") in now["addresses"]
    assert ("default", "192.168.32.253", "eth0", 0) in now["routes"]
    vmac = first(lines, "link/ether " + VIRTUAL_MAC)
    vip_added = first(lines, f"inet {VIP}/24")
    route = first(lines, "default via 192.168.32.253")
    assert vmac < vip_added < route, lines
    assert stopped[0]["ok"] and stopped[1]["specs"] == [], stopped
    vip_deleted = first(lines, f"inet {VIP}/24", deleted=True)
    own_mac = first(lines[vip_deleted:], "link/ether " + original["mac"]) + vip_deleted
    assert vip_deleted < own_mac, lines
    assert identity_of(lab.n1) == original
    assert not os.path.exists(lab.journal_path)


def test_block_result_is_one_value_naming_each_part(lab):
    started = drive(lab, [block("start", BLOCK), block("status", BLOCK)])
    assert all(r["ok"] for r in started), started
    for spec in BLOCK:
        assert spec in started[0]["detail"] and spec in started[1]["detail"]
    assert "added 192.168.32.21/24" in started[0]["detail"]
    again = drive(lab, [block("start", BLOCK)])[0]
    assert again["ok"] and "already" in again["detail"]
    assert drive(lab, [block("stop", BLOCK)])[0]["ok"]


def test_failed_part_undoes_the_whole_block(lab):
    original = identity_of(lab.n1)
    broken = [GROUP[1], GROUP[0], "Hostname::nodevir", "DefaultRoute::10.1.1.1"]

    replies = drive(lab, [block("start", broken), {"op": "journaled"}])

    assert not replies[0]["ok"]
    assert replies[0]["detail"].startswith("DefaultRoute::10.1.1.1: ")
    assert "Network is unreachable" in replies[0]["detail"]
    assert "undoing it failed" not in replies[0]["detail"]
    assert replies[1]["specs"] == []
    assert identity_of(lab.n1) == original
    assert not os.path.exists(lab.journal_path)


def test_block_with_link_flap_keeps_routes(lab):
    original = identity_of(lab.n1)
    replies = drive(lab, [block("start", GROUP[::-1])], "--mac-link-down")
    assert replies[0]["ok"] and "went down and up" in replies[0]["detail"], replies
    now = identity_of(lab.n1)
    assert now["up"] and now["mac"] == VIRTUAL_MAC and now["routes"] == original["routes"]
    assert drive(lab, [block("stop", GROUP)], "--mac-link-down")[0]["ok"]
    assert identity_of(lab.n1) == original


def test_two_groups_blocks_share_the_default_route(lab):
    original = identity_of(lab.n1)
    vip1 = ["IPaddr::192.168.32.21/24/eth0", "DefaultRoute::192.168.32.253"]
    vip2 = ["IPaddr::192.168.32.22/24/eth0", "DefaultRoute::192.168.32.253"]
    assert drive(lab, [block("start", vip1, "vip1"), block("start", vip2, "vip2")])[1]["ok"]
    assert drive(lab, [block("stop", vip1, "vip1")])[0]["ok"]
    now = identity_of(lab.n1)
    assert ("default", "192.168.32.253", "eth0", 0) in now["routes"]
    assert ("192.168.32.22", 24, "192.168.32.255") in now["addresses"]
    assert ("192.168.32.21", 24, "192.168.32.255") not in now["addresses"]
    assert drive(lab, [block("stop", vip2, "vip2")])[0]["ok"]
    assert identity_of(lab.n1) == original


@pytest.mark.parametrize("specs", [BLOCK, GROUP[:1]], ids=["block", "single"])
def test_executor_runs_a_step_as_one_move(lab, specs):
    original = identity_of(lab.n1)
    replies = drive(lab, [{"op": "execute", "kind": kind, "specs": specs, "group": "vip1"}
                          for kind in ("start", "status", "stop", "status")])
    assert [r["ok"] for r in replies] == [True, True, True, False], replies
    if len(specs) == 1:    # a single resource: Identity's words, as before
        assert replies[0]["detail"].startswith("added 192.168.32.21/24")
    assert identity_of(lab.n1) == original

"""The identity resources on real interfaces: the scenario's takeover of node0's identity.

The lab is `identity_lab.py`'s (n1, a client and a gateway on one switch).
Assertions read `ip -j`, `hostname` and the client's ARP cache inside the
namespaces.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hbd.resources.journal import JOURNAL_NAME, Claim, Journal, JournalFile
from hbd.resources.netlink import Route
from tests.netns.identity_lab import (
    DRIVER,
    GROUP,
    VIRTUAL_MAC,
    drive,
    heard,
    identity_of,
    lab,
    listen_arp,
    neighbour_mac,
    ops,
    read_line,
    wait_for,
)

_ = lab  # the fixture

# --- the scenario --------------------------------------------------------------------

def test_takeover_sets_node0_identity_and_release_restores_node1(lab):
    original = identity_of(lab.n1)
    lab.client.run(["ping", "-c", "1", "-W", "2", "192.168.32.31"])
    assert neighbour_mac(lab.client, "192.168.32.31") == original["mac"]
    listener = listen_arp(lab, "192.168.32.21", VIRTUAL_MAC)

    replies = drive(lab, ops("start", GROUP) + ops("status", GROUP) + [{"op": "journaled"}])

    assert all(r["ok"] for r in replies[:8]), replies
    assert replies[8]["specs"] == GROUP
    now = identity_of(lab.n1)
    assert now["addresses"] == [("192.168.32.21", 24, "192.168.32.255"),
                                ("192.168.32.31", 24, "192.168.32.255")]
    assert (now["mac"], now["hostname"]) == (VIRTUAL_MAC, "nodevir")
    assert ("default", "192.168.32.254", "eth0", 0) in now["routes"]
    assert heard(listener)["sender_mac"] == VIRTUAL_MAC
    # the MAC change was announced for every address: the client's cache followed
    wait_for(lambda: neighbour_mac(lab.client, "192.168.32.31") == VIRTUAL_MAC,
             "the client to learn the new MAC of 192.168.32.31")
    lab.client.run(["ping", "-c", "1", "-W", "2", "192.168.32.21"])
    assert neighbour_mac(lab.client, "192.168.32.21") == VIRTUAL_MAC

    replies = drive(lab, ops("stop", list(reversed(GROUP))) + [{"op": "journaled"}])

    assert all(r["ok"] for r in replies[:4]), replies
    assert replies[4]["specs"] == []
    assert identity_of(lab.n1) == original
    assert not os.path.exists(lab.journal_path)
    wait_for(lambda: neighbour_mac(lab.client, "192.168.32.31") == original["mac"],
             "the client to learn the original MAC back")


def test_mac_change_with_link_down_keeps_routes(lab):
    original = identity_of(lab.n1)

    replies = drive(lab, ops("start", GROUP), "--mac-link-down")

    assert all(r["ok"] for r in replies), replies
    assert "went down and up" in replies[1]["detail"]
    now = identity_of(lab.n1)
    assert now["up"] and now["mac"] == VIRTUAL_MAC
    assert now["routes"] == original["routes"]
    assert all(r["ok"] for r in drive(lab, ops("stop", GROUP[::-1]), "--mac-link-down"))
    assert identity_of(lab.n1) == original


def test_reannounce_repeats_gratuitous_arp_for_held_address(lab):
    mac = identity_of(lab.n1)["mac"]
    assert drive(lab, ops("start", GROUP[:1]))[0]["ok"]
    listener = listen_arp(lab, "192.168.32.21", mac)

    drive(lab, [{"op": "reannounce", "specs": GROUP[:1]}])

    assert heard(listener)["sender_ip"] == "192.168.32.21"


# --- crashes -------------------------------------------------------------------------------

@pytest.mark.parametrize("taken", [2, 4], ids=["mid-takeover", "holding-all"])
def test_recover_after_sigkill_restores_original_identity(lab, taken):
    original = identity_of(lab.n1)
    proc = lab.n1.popen([sys.executable, DRIVER, "run", lab.state_dir, "--mac-link-down",
                         "--garp-count", "50"],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    proc.stdin.write(json.dumps(ops("start", GROUP[:taken]) + [{"op": "hold"}]).encode())
    proc.stdin.close()
    replies = [read_line(proc) for _ in range(taken + 1)]
    assert all(r["ok"] for r in replies[:taken]) and replies[-1] == {"held": True}
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)
    assert identity_of(lab.n1)["mac"] == VIRTUAL_MAC

    replies = drive(lab, [{"op": "recover"}, {"op": "journaled"}])

    lines = replies[0]["lines"]
    assert len(lines) == taken and all(line.startswith("recovered") for line in lines), lines
    assert replies[0]["ok"] is True
    assert replies[1]["specs"] == []
    assert identity_of(lab.n1) == original
    assert not os.path.exists(lab.journal_path)


def test_recover_finishes_interrupted_link_flap(lab):
    original = identity_of(lab.n1)
    routes = [Route(None, 0, "192.168.32.254", "eth0", proto=3),
              Route("10.9.0.0", 16, "192.168.32.254", "eth0", proto=3)]
    journal = Journal()
    journal.add_claim(Claim(GROUP[0], "eth0", "192.168.32.21", 24, "192.168.32.255", added=True))
    stack = journal.open_stack("mac", "eth0", original["mac"])
    journal.push(stack, GROUP[1], VIRTUAL_MAC)
    stack.changing = {"up": True, "routes": [r.to_json() for r in routes]}
    JournalFile(lab.state_dir).save(journal)
    # the previous run died with the link down, MAC changed, routes flushed, IP not yet added
    lab.n1.ip("link", "set", "eth0", "down")
    lab.n1.ip("link", "set", "eth0", "address", VIRTUAL_MAC)

    lines = drive(lab, [{"op": "recover"}])[0]["lines"]

    assert any("interrupted MAC change" in line for line in lines), lines
    assert identity_of(lab.n1) == original
    assert not os.path.exists(lab.journal_path)


def test_recovery_that_cannot_restore_reports_failure_and_keeps_the_record(lab):
    journal = Journal()
    journal.add_claim(Claim(GROUP[0], "eth0", "192.168.32.21", 24, "192.168.32.255", added=True))
    journal.push(journal.open_stack("hostname", "", "x" * 100), GROUP[2], "nodevir")  # > 64
    JournalFile(lab.state_dir).save(journal)
    lab.n1.ip("addr", "add", "192.168.32.21/24", "brd", "+", "dev", "eth0")

    replies = drive(lab, [{"op": "recover"}, {"op": "journaled"}])

    assert replies[0]["ok"] is False
    lines = replies[0]["lines"]
    assert lines[0].startswith("recovered IPaddr::192.168.32.21"), lines
    assert lines[1].startswith("could not recover hostname: cannot set the hostname"), lines
    assert "stays in the journal" in lines[1]
    assert replies[1]["specs"] == [GROUP[2]]              # kept for the next start
    assert ("192.168.32.21", 24, "192.168.32.255") not in identity_of(lab.n1)["addresses"]


def test_recover_moves_corrupt_journal_aside(lab):
    os.makedirs(lab.state_dir)
    Path(lab.journal_path).write_text('{"version": 1, "claims": [')

    reply = drive(lab, [{"op": "recover"}])[0]

    assert len(reply["lines"]) == 1 and "corrupt" in reply["lines"][0]
    assert reply["ok"] is True          # reported, but nothing is left to undo
    assert os.listdir(lab.state_dir) == [f"{JOURNAL_NAME}.corrupt-1"]


# --- stacked settings ---------------------------------------------------------------------------

@pytest.mark.parametrize("first", [0, 1], ids=["release-lower-first", "release-top-first"])
def test_two_stacked_macs_and_hostnames_release_in_either_order(lab, first):
    original = identity_of(lab.n1)
    macs = ["00:1e:68:1e:99:5e", "00:1e:68:1e:99:5f"]
    groups = [[f"MacAddr::eth0::{mac.upper()}", f"Hostname::nodevir{n}"]
              for n, mac in enumerate(macs)]
    assert all(r["ok"] for r in drive(lab, ops("start", groups[0] + groups[1])))
    assert (identity_of(lab.n1)["mac"], lab.n1.hostname()) == (macs[1], "nodevir1")

    assert all(r["ok"] for r in drive(lab, ops("stop", groups[first][::-1])))
    other = 1 - first
    assert (identity_of(lab.n1)["mac"], lab.n1.hostname()) == (macs[other], f"nodevir{other}")

    assert all(r["ok"] for r in drive(lab, ops("stop", groups[other][::-1])))
    assert identity_of(lab.n1) == original
    assert not os.path.exists(lab.journal_path)


def test_same_spec_in_two_groups_stays_until_both_release(lab):
    original = identity_of(lab.n1)
    shared = ["IPaddr::192.168.32.21/24/eth0", "DefaultRoute::192.168.32.253"]
    for group in ("vip1", "vip2"):
        assert all(r["ok"] for r in drive(lab, ops("start", shared, group)))
    assert all(r["ok"] for r in drive(lab, ops("start", shared, "vip2")))  # a retry

    assert all(r["ok"] for r in drive(lab, ops("stop", shared[::-1], "vip1")))
    now = identity_of(lab.n1)
    assert ("192.168.32.21", 24, "192.168.32.255") in now["addresses"]
    assert ("default", "192.168.32.253", "eth0", 0) in now["routes"]

    assert all(r["ok"] for r in drive(lab, ops("stop", shared[::-1], "vip2")))
    assert identity_of(lab.n1) == original
    assert not os.path.exists(lab.journal_path)


# --- addresses ---------------------------------------------------------------------------------

def test_ip_forms_and_an_address_that_was_already_there(lab):
    specs = ["IPaddr::192.168.32.22", "IPaddr2::192.168.32.23/24/192.168.32.255",
             "IPaddr::192.168.32.31/24/eth0"]
    replies = drive(lab, ops("start", specs))
    assert all(r["ok"] for r in replies) and "already" in replies[2]["detail"]
    assert identity_of(lab.n1)["addresses"] == [("192.168.32.22", 24, "192.168.32.255"),
                                                ("192.168.32.23", 24, "192.168.32.255"),
                                                ("192.168.32.31", 24, "192.168.32.255")]
    assert all(r["ok"] for r in drive(lab, ops("stop", specs[::-1])))
    assert identity_of(lab.n1)["addresses"] == [("192.168.32.31", 24, "192.168.32.255")]


# --- failures ------------------------------------------------------------------------------------

def test_failures_are_values_and_leave_nothing_behind(lab):
    original = identity_of(lab.n1)
    bad = {"IPaddr::192.168.32.21/24/eth9": "eth9: no such interface",
           "MacAddr::eth9::00:1E:68:1E:99:5E": "eth9: no such interface",
           "IPaddr::172.16.0.5": "no interface has an address in a subnet containing 172.16.0.5",
           "DefaultRoute::10.1.1.1": "Network is unreachable"}

    replies = drive(lab, ops("start", list(bad)) + ops("status", list(bad)) +
                    ops("stop", ["Hostname::nodevir"]) + [{"op": "journaled"}])

    for reply, (spec, reason) in zip(replies, bad.items(), strict=False):
        assert not reply["ok"] and reply["detail"].startswith(spec) and reason in reply["detail"]
    assert not any(r["ok"] for r in replies[4:8])
    assert replies[8]["ok"] and replies[9]["specs"] == []
    assert identity_of(lab.n1) == original
    assert not os.path.exists(lab.journal_path)


def test_a_journal_that_cannot_be_written_fails_the_start_and_changes_nothing(lab):
    assert drive(lab, ops("start", GROUP[:1]))[0]["ok"]
    before, identity = Path(lab.journal_path).read_bytes(), identity_of(lab.n1)
    block = {"op": "start_block", "specs": GROUP[1:], "group": ""}

    reply = drive(lab, [block], "--fsize-limit", str(len(before) + 20))[0]

    assert not reply["ok"] and "cannot write the journal" in reply["detail"], reply
    assert "short write" in reply["detail"]
    assert identity_of(lab.n1) == identity
    assert Path(lab.journal_path).read_bytes() == before
    assert os.listdir(lab.state_dir) == [JOURNAL_NAME]


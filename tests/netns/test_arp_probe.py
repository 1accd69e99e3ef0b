"""RFC 5227 ARP probe (`hbd.resources.arp_probe.probe`) between namespaces on a bridge.

The lab is `identity_lab.py`'s: n1 (192.168.32.31) and a client (.40) on one
switch. The probe runs in the client (`identity_driver.py probe`); n1's kernel
is what answers, whatever MAC n1 carries.
"""

from __future__ import annotations

import json
import sys

from tests.netns.identity_lab import DRIVER, GROUP, VIRTUAL_MAC, drive, identity_of, lab, ops

_ = lab  # the fixture


def probe(lab, ip: str, iface: str = "eth0", wait: float = 0.005) -> dict:
    proc = lab.client.run([sys.executable, DRIVER, "probe", iface, ip, str(wait)], timeout=20)
    return json.loads(proc.stdout.splitlines()[-1])


def test_probe_of_a_configured_address_is_answered_with_the_holders_mac(lab):
    own = identity_of(lab.n1)["mac"]
    assert probe(lab, "192.168.32.31") == {"answered": True, "mac": own, "error": None}


def test_holder_answers_from_the_virtual_mac_it_carries(lab):
    assert all(r["ok"] for r in drive(lab, ops("start", GROUP[:2])))
    assert probe(lab, "192.168.32.21") == {"answered": True, "mac": VIRTUAL_MAC, "error": None}


def test_probe_of_an_address_nobody_has_is_not_answered(lab):
    assert probe(lab, "192.168.32.99") == {"answered": False, "mac": None, "error": None}


def test_probe_leaves_no_trace_in_the_holders_arp_cache(lab):
    probe(lab, "192.168.32.31")
    # sender IP 0.0.0.0: n1 learned nothing about the client from the probe
    assert "192.168.32.40" not in lab.n1.ip("neigh", "show", "dev", "eth0")


def test_probe_on_a_missing_interface_is_an_error_value(lab):
    got = probe(lab, "192.168.32.31", iface="eth9")
    assert not got["answered"] and got["mac"] is None
    assert got["error"].startswith("ARP probe on eth9")


def test_identity_probes_an_address_resource_on_the_interface_findif_gives(lab):
    """`Identity.probe` from n1 for the client's address, written as haresources would."""
    client_mac = identity_of(lab.client)["mac"]
    replies = drive(lab, [{"op": "probe", "spec": "IPaddr::192.168.32.40"},
                          {"op": "probe", "spec": "IPaddr::192.168.32.99/24/eth0"},
                          {"op": "probe", "spec": "IPaddr::172.16.0.5"}])
    assert (replies[0]["answered"], replies[0]["mac"]) == (True, client_mac)
    assert (replies[1]["answered"], replies[1]["error"]) == (False, None)
    assert not replies[2]["answered"] and "no interface has an address" in replies[2]["error"]

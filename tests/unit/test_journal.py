"""The identity journal and the pure helpers of the identity resources (no root needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hbd.config.model import Resource
from hbd.resources.addressing import (
    IpSpec,
    broadcast_for,
    parse_ip_arg,
    resolve_address,
    route_matches,
)
from hbd.resources.garp import ARP_REPLY, ARP_REQUEST, arp_frame, mac_bytes, parse_arp
from hbd.resources.identity import Identity
from hbd.resources.journal import JOURNAL_NAME, Claim, Journal, JournalCorrupt, JournalFile, Stack
from hbd.resources.netlink import Address, Route

ORIGINAL, MAC_A, MAC_B = "7e:00:00:00:00:01", "00:1e:68:1e:99:5e", "00:1e:68:1e:99:5f"


def two_pushes() -> Stack:
    stack = Stack("mac", "eth0", ORIGINAL)
    stack.push("MacAddr::eth0::A", MAC_A)
    stack.push("MacAddr::eth0::B", MAC_B)
    return stack


# --- stacks ------------------------------------------------------------------------

def test_stack_top_is_last_push():
    stack = two_pushes()
    assert stack.top() == MAC_B
    assert stack.holds("MacAddr::eth0::A") and not stack.holds("MacAddr::eth0::C")


def test_stack_release_lower_push_leaves_setting_unchanged():
    stack = two_pushes()
    assert stack.after_pop("MacAddr::eth0::A") == (False, MAC_B)
    stack.pop("MacAddr::eth0::A")
    assert stack.after_pop("MacAddr::eth0::B") == (True, ORIGINAL)


def test_stack_release_top_push_shows_the_one_below():
    stack = two_pushes()
    assert stack.after_pop("MacAddr::eth0::B") == (True, MAC_A)
    stack.pop("MacAddr::eth0::B")
    assert stack.top() == MAC_A
    assert stack.after_pop("MacAddr::eth0::A") == (True, ORIGINAL)
    stack.pop("MacAddr::eth0::A")
    assert stack.top() == ORIGINAL and not stack.pushes


def test_stack_release_of_unknown_spec_changes_nothing():
    assert two_pushes().after_pop("MacAddr::eth0::C") == (False, MAC_B)


def test_stack_push_again_moves_spec_to_top():
    stack = two_pushes()
    stack.push("MacAddr::eth0::A", MAC_A)
    assert [p.spec for p in stack.pushes] == ["MacAddr::eth0::B", "MacAddr::eth0::A"]


def test_stack_same_spec_two_groups_needs_both_releases():
    stack = Stack("route", "default", ["via .254"])
    stack.push("DefaultRoute::GW", ["via GW"], group="vip1")
    stack.push("DefaultRoute::GW", ["via GW"], group="vip2")
    stack.push("DefaultRoute::GW", ["via GW"], group="vip2")   # a retried start
    assert len(stack.pushes) == 2
    assert stack.after_pop("DefaultRoute::GW", "vip2") == (False, ["via GW"])
    stack.pop("DefaultRoute::GW", "vip2")
    assert stack.holds("DefaultRoute::GW", "vip1") and not stack.holds("DefaultRoute::GW")
    assert stack.after_pop("DefaultRoute::GW", "vip1") == (True, ["via .254"])


def test_stack_release_to_an_equal_value_needs_no_change():
    stack = Stack("hostname", "", "n1")
    stack.push("Hostname::n1", "n1")
    assert stack.after_pop("Hostname::n1") == (False, "n1")


# --- journal -----------------------------------------------------------------------

def sample_journal() -> Journal:
    journal = Journal()
    journal.add_claim(Claim("IPaddr::192.168.32.21", "eth0", "192.168.32.21", 24,
                            "192.168.32.255", added=True))
    mac = journal.open_stack("mac", "eth0", ORIGINAL)
    journal.push(mac, "MacAddr::eth0::A", MAC_A)
    journal.push(journal.open_stack("hostname", "", "n1"), "Hostname::nodevir", "nodevir")
    mac.changing = {"up": True, "routes": [Route(None, 0, "192.168.32.254", "eth0").to_json()]}
    return journal


def test_journal_specs_in_order_taken():
    assert sample_journal().specs() == ["IPaddr::192.168.32.21", "MacAddr::eth0::A",
                                        "Hostname::nodevir"]


def test_journal_json_round_trip():
    journal = sample_journal()
    again = Journal.loads(journal.dumps())
    assert again == journal
    assert Route.from_json(again.stack("mac", "eth0").changing["routes"][0]).gateway \
        == "192.168.32.254"


def test_journal_open_stack_keeps_first_original():
    journal = sample_journal()
    assert journal.open_stack("mac", "eth0", MAC_A).original == ORIGINAL


def test_journal_empty_stack_kept_while_a_change_is_in_flight():
    journal = sample_journal()
    journal.stack("mac", "eth0").pop("MacAddr::eth0::A")
    journal.stack("hostname").pop("Hostname::nodevir")
    journal.drop_empty_stacks()
    assert [s.kind for s in journal.stacks] == ["mac"]
    journal.stack("mac", "eth0").changing = None
    journal.drop_claim("IPaddr::192.168.32.21")
    assert journal.empty


def test_journal_claims_per_group():
    journal = Journal()
    for group in ("vip1", "vip2", "vip2"):
        journal.add_claim(Claim("IPaddr::10.0.0.5", "eth0", "10.0.0.5", 24, None, True,
                                group=group))
    assert len(journal.claims) == 2 and journal.claim("IPaddr::10.0.0.5") is None
    assert journal.shared(journal.claim("IPaddr::10.0.0.5", "vip1"))
    journal.drop_claim("IPaddr::10.0.0.5", "vip2")
    assert not journal.shared(journal.claim("IPaddr::10.0.0.5", "vip1"))


def test_journal_shared_claim():
    journal = sample_journal()
    journal.add_claim(Claim("IPaddr::192.168.32.21/24", "eth0", "192.168.32.21", 24, None, True))
    assert journal.shared(journal.claim("IPaddr::192.168.32.21"))
    journal.drop_claim("IPaddr::192.168.32.21/24")
    assert not journal.shared(journal.claim("IPaddr::192.168.32.21"))


@pytest.mark.parametrize("text", [
    "", "[]", "{}", '{"version": 2, "claims": [], "stacks": [], "next_seq": 1}',
    '{"version": 1, "claims": {}, "stacks": [], "next_seq": 1}',
    '{"version": 1, "claims": [{"spec": 1}], "stacks": [], "next_seq": 1}',
    '{"version": 1, "claims": [], "stacks": [{"kind": "mac"}], "next_seq": 1}',
    '{"version": 1, "claims": [], "stacks": [], "next_seq": true}',
    '{"version": 1, "claims": [], "stacks": [], "next_seq": 1',
])
def test_journal_loads_rejects_malformed_text(text):
    with pytest.raises(JournalCorrupt):
        Journal.loads(text)


def test_journal_loads_rejects_wrongly_typed_claim():
    data = json.loads(sample_journal().dumps())
    data["claims"][0]["added"] = "yes"
    with pytest.raises(JournalCorrupt):
        Journal.loads(json.dumps(data))


def test_journal_loads_rejects_wrongly_typed_setting_values():
    data = json.loads(sample_journal().dumps())
    stack = data["stacks"][0]
    stack["original"] = 12345 if stack["kind"] != "route" else "not a list"
    with pytest.raises(JournalCorrupt, match="wrong type"):
        Journal.loads(json.dumps(data))


# --- the journal file -------------------------------------------------------------------

def test_journal_file_round_trip_leaves_no_temporary_files(tmp_path):
    store = JournalFile(str(tmp_path))
    store.save(sample_journal())
    assert os.listdir(tmp_path) == [JOURNAL_NAME]
    assert store.load() == (sample_journal(), [])


def test_journal_file_missing_is_empty(tmp_path):
    journal, lines = JournalFile(str(tmp_path / "absent")).load()
    assert journal.empty and lines == []


def test_journal_file_empty_journal_removes_file(tmp_path):
    store = JournalFile(str(tmp_path))
    store.save(sample_journal())
    store.save(Journal())
    assert os.listdir(tmp_path) == []


def test_journal_file_corrupt_moved_aside_with_fresh_number(tmp_path):
    store = JournalFile(str(tmp_path))
    for n in (1, 2):
        (tmp_path / JOURNAL_NAME).write_text('{"version": 1, "claims": [')
        journal, lines = store.load()
        assert journal.empty
        assert len(lines) == 1 and f"{JOURNAL_NAME}.corrupt-{n}" in lines[0]
    assert sorted(os.listdir(tmp_path)) == [f"{JOURNAL_NAME}.corrupt-1",
                                            f"{JOURNAL_NAME}.corrupt-2"]


def test_journal_file_binary_garbage_moved_aside(tmp_path):
    (tmp_path / JOURNAL_NAME).write_bytes(b"\xff\xfe\x00garbage")
    journal, lines = JournalFile(str(tmp_path)).load()
    assert journal.empty and "corrupt-1" in lines[0]


# --- the IPaddr argument and findif ----------------------------------------------------------

@pytest.mark.parametrize("arg, spec", [
    ("192.168.32.21", IpSpec("192.168.32.21")),
    ("192.168.32.21/24", IpSpec("192.168.32.21", 24)),
    ("192.168.32.21/24/eth0", IpSpec("192.168.32.21", 24, "eth0")),
    ("192.168.32.21/24/eth0/192.168.32.255", IpSpec("192.168.32.21", 24, "eth0", "192.168.32.255")),
    ("192.168.32.21/24/192.168.32.127", IpSpec("192.168.32.21", 24, None, "192.168.32.127")),
    ("192.168.32.21//eth1", IpSpec("192.168.32.21", None, "eth1")),
])
def test_parse_ip_arg_forms(arg, spec):
    assert parse_ip_arg(arg) == spec


def test_parse_ip_arg_rejects_netmask():
    with pytest.raises(ValueError, match="prefix length"):
        parse_ip_arg("192.168.32.21/255.255.255.0")


ADDRESSES = [Address("lo", "127.0.0.1", 8), Address("eth0", "192.168.32.31", 24, "192.168.32.255"),
             Address("eth1", "10.0.0.1", 16)]


def test_resolve_address_finds_interface_and_prefix():
    assert resolve_address(IpSpec("192.168.32.21"), ADDRESSES) == \
        Address("eth0", "192.168.32.21", 24, "192.168.32.255")
    assert resolve_address(IpSpec("10.0.7.7", 24), ADDRESSES) == \
        Address("eth1", "10.0.7.7", 24, "10.0.7.255")


def test_resolve_address_given_interface_and_broadcast_win():
    assert resolve_address(IpSpec("172.16.0.5", 28, "eth1", "172.16.0.15"), ADDRESSES) == \
        Address("eth1", "172.16.0.5", 28, "172.16.0.15")


def test_resolve_address_unknown_subnet_says_what_to_write():
    with pytest.raises(ValueError, match="IPaddr::IP/PREFIX/IFACE"):
        resolve_address(IpSpec("172.16.0.5"), ADDRESSES)
    with pytest.raises(ValueError, match="172.16.0.5/PREFIX/eth1"):
        resolve_address(IpSpec("172.16.0.5", None, "eth1"), ADDRESSES)


def test_broadcast_for_small_prefixes():
    assert broadcast_for("192.168.32.21", 24) == "192.168.32.255"
    assert broadcast_for("192.168.32.21", 31) is None
    assert broadcast_for("192.168.32.21", 32) is None


def test_route_matches_unset_interface_matches_any():
    live = Route(None, 0, "192.168.32.254", "eth0", proto=3)
    assert route_matches(live, Route(None, 0, "192.168.32.254"))
    assert not route_matches(live, Route(None, 0, "192.168.32.254", "eth1"))
    assert not route_matches(live, Route(None, 0, "192.168.32.254", priority=100))


# --- gratuitous ARP frames ----------------------------------------------------------------------

@pytest.mark.parametrize("op", [ARP_REQUEST, ARP_REPLY])
def test_arp_frame_round_trip(op):
    arp = parse_arp(arp_frame(mac_bytes(MAC_A), "192.168.32.21", op))
    assert arp is not None and arp.gratuitous and arp.op == op
    assert (arp.sender_mac, arp.sender_ip) == (MAC_A, "192.168.32.21")


def test_parse_arp_ignores_other_frames():
    assert parse_arp(b"\x00" * 10) is None
    assert parse_arp(b"\xff" * 12 + b"\x08\x00" + b"\x00" * 40) is None


# --- Identity refuses what is not its own without touching anything ---------------------------

async def test_identity_refuses_foreign_resource_and_bad_args(tmp_path):
    identity = Identity(str(tmp_path))
    result = await identity.start(Resource("apache"))
    assert not result.ok and "not an identity resource" in result.detail
    result = await identity.start(Resource("MacAddr", ("eth0",)))
    assert not result.ok and "MacAddr::eth0" in result.detail
    assert identity.journaled() == [] and os.listdir(tmp_path) == []
    await identity.close()


# --- checked writes: a short write is an error, the old journal stays ---------------------------

SHORT_WRITE = """
import asyncio, os, resource, signal, sys
sys.path.insert(0, {root!r})
from hbd.resources.journal import Claim, Journal, JournalFile, ShortWrite
from hbd.resources.ledger import Failed, Ledger

big = Journal()
for n in range(40):
    big.add_claim(Claim(f"IPaddr::10.0.0.{{n}}", "eth0", f"10.0.0.{{n}}", 24, None, True))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # past the limit: a short write, then EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))
try:
    JournalFile({directory!r}).save(big)
except ShortWrite as exc:
    print("short:", exc)
ledger = Ledger({directory!r})
old = ledger.current()
try:
    asyncio.run(ledger.commit(big))
except Failed as exc:
    print("failed:", exc)
print("kept:", ledger.current() == old)
"""


def test_short_write_is_an_error_and_the_old_journal_stays(tmp_path):
    store = JournalFile(str(tmp_path))
    store.save(sample_journal())
    before = (tmp_path / JOURNAL_NAME).read_bytes()
    code = SHORT_WRITE.format(root=str(Path(__file__).resolve().parents[2]),
                              directory=str(tmp_path))

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)

    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("short: short write") and "of " in lines[0], lines
    assert lines[1].startswith(f"failed: cannot write the journal {store.path}: short write")
    assert lines[2] == "kept: True"
    assert (tmp_path / JOURNAL_NAME).read_bytes() == before
    assert os.listdir(tmp_path) == [JOURNAL_NAME]      # no temporary file left

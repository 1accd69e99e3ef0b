"""Hostile input that authenticates (issue 10): the core believes nothing out of range.

Forged (crc, a leaked key) or replayed messages reach the core as authenticated
`PacketReceived`s. Each test feeds one to a single core with explicit `now` and
asserts it was dropped and counted, and that nothing it says took effect.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hbd.core.actions import SavePeerGenerations, Send
from hbd.core.cluster import Cluster
from hbd.core.events import PacketReceived, Started, TimerFired
from hbd.core.status import LinkStatus, NodeStatus
from hbd.wire.message import Message
from tests.unit.test_core_cluster import UUID0, UUID1, config, feed, run_until, sends, status_from

WALL = 1_800_000_000.0
HG = 0x6b06eaf6


def boot(**kw):
    c = Cluster(config("node1"), generation=41, uuid=UUID1, now=0.0, rng=random.Random(7),
                wall_offset=WALL, **kw)
    c.handle(Started(), now=0.0)
    return c


def test_dt_out_of_range_is_dropped_and_cannot_keep_a_peer_alive():
    c = boot()
    feed(c, status_from(seq=1, st="active"), now=0.5)
    feed(c, status_from(seq=2, dt=0xffffffffffff), now=1.0)
    assert c.status().counter("dropped_range_dt") == 1
    run_until(c, 1.0 + 6.0 + 0.1)                    # the peer's real dt: 6 s after seq 1
    assert c.status().node_view("node0").status is NodeStatus.DEAD


def test_huge_generation_leap_is_dropped_and_real_peer_still_heard():
    c = boot()
    feed(c, status_from(seq=1, st="active"), now=0.5)
    feed(c, status_from(seq=2, hg=0x7fffffff), now=0.6)
    assert c.status().counter("dropped_range_hg") == 1
    feed(c, status_from(seq=3), now=0.7)
    assert c.status().counter("dropped_replay") == 0
    assert c.status().node_view("node0").generation == HG


def test_hbd_ping_that_is_not_ascii_digits_is_ignored():
    c = boot()
    for value in ("²", "9" * 5000, "-1", "1e3"):
        feed(c, status_from(seq=1 + len(value), extra=(("hbd_hold", " "), ("hbd_ping", value))),
             now=0.5)
    assert c.status().node_view("node0").pings is None


def test_stale_generation_ns_message_neither_answered_nor_marks_link_up():
    c = boot()
    feed(c, status_from(seq=1, st="active"), now=0.5)
    run_until(c, 8.0)                                 # node0 silent: link and node dead
    assert c.status().node_view("node0").links == (("eth2", LinkStatus.DEAD),)
    old = Message.of(("t", "NS_rexmit"), ("dest", "node1"), ("firstseq", "1"), ("lastseq", "2"),
                     ("src", "node0"), ("srcuuid", UUID0), ("hg", f"{HG - 1:x}"), ("ts", "1"))
    assert sends(feed(c, old, now=8.1)) == []
    assert c.status().counter("dropped_ns_stale") == 1
    assert c.status().node_view("node0").links == (("eth2", LinkStatus.DEAD),)


def test_old_sequence_number_does_not_mark_a_link_up():
    c = boot()
    feed(c, status_from(seq=5, st="active"), now=0.5)
    run_until(c, 8.0)
    feed(c, status_from(seq=3), now=8.1)               # an old capture
    assert c.status().node_view("node0").links == (("eth2", LinkStatus.DEAD),)


def test_captured_status_replayed_long_after_does_not_revive_a_dead_peer():
    c = boot()
    first = status_from(seq=1, st="active").with_field("ts", f"{int(WALL + 0.5):x}")
    feed(c, first, now=0.5)
    run_until(c, 100.0)                                # dead since 6.5
    # A status with a higher seq of the same generation, but stamped by the sender's
    # clock as of t=0.5 (captured then, never delivered here), replayed at t=100.
    stale = status_from(seq=2, st="active").with_field("ts", f"{int(WALL + 0.5):x}")
    feed(c, stale, now=100.0)
    assert c.status().node_view("node0").status is NodeStatus.DEAD
    assert c.status().counter("dropped_stale") == 1
    fresh = status_from(seq=3, st="active").with_field("ts", f"{int(WALL + 100.0):x}")
    feed(c, fresh, now=100.1)                          # a real return is taken back
    assert c.status().node_view("node0").status is NodeStatus.ACTIVE


def test_rexmit_answers_are_budgeted_and_one_nak_per_request():
    c = boot()
    for i in range(600):                               # push seq 1.. out of the history
        c.handle(TimerFired(), now=1.0 + i)
    answered = 0
    for i in range(200):
        req = Message.of(("t", "NS_rexmit"), ("dest", "node1"), ("firstseq", "1"),
                         ("lastseq", "9999"), ("src", "node0"), ("srcuuid", UUID0),
                         ("hg", "5"), ("ts", "1"))
        out = sends(feed(c, req, now=700.0 + i * 0.001))
        assert len([m for m in out if m.type == "NS_nak_rexmit"]) <= 1
        answered += len(out)
    assert answered <= 50 + 25 * 0.2 + 1               # burst + refill over 0.2 s


def test_generations_persist_and_a_replay_after_our_restart_is_refused():
    c = boot()
    out = feed(c, status_from(seq=1, st="active"), now=0.5)
    saved = [a for a in c.handle(TimerFired(), now=0.6) + out if isinstance(a, SavePeerGenerations)]
    assert saved and saved[0].generations == (("node0", HG),)
    # This node restarts with the saved generations: an older capture is a replay.
    c2 = boot(peer_generations=dict(saved[0].generations))
    feed(c2, status_from(seq=9, hg=HG - 3, st="active"), now=0.5)
    assert c2.status().counter("dropped_replay") == 1
    assert c2.status().node_view("node0").status is not NodeStatus.ACTIVE


def test_peer_that_lost_its_state_rejoins_with_a_lower_generation():
    c = boot(peer_generations={"node0": HG})
    run_until(c, 13.0)                                 # initdead: node0 dead
    reborn = Message.of(*((f.name, f.value) for f in status_from(seq=1, hg=1, st="active")))
    reborn = reborn.with_field("ts", f"{int(WALL + 13.1):x}")
    feed(c, reborn, now=13.1)
    assert c.status().node_view("node0").generation == 1


# --- the core fuzzed with authenticated messages -----------------------------------------

FIELDS = ("t", "st", "dt", "seq", "hg", "ts", "ttl", "src", "dest", "firstseq", "lastseq",
          "hbd_hold", "hbd_standby", "hbd_claim", "hbd_fail", "hbd_ping", "hbd_down",
          "hbd_fenced", "rsc_hold", "ackseq", "info")
TYPES = ("status", "resource", "starting", "shutdone", "reqnodes", "NS_rexmit",
         "NS_nak_rexmit", "NS_ackmsg", "ip-request", "hb_takeover", "ask_resources", "x")
values = st.one_of(st.text(max_size=40), st.sampled_from(
    ("1", "0", "ffffffffffffffff", "7fffffff", "-1", "²", "node0", "node1", "all", "local",
     " ", f"{HG:x}", "IPaddr::10.77.0.100/24/hbAeth ")))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(TYPES),
                          st.lists(st.tuples(st.sampled_from(FIELDS), values), max_size=8)),
                min_size=1, max_size=12))
def test_core_never_raises_on_authenticated_garbage(batch):
    c = boot()
    now = 0.1
    for mtype, pairs in batch:
        msg = Message.of(("t", mtype), ("src", "node0"), *pairs)
        actions = c.handle(PacketReceived(msg, "eth2"), now=now)
        assert all(not isinstance(a, Send) or a.message.get("src") == "node1" for a in actions)
        now += 0.37
        c.handle(TimerFired(), now=now)
    c.status()
    assert c.next_deadline() is not None

"""heartbeat's resource protocol with a heartbeat peer (issue 11), one core, explicit now.

node0 is the home of the group; the peer is a heartbeat 3.0.6 node: its status
carries no `hbd_*` fields, its holdings come in `resource` messages, and it
moves groups only through `ask_resources` / `hb_takeover` / `ip-request`.
Message shapes follow docs/spec/heartbeat-wire.md §10.2-10.3 and §11.3-11.6.
"""

from __future__ import annotations

import random
from dataclasses import replace

from hbd.config.model import AutoFailback
from hbd.core.actions import Probe, RunResourceOp
from hbd.core.cluster import Cluster
from hbd.core.events import (AdminRequested, AdminVerb, GroupSet, ProbeFinished,
                             ResourceOpFinished, Started, TimerFired)
from hbd.wire.message import Message
from tests.unit.test_core_cluster import UUID0, UUID1, config, feed, sends, status_from

HG = 0x6b06eaf6


class HeartbeatPeer:
    """Messages as heartbeat 3.0.6 `src` sends them (sequenced)."""

    def __init__(self, name: str) -> None:
        self.name, self.seq = name, 0

    def msg(self, *pairs: tuple[str, str]) -> Message:
        self.seq += 1
        return Message.of(*pairs, ("src", self.name), ("srcuuid", UUID0),
                          ("seq", f"{self.seq:x}"), ("hg", f"{HG:x}"), ("ts", "6b06eb40"))

    def status(self, st: str = "active") -> Message:
        self.seq += 1
        return status_from(self.name, seq=self.seq, st=st)


def boot(me: str, afb: str = "on") -> Cluster:
    cfg = config(me)
    cfg = replace(cfg, hacf=replace(cfg.hacf, auto_failback=AutoFailback(afb)))
    c = Cluster(cfg, generation=41, uuid=UUID1, now=0.0, rng=random.Random(7),
                wall_offset=1_800_000_000.0)
    c.handle(Started(), now=0.0)
    return c


def of_type(actions, t):
    return [m for m in sends(actions) if m.type == t]


def run_ops(c: Cluster, actions, now: float):
    """Complete every resource op (and probe) the core asked for, as the shell would."""
    out = []
    pending = list(actions)
    while pending:
        a = pending.pop(0)
        if isinstance(a, RunResourceOp):
            more = c.handle(ResourceOpFinished(a.op_id, True), now=now)
        elif isinstance(a, Probe):
            more = c.handle(ProbeFinished(a.op_id, False), now=now)
        else:
            continue
        out += more
        pending += more
    return out


def test_heartbeat_holder_hands_back_to_returning_hbd_primary():
    """hbd node0 returns while heartbeat node1 holds its group: node0 sends
    hb_takeover; node1 (its rc.d/hb_takeover runs hb_standby) gives with `me`;
    node0 answers `other`, waits for `done`, starts, then says `done`."""
    c = boot("node0")
    hb = HeartbeatPeer("node1")
    feed(c, hb.status("active"), now=0.1)
    c.handle(TimerFired(), now=0.2)
    out = feed(c, hb.msg(("t", "resource"), ("rsc_hold", "all"), ("rtype", "full"),
                         ("isstable", "1")), now=0.3)
    takeover = of_type(out, "hb_takeover")
    assert [m.get("rsc_hold") for m in takeover] == ["local"]
    assert not [a for a in out if isinstance(a, RunResourceOp)]
    out = feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "foreign"), ("info", "me")),
               now=0.4)
    assert [(m.get("rsc_hold"), m.get("info")) for m in of_type(out, "ask_resources")] == [
        ("foreign", "other")]
    assert not [a for a in out if isinstance(a, RunResourceOp)]   # it still holds it
    out = feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "foreign"), ("info", "done")),
               now=0.6)
    out += run_ops(c, out, now=0.7)
    starts = [a for a in out if isinstance(a, RunResourceOp)]
    assert starts and c.status().held() == (c.config.groups[0].key,)
    assert [(m.get("rsc_hold"), m.get("info")) for m in of_type(out, "ask_resources")] == [
        ("foreign", "done")]


def test_hbd_standby_next_to_heartbeat_uses_the_three_phases():
    """hbctl standby on hbd node0 (holding its group), heartbeat node1 standby:
    node0 offers with `me` and releases only on `other`, then says `done`."""
    c = boot("node0")
    hb = HeartbeatPeer("node1")
    feed(c, hb.status("active"), now=0.1)
    out = c.handle(TimerFired(), now=0.2)
    out += feed(c, hb.msg(("t", "resource"), ("rsc_hold", "none"), ("rtype", "full"),
                          ("isstable", "1")), now=0.25)
    run_ops(c, out, now=0.3)
    assert c.status().held()
    out = c.handle(AdminRequested(AdminVerb.STANDBY, GroupSet.ALL), now=1.0)
    assert [(m.get("rsc_hold"), m.get("info")) for m in of_type(out, "ask_resources")] == [
        ("local", "me")]
    assert not [a for a in out if isinstance(a, RunResourceOp)]    # not before `other`
    out = feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "local"), ("info", "other")),
               now=1.1)
    stops = [a for a in out if isinstance(a, RunResourceOp)]
    assert stops and stops[0].op.value == "stop"
    assert "standby" in [m.get("info") for m in of_type(out, "resource")]
    out = run_ops(c, out, now=1.2)
    assert [(m.get("rsc_hold"), m.get("info")) for m in of_type(out, "ask_resources")] == [
        ("local", "done")]


def test_standby_offer_without_answer_is_cancelled_after_ten_seconds():
    c = boot("node0")
    hb = HeartbeatPeer("node1")
    feed(c, hb.status("active"), now=0.1)
    out = c.handle(TimerFired(), now=0.2)
    out += feed(c, hb.msg(("t", "resource"), ("rsc_hold", "none"), ("rtype", "full"),
                          ("isstable", "1")), now=0.25)
    run_ops(c, out, now=0.3)
    c.handle(AdminRequested(AdminVerb.STANDBY, GroupSet.ALL), now=1.0)
    for t in (3.0, 6.0, 9.0):
        feed(c, hb.status(), now=t)
    out = c.handle(TimerFired(), now=11.0)
    assert any("Standby request cancelled" in getattr(a, "message", "") for a in out)
    assert c.status().held()                               # nothing was released


def test_ip_request_answered_after_release_and_weown_no_when_not_held():
    c = boot("node1", afb="legacy")
    hb = HeartbeatPeer("node0")
    out = []
    t = 0.0
    while t < 13.5:              # initdead, a keepalive for the silent primary: node1 takes it
        t = c.next_deadline()
        out += c.handle(TimerFired(), now=t)
    run_ops(c, out, now=t)
    key = c.config.groups[0].key
    assert c.status().held() == (key,)
    # The legacy primary returns (it ranks first: the release begins) and asks.
    out = feed(c, hb.status("active"), now=13.6)
    out += feed(c, hb.msg(("t", "ip-request"), ("ipaddr", key)), now=13.7)
    stops = [a for a in out if isinstance(a, RunResourceOp)]
    assert stops and not of_type(out, "ip-request-resp")   # released first, then answered
    out = run_ops(c, out, now=13.8)
    resp = of_type(out, "ip-request-resp")
    assert [(m.get("dest"), m.get("ipaddr"), m.get("weown"), m.get("ok")) for m in resp] == [
        ("node0", key, "yes", "OK")]
    out = feed(c, hb.msg(("t", "ip-request"), ("ipaddr", key)), now=14.0)
    assert [m.get("weown") for m in of_type(out, "ip-request-resp")] == ["no"]


def test_legacy_primary_asks_with_ip_request_before_starting():
    c = boot("node0", afb="legacy")
    hb = HeartbeatPeer("node1")
    out = feed(c, hb.status("active"), now=0.1)
    out += c.handle(TimerFired(), now=0.2)
    key = c.config.groups[0].key
    assert [m.get("ipaddr") for m in of_type(out, "ip-request")] == [key]
    assert not [a for a in out if isinstance(a, RunResourceOp)]
    out = feed(c, hb.msg(("dest", "node0"), ("t", "ip-request-resp"), ("ipaddr", key),
                         ("weown", "yes"), ("ok", "OK")), now=0.8)
    out += run_ops(c, out, now=0.9)
    assert c.status().held() == (key,)


def resources(actions):
    return [(m.get("rsc_hold"), m.get("isstable"), m.get("info")) for m in of_type(actions, "resource")]


def test_starting_to_a_returning_heartbeat_peer_is_followed_by_isstable_1_when_holding_nothing():
    """hbd node1 holds nothing; heartbeat node0 goes active (it restarted): hbd asks
    with `starting`, and heartbeat marks hbd unstable until hbd's next `resource ...
    isstable=1` (process_resources). hbd sends it in the same step, holding nothing."""
    c = boot("node1")
    hb = HeartbeatPeer("node0")
    out = feed(c, hb.status("up"), now=0.1)
    out += c.handle(TimerFired(), now=0.2)
    assert c.status().comm_up and not c.status().held()
    out = feed(c, hb.status("active"), now=1.0)
    kinds = [m.type for m in sends(out) if m.type in ("starting", "resource")]
    assert kinds == ["starting", "resource"]
    assert resources(out) == [("none", "1", None)]


def test_taker_says_isstable_1_after_its_done():
    """hbd takes a heartbeat peer's standby offer; after its own `done` it says
    `resource ... isstable=1` (heartbeat's go_standby holds it unstable until then)."""
    c = boot("node0")
    hb = HeartbeatPeer("node1")
    feed(c, hb.status("active"), now=0.1)
    c.handle(TimerFired(), now=0.2)
    feed(c, hb.msg(("t", "resource"), ("rsc_hold", "all"), ("rtype", "full"),
                   ("isstable", "1")), now=0.3)
    feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "foreign"), ("info", "me")), now=0.4)
    out = feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "foreign"), ("info", "done")),
               now=0.6)
    out += run_ops(c, out, now=0.7)
    types = [(m.type, m.get("info"), m.get("isstable")) for m in sends(out)
             if m.type in ("ask_resources", "resource")]
    done = types.index(("ask_resources", "done", None))
    assert ("resource", None, "1") in types[done + 1:]


def test_giver_says_isstable_1_after_the_takers_done():
    c = boot("node0")
    hb = HeartbeatPeer("node1")
    feed(c, hb.status("active"), now=0.1)
    out = c.handle(TimerFired(), now=0.2)
    out += feed(c, hb.msg(("t", "resource"), ("rsc_hold", "none"), ("rtype", "full"),
                          ("isstable", "1")), now=0.25)
    run_ops(c, out, now=0.3)
    c.handle(AdminRequested(AdminVerb.STANDBY, GroupSet.ALL), now=1.0)
    out = feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "local"), ("info", "other")),
               now=1.1)
    run_ops(c, out, now=1.2)
    out = feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "local"), ("info", "done")),
               now=1.5)
    assert resources(out) == [("none", "1", None)]


def three_nodes(me: str) -> Cluster:
    cfg = config(me)
    cfg = replace(cfg, hacf=replace(cfg.hacf, nodes=("node0", "node1", "node2")))
    c = Cluster(cfg, generation=41, uuid=UUID1, now=0.0, rng=random.Random(7),
                wall_offset=1_800_000_000.0)
    c.handle(Started(), now=0.0)
    return c


def test_empty_foreign_offer_is_answered_by_the_first_live_node_only():
    """heartbeat node0 offers its `foreign` while holding nothing (auto_failback or
    hb_standby; heartbeat cannot tell): unanswered, it stays in transition for 10 s.
    The first live node other than the offerer (node1) answers `other`; node2 does not."""
    answers = {}
    for me in ("node1", "node2"):
        c = three_nodes(me)
        hb = HeartbeatPeer("node0")
        other = "node2" if me == "node1" else "node1"
        feed(c, hb.status("active"), now=0.1)
        feed(c, status_from(other, seq=1, st="active",
                            extra=(("hbd_hold", " "), ("hbd_standby", "none"),
                                   ("hbd_claim", "none"), ("hbd_fail", " "))), now=0.1)
        c.handle(TimerFired(), now=0.2)
        out = feed(c, hb.msg(("t", "resource"), ("rsc_hold", "local"), ("rtype", "full"),
                             ("isstable", "1")), now=0.3)
        out = feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "foreign"), ("info", "me")),
                   now=0.5)
        answers[me] = [(m.get("rsc_hold"), m.get("info")) for m in of_type(out, "ask_resources")]
        if me == "node1":
            out = feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "foreign"),
                                 ("info", "done")), now=0.7)
            assert [(m.get("rsc_hold"), m.get("info"))
                    for m in of_type(out, "ask_resources")] == [("foreign", "done")]
            assert not [a for a in out if isinstance(a, RunResourceOp)]
    assert answers == {"node1": [("foreign", "other")], "node2": []}


def test_carrier_loss_next_to_heartbeat_standby_offers_the_group():
    """node0's service link (the group's interface) loses carrier; the heartbeat
    standby takes a group only through the standby exchange: node0 offers with
    `me`, releases only on `other`, then says `done`."""
    from hbd.core.events import CarrierChanged
    c = boot("node0")
    hb = HeartbeatPeer("node1")
    feed(c, hb.status("active"), now=0.1)
    out = c.handle(TimerFired(), now=0.2)
    out += feed(c, hb.msg(("t", "resource"), ("rsc_hold", "none"), ("rtype", "full"),
                          ("isstable", "1")), now=0.25)
    run_ops(c, out, now=0.3)
    assert c.status().held()
    out = c.handle(CarrierChanged("hbAeth", False), now=1.0)
    assert [(m.get("rsc_hold"), m.get("info")) for m in of_type(out, "ask_resources")] == [
        ("local", "me")]
    assert not [a for a in out if isinstance(a, RunResourceOp)]
    out = feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "local"), ("info", "other")),
               now=1.1)
    stops = [a for a in out if isinstance(a, RunResourceOp)]
    assert stops and stops[0].op.value == "stop"
    out = run_ops(c, out, now=1.2)
    assert [(m.get("rsc_hold"), m.get("info")) for m in of_type(out, "ask_resources")] == [
        ("local", "done")]
    assert not c.status().held()


def test_second_offer_during_an_exchange_is_ignored_and_done_must_match_the_offer():
    """heartbeat node0 (holding its group) offers `foreign` (its auto_failback: it
    holds none) and, before that exchange ends, `local` (an hb_standby heartbeat
    itself ignores: "Standby in progress"). hbd answers the first only, and the
    `done` of the `foreign` exchange releases nothing: vip1 is not started while
    heartbeat still holds it."""
    c = boot("node1")
    hb = HeartbeatPeer("node0")
    feed(c, hb.status("active"), now=0.1)
    c.handle(TimerFired(), now=0.2)
    feed(c, hb.msg(("t", "resource"), ("rsc_hold", "local"), ("rtype", "full"),
                   ("isstable", "1")), now=0.3)
    out = feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "foreign"), ("info", "me")),
               now=0.5)
    assert [(m.get("rsc_hold"), m.get("info")) for m in of_type(out, "ask_resources")] == [
        ("foreign", "other")]
    out = feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "local"), ("info", "me")),
               now=0.6)
    assert not of_type(out, "ask_resources")
    out = feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "foreign"), ("info", "done")),
               now=0.7)
    assert not [a for a in out if isinstance(a, RunResourceOp)]
    assert [(m.get("rsc_hold"), m.get("info")) for m in of_type(out, "ask_resources")] == [
        ("foreign", "done")]
    assert not c.status().held()


def test_asking_a_heartbeat_peer_for_a_third_nodes_group_says_local():
    """heartbeat reads the sender's set as the complement of its own: a group whose
    primary is a third node is `foreign` to both, so hbd asks for it with
    `hb_takeover rsc_hold=local` (heartbeat then runs `hb_standby foreign`), not
    `foreign` (which would make it give up its own `local` group)."""
    from hbd.core.handshake import asking_words
    from tests.unit.test_core_cluster import GROUP
    assert asking_words("node1", [GROUP]) == frozenset({"local"})     # primary node0: third
    assert asking_words("node0", [GROUP]) == frozenset({"foreign"})   # its own group


def test_answered_offer_the_peer_does_not_carry_out_is_dropped_after_ten_seconds():
    """heartbeat ignores our `other` while "the other side is in flux": no
    `resource ... info=standby` follows. After OFFER_TIMEOUT hbd forgets the
    exchange (else it would wait forever and never ask that peer again)."""
    c = boot("node0")
    hb = HeartbeatPeer("node1")
    feed(c, hb.status("active"), now=0.1)
    c.handle(TimerFired(), now=0.2)
    feed(c, hb.msg(("t", "resource"), ("rsc_hold", "all"), ("rtype", "full"),
                   ("isstable", "1")), now=0.3)
    out = feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "foreign"), ("info", "me")),
               now=0.4)
    assert of_type(out, "ask_resources")
    out = []
    for t in (3.0, 6.0, 9.0, 10.5):
        out += feed(c, hb.status(), now=t)
    assert any("exchange dropped" in getattr(a, "message", "") for a in out)
    # no longer in an exchange: a new offer is answered again
    out = feed(c, hb.msg(("t", "ask_resources"), ("rsc_hold", "foreign"), ("info", "me")),
               now=11.0)
    assert [m.get("info") for m in of_type(out, "ask_resources")] == ["other"]

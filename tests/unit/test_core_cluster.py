"""One Cluster driven with explicit `now` (aioquic style): wire-level behaviour."""

import random

from hbd.config.model import Bcast, ClusterConfig, HaCf, Resource, ResourceGroup
from hbd.core.actions import Notice, SaveGeneration, Send
from hbd.core.cluster import Cluster
from hbd.core.events import PacketReceived, ShutdownRequested, Started, TimerFired
from hbd.core.status import NodeStatus
from hbd.wire.message import Message

UUID0 = bytes.fromhex("64541cabb3154c2baa0cbc041883541c")
UUID1 = bytes.fromhex("726d2826e4474b80a0e331a3f24533a9")
GROUP = ResourceGroup("node0", (Resource("IPaddr", ("10.77.0.100/24/hbAeth",)),))


def config(me="node1", keepalive=1.0, deadtime=6.0, initdead=12.0, warntime=3.0):
    hacf = HaCf(nodes=("node0", "node1"), keepalive=keepalive, deadtime=deadtime,
                warntime=warntime, initdead=initdead, deadping=deadtime, media=(Bcast("eth2"),))
    return ClusterConfig(me, hacf, (GROUP,))


def boot(me="node1", now=0.0, generation=41, **kw):
    c = Cluster(config(me, **kw), generation=generation, uuid=UUID1, now=now,
                rng=random.Random(7), wall_offset=1_800_000_000.0)
    return c, c.handle(Started(), now=now)


def status_from(src="node0", seq=1, hg=0x6b06eaf6, st="up", dt=0x1770, extra=()):
    return Message.of(("t", "status"), ("st", st), ("dt", f"{dt:x}"), ("protocol", "1"), *extra,
                      ("src", src), ("srcuuid", UUID0), ("seq", f"{seq:x}"), ("hg", f"{hg:x}"),
                      ("ts", "6b06eb40"), ("ld", "0.00 0.00 0.00 1/1 1"), ("ttl", "3"))


def feed(c, msg, now):
    return c.handle(PacketReceived(msg, "eth2"), now=now)


def sends(actions):
    return [a.message for a in actions if isinstance(a, Send)]


def notices(actions, kind=None):
    return [a for a in actions if isinstance(a, Notice) and (kind is None or a.kind == kind)]


def run_until(c, until):
    """Fire every timer the core asks for up to `until` (as the runtime would)."""
    out = []
    while (deadline := c.next_deadline()) is not None and deadline <= until:
        out += c.handle(TimerFired(), now=deadline)
    return out + c.handle(TimerFired(), now=until)


def test_start_persists_generation_before_announcing_it():
    c, actions = boot(generation=41)
    assert isinstance(actions[0], SaveGeneration) and actions[0].generation == 42
    first, second = sends(actions)[:2]
    assert (first.get("st"), second.get("st")) == ("init", "up")
    assert first.get("hg") == f"{42:x}" and first.get("seq") == "1" and second.get("seq") == "2"


def test_status_fields_in_heartbeat_order():
    _, actions = boot()
    names = sends(actions)[0].names()
    assert names[:4] == ["t", "st", "dt", "protocol"]
    assert names[-7:] == ["src", "srcuuid", "seq", "hg", "ts", "ld", "ttl"]
    assert sends(actions)[0].get("dt") == "1770"   # 6000 ms, hex


def test_keepalive_every_interval():
    c, _ = boot()
    assert c.next_deadline() == 1.0
    out = c.handle(TimerFired(), now=1.0)
    assert [m.get("t") for m in sends(out)] == ["status"]
    assert c.next_deadline() == 2.0


def test_peer_declared_dead_exactly_its_deadtime_after_last_status():
    c, _ = boot()
    feed(c, status_from(seq=1), now=0.5)
    feed(c, status_from(seq=2, st="active"), now=3.25)
    assert c.next_deadline() <= 3.25 + 6.0
    out = run_until(c, 9.2499)
    assert not [n for n in notices(out, "node") if n.get("status") == "dead"]
    out = run_until(c, 9.25)
    dead = [n for n in notices(out, "node") if n.get("status") == "dead"]
    assert dead and dead[0].subject == "node0" and "is dead" in dead[0].message


def test_unheard_peer_declared_dead_after_initdead():
    c, _ = boot(initdead=12.0)
    out = []
    t = 0.0
    while t < 12.0:
        t = c.next_deadline()
        out += c.handle(TimerFired(), now=t)
    dead = [n for n in notices(out, "node") if n.get("status") == "dead"]
    assert dead and dead[0].get("reason") == "initdead" and t == 12.0
    assert c.status().comm_up   # alone: communications up once the peer is dead


def test_lower_generation_is_a_replay_and_dropped():
    c, _ = boot()
    feed(c, status_from(seq=5, hg=10), now=1.0)
    feed(c, status_from(seq=6, hg=9), now=1.1)
    assert c.status().counter("dropped_replay") == 1


def test_duplicate_and_old_sequence_numbers_dropped():
    c, _ = boot()
    feed(c, status_from(seq=5), now=1.0)
    feed(c, status_from(seq=5), now=1.1)
    feed(c, status_from(seq=6), now=1.2)
    feed(c, status_from(seq=4), now=1.3)
    s = c.status()
    assert s.counter("dropped_duplicate") == 1 and s.counter("dropped_old") == 1


def test_higher_generation_is_a_restart():
    c, _ = boot()
    feed(c, status_from(seq=9, hg=10), now=1.0)
    out = feed(c, status_from(seq=1, hg=11), now=2.0)
    assert any("Heartbeat restart on node node0" in n.message for n in notices(out))
    assert c.status().node_view("node0").generation == 11


def test_gap_triggers_rexmit_request_after_random_delay():
    c, _ = boot()
    feed(c, status_from(seq=1), now=1.0)
    feed(c, status_from(seq=4), now=1.01)
    deadline = c.next_deadline()
    assert 1.01 + 0.05 <= deadline <= 1.01 + 0.25
    out = c.handle(TimerFired(), now=deadline)
    reqs = [m for m in sends(out) if m.get("t") == "NS_rexmit"]
    assert reqs and reqs[0].get("dest") == "node0"
    assert reqs[0].get("firstseq") in ("2", "3") and "seq" not in reqs[0]


def test_answers_reqnodes_with_exact_node_list():
    c, _ = boot()
    msg = Message.of(("t", "reqnodes"), ("dest", "node1"), ("src", "node0"), ("srcuuid", UUID0),
                     ("seq", "1"), ("hg", "5"), ("ts", "1"))
    out = feed(c, msg, now=1.0)
    rep = [m for m in sends(out) if m.get("t") == "repnodes"][0]
    assert rep.get("dest") == "node0" and rep.get_bytes("destuuid") == UUID0
    assert rep.get("nodelist") == "node0 node1 " and rep.get("delnodelist") == " "
    assert rep.names()[:4] == ["dest", "t", "nodelist", "delnodelist"]


def test_rexmit_request_answered_with_identical_message():
    c, actions = boot()
    original = sends(actions)[1]
    req = Message.of(("t", "NS_rexmit"), ("dest", "node1"), ("firstseq", "2"), ("lastseq", "2"),
                     ("src", "node0"), ("srcuuid", UUID0), ("hg", "5"), ("ts", "1"))
    out = feed(c, req, now=0.5)
    assert sends(out) == [original]
    assert sends(feed(c, req, now=0.6)) == []          # at most once per 240 ms


def test_late_heartbeat_warning_names_interval():
    c, _ = boot(warntime=3.0)
    feed(c, status_from(seq=1), now=1.0)
    out = feed(c, status_from(seq=2), now=5.5)
    late = [n for n in notices(out, "warning") if "Late heartbeat" in n.message]
    assert late and late[0].get("interval_ms") == "4500"


def test_shutdone_takes_peer_down_at_once_and_later_statuses_ignored():
    c, _ = boot()
    feed(c, status_from(seq=1, st="active"), now=1.0)
    msg = Message.of(("t", "shutdone"), ("st", "dead"), ("src", "node0"), ("srcuuid", UUID0),
                     ("seq", "2"), ("hg", f"{0x6b06eaf6:x}"), ("ts", "1"))
    feed(c, msg, now=1.5)
    assert c.status().node_view("node0").status is NodeStatus.DEAD
    feed(c, status_from(seq=3, st="active"), now=1.6)
    assert c.status().node_view("node0").status is NodeStatus.DEAD


def test_heartbeat_peer_without_hbd_fields_counts_as_member():
    c, _ = boot()
    feed(c, status_from(seq=1, st="active"), now=0.5)
    c.handle(TimerFired(), now=1.0)
    s = c.status()
    assert s.comm_up and s.node_view("node0").status is NodeStatus.ACTIVE
    assert not s.node_view("node0").is_hbd


def test_graceful_shutdown_without_groups_says_shutdone():
    c, _ = boot()
    out = c.handle(ShutdownRequested(), now=1.0)
    types = [m.get("t") for m in sends(out)]
    assert types[0] == "resource" and types[-1] == "shutdone"
    assert c.next_deadline() is None


def test_real_heartbeat_status_makes_peer_known():
    """A status captured from heartbeat 3.0.6 goes through the codec into the core."""
    from pathlib import Path

    from hbd.config.model import AuthKeys
    from hbd.wire import Accepted, decode

    vectors = Path(__file__).resolve().parents[1] / "vectors" / "heartbeat"
    result = decode((vectors / "status-crc-1.bin").read_bytes(), AuthKeys.single("crc"))
    assert isinstance(result, Accepted)
    c, _ = boot()
    out = feed(c, result.message, now=0.5)
    assert c.status().node_view("node0").status is NodeStatus.UP
    assert any(n.message == "Link node0:eth2 up" for n in notices(out, "link"))


def test_core_messages_survive_encode_and_decode():
    from hbd.config.model import AuthKeys
    from hbd.wire import Accepted, decode, encode

    keys = AuthKeys.single("sha1", "s3cret")
    _, actions = boot()
    for msg in sends(actions):
        result = decode(encode(msg, keys), keys)
        assert isinstance(result, Accepted)
        assert result.message.without("auth") == msg


def test_resource_message_says_isstable_1_once_a_takeover_has_finished():
    """heartbeat holds a peer in `transition` (and delays its own shutdown) until a
    `resource ... isstable=1` arrives; hbd sends one when its starts are done."""
    from hbd.core.actions import Probe, RunResourceOp
    from hbd.core.events import ProbeFinished, ResourceOpFinished
    c, _ = boot("node1")
    out = run_until(c, 12.0 + 6.0 + 1.0)       # node0 never heard: initdead, node1 probes
    probes = [a for a in out if isinstance(a, Probe)]
    assert len(probes) == 1 and not [a for a in out if isinstance(a, RunResourceOp)]
    out += c.handle(ProbeFinished(probes[0].op_id, answered=False), now=19.0)
    ops = [a for a in out if isinstance(a, RunResourceOp)]
    assert len(ops) == 1 and ops[0].op.value == "start"
    started = [m for m in sends(out) if m.type == "resource"]
    # comm-up: `starting`, then what it holds (nothing, settled); then the takeover
    assert [(m.get("rsc_hold"), m.get("isstable")) for m in started] == [("none", "1"),
                                                                          ("foreign", "0")]
    done = c.handle(ResourceOpFinished(ops[0].op_id, True), now=19.5)
    finished = [m for m in sends(done) if m.type == "resource"]
    assert [(m.get("rsc_hold"), m.get("isstable")) for m in finished] == [("foreign", "1")]


def test_announcement_carries_ping_nodes_lost():
    """hbd_plost: how many of its own ping nodes the sender lost (issue 11)."""
    from hbd.core.announce import Announcement, read_announcement
    ann = Announcement(holds=(), standby=frozenset(), claims=frozenset(), failed=(),
                       pings=1, plost=2)
    assert ("hbd_plost", "2") in ann.fields()
    msg = Message.of(("t", "status"), *ann.fields())
    assert read_announcement(msg) == ann
    older = Message.of(("t", "status"), *[f for f in ann.fields() if f[0] != "hbd_plost"])
    assert read_announcement(older).plost is None

"""The receive path's admission (hbd/transport/admission.py), driven with an explicit clock."""

from __future__ import annotations

from hbd.config.model import AuthKeys
from hbd.transport.admission import (
    LinkGate,
    Policy,
    SourceRule,
    TokenBucket,
    Verdict,
    Window,
)
from hbd.transport.ifaddrs import ip_to_int
from hbd.wire import Message, encode
from hbd.wire.preauth import screen

KEY = AuthKeys.single("sha1", "right")
WRONG = AuthKeys.single("sha1", "wrong")
NET = (ip_to_int("10.160.100.0"), 0xFFFFFF00)
ME, PEER, OTHER, STRANGER = (ip_to_int(f"10.160.100.{n}") for n in (30, 31, 32, 66))
OUTSIDE = ip_to_int("10.9.9.9")


def gate(**policy: float) -> LinkGate:
    return LinkGate("eth2", SourceRule(frozenset({ME}), networks=(NET,)), Policy(**policy))


def status(seq: int, src: str = "node1", hg: str = "6b06eaf6") -> bytes:
    return encode(Message.of(("t", "status"), ("src", src), ("seq", f"{seq:x}"), ("hg", hg)), KEY)


def offer(g: LinkGate, data: bytes, ip: int, now: float = 0.0) -> Verdict:
    verdict = g.check_source(ip, len(data), now)
    return verdict if verdict is not None else g.check_screened(screen(data, KEY), data, ip, now)


def test_own_and_foreign_sources_are_dropped_unread() -> None:
    g = gate()
    assert g.check_source(ME, 100, 0.0) is Verdict.OWN
    assert g.check_source(OUTSIDE, 100, 0.0) is Verdict.FOREIGN
    assert g.check_source(None, 100, 0.0) is Verdict.FOREIGN
    ucast = LinkGate("eth2", SourceRule(frozenset({ME}), peers=frozenset({PEER})))
    assert ucast.check_source(PEER, 100, 0.0) is None
    assert ucast.check_source(OTHER, 100, 0.0) is Verdict.FOREIGN


def test_routed_mcast_accepts_any_source_but_own() -> None:
    g = LinkGate("eth2", SourceRule(frozenset({ME})))
    assert g.check_source(OUTSIDE, 100, 0.0) is None and g.check_source(ME, 1, 0.0) is Verdict.OWN


def test_foreign_source_rereads_addresses_at_most_every_refresh_interval() -> None:
    reads = []

    def refresh() -> SourceRule:
        reads.append(1)
        return SourceRule(frozenset({ME}), networks=(NET, (ip_to_int("10.9.9.0"), 0xFFFFFF00)))

    g = LinkGate("eth2", SourceRule(frozenset({ME}), networks=(NET,)), refresh=refresh)
    assert g.check_source(ip_to_int("10.8.0.1"), 10, 0.0) is Verdict.FOREIGN
    assert g.check_source(ip_to_int("10.8.0.1"), 10, 1.0) is Verdict.FOREIGN
    assert len(reads) == 1
    assert g.check_source(OUTSIDE, 10, 2.0) is None          # the new network is known now


def test_unknown_sources_share_a_bucket_and_each_has_its_own() -> None:
    g = gate(source_rate=1, source_burst=3, unknown_rate=1, unknown_burst=5)
    verdicts = [g.check_source(STRANGER, 100, 0.0) for _ in range(5)]
    assert verdicts == [None, None, None, Verdict.UNKNOWN_RATE, Verdict.UNKNOWN_RATE]
    assert g.check_source(PEER, 100, 0.0) is None            # a second address still gets in
    assert g.check_source(OTHER, 100, 0.0) is None
    assert g.check_source(ip_to_int("10.160.100.33"), 100, 0.0) is Verdict.UNKNOWN_RATE   # shared: 5
    assert g.check_source(STRANGER, 100, 1.0) is None        # refilled after a second


def test_unknown_source_large_datagram_is_dropped_unread() -> None:
    assert gate().check_source(STRANGER, 5000, 0.0) is Verdict.UNKNOWN_LARGE


def test_a_source_becomes_known_only_by_a_fresh_authenticated_datagram() -> None:
    g = gate(source_rate=0.001, source_burst=2)
    assert offer(g, encode(Message.of(t="status"), WRONG), PEER) is Verdict.UNAUTHENTICATED
    assert offer(g, status(1), PEER) is Verdict.ADMITTED
    for seq in range(2, 200):                         # known now: no bucket applies
        assert offer(g, status(seq), PEER) is Verdict.ADMITTED
    assert g.check_source(STRANGER, 100, 0.0) is None
    assert offer(g, status(1), STRANGER) is Verdict.DUPLICATE   # a replay teaches nothing
    assert g.check_source(STRANGER, 100, 0.0) is Verdict.UNKNOWN_RATE


def test_known_sources_large_datagrams_share_a_byte_bucket() -> None:
    g = gate(large_rate=10_000, large_burst=20_000)
    assert offer(g, status(1), PEER) is Verdict.ADMITTED
    assert [g.check_source(PEER, 8000, 0.0) for _ in range(3)] == [None, None, Verdict.LARGE_RATE]
    assert g.check_source(PEER, 300, 0.0) is None             # small ones are never limited


def test_replay_window_drops_repeats_and_passes_gap_fills() -> None:
    g = gate(stale_rate=0.001, stale_burst=2)
    assert [offer(g, status(s), PEER) for s in (5, 7, 7, 6, 6, 5)] == [
        Verdict.ADMITTED, Verdict.ADMITTED, Verdict.DUPLICATE, Verdict.ADMITTED,
        Verdict.DUPLICATE, Verdict.DUPLICATE]
    # a new generation is fresh; the old one is stale, and stale costs the sender's bucket
    assert offer(g, status(1, hg="6b06eaf7"), PEER) is Verdict.ADMITTED
    assert [offer(g, status(s), PEER) for s in (8, 9, 10)] == [
        Verdict.ADMITTED, Verdict.ADMITTED, Verdict.STALE_RATE]


def test_messages_without_seq_are_deduplicated_and_rate_limited() -> None:
    g = gate(stale_rate=0.001, stale_burst=2)
    acks = [encode(Message.of(("t", "NS_ackmsg"), ("src", "node1"), ("ackseq", f"{n:x}")), KEY)
            for n in range(4)]
    assert offer(g, acks[0], PEER) is Verdict.ADMITTED
    assert offer(g, acks[0], PEER) is Verdict.DUPLICATE
    assert [offer(g, a, PEER) for a in acks[1:]] == [Verdict.ADMITTED, Verdict.STALE_RATE,
                                                      Verdict.STALE_RATE]


def test_senders_have_separate_windows() -> None:
    g = gate()
    assert offer(g, status(9, src="node1"), PEER) is Verdict.ADMITTED
    assert offer(g, status(9, src="node2"), OTHER) is Verdict.ADMITTED


def test_window_shifts_and_forgets_beyond_its_size() -> None:
    w = Window(1, 10)
    assert w.see(1, 20, 8) is True and w.see(1, 13, 8) is True and w.see(1, 13, 8) is False
    assert w.see(1, 12, 8) is None                 # 8 behind the top of 20: outside
    assert w.see(0, 50, 8) is None and w.see(2, 1, 8) is True and w.top == 1


def test_token_bucket_refills_at_its_rate() -> None:
    b = TokenBucket(rate=2.0, burst=2.0, now=0.0)
    assert [b.take(0.0) for _ in range(3)] == [True, True, False]
    assert b.take(0.5) and not b.take(0.5)
    assert b.take(10.0) and b.take(10.0) and not b.take(10.0)       # never above the burst


def test_tables_are_bounded() -> None:
    g = gate(max_unknown=4, max_senders=4, max_known=4, recent=4)
    for n in range(1, 250):
        g.check_source((NET[0] | n), 100, float(n))
    assert len(g.unknown) == 4
    for n in range(50):
        offer(g, status(1, src=f"node{n}"), PEER, float(n))
    assert len(g.windows) == 4 and len(g.known) <= 4


def test_exact_repeat_of_an_authenticated_datagram_is_dropped_before_authentication() -> None:
    g = gate(source_rate=0.001, source_burst=1)
    data = status(1)
    assert offer(g, data, PEER) is Verdict.ADMITTED
    assert g.check_source(PEER, len(data), 0.0, hash(data)) is Verdict.DUPLICATE
    assert g.check_source(STRANGER, len(data), 0.0, hash(data)) is Verdict.DUPLICATE  # no token
    forged = encode(Message.of(t="status"), WRONG)
    assert offer(g, forged, PEER) is Verdict.UNAUTHENTICATED
    assert g.check_source(PEER, len(forged), 0.0, hash(forged)) is None  # never remembered


def test_old_claims_are_dropped_unread_once_the_senders_stale_bucket_is_empty() -> None:
    g = gate(stale_rate=0.001, stale_burst=2, window=16)
    assert offer(g, status(100), PEER) is Verdict.ADMITTED
    old = [status(s) for s in (1, 2, 3, 4)]
    assert not g.claims_stale(PEER, old[0], 0.0)       # the bucket still has tokens
    assert [offer(g, d, PEER) for d in old[:3]] == [Verdict.ADMITTED, Verdict.ADMITTED,
                                                     Verdict.STALE_RATE]
    assert g.claims_stale(PEER, old[3], 0.0)            # empty bucket: dropped unread
    forged = encode(Message.of(("t", "status"), ("src", "node1"), ("seq", "1")), WRONG)
    assert g.claims_stale(PEER, forged, 0.0)             # a claim is enough, true or not
    assert not g.claims_stale(PEER, status(90), 0.0)     # inside the window
    assert not g.claims_stale(PEER, status(101), 0.0)    # fresh claims are authenticated
    assert not g.claims_stale(STRANGER, old[3], 0.0)     # no sender known at that address
    assert offer(g, status(5, hg="6b06eaf7"), PEER) is Verdict.ADMITTED  # a new generation


def test_claimed_reads_unauthenticated_headers() -> None:
    from hbd.wire.preauth import claimed
    assert claimed(status(0x1f)) == (None, 0x6b06eaf6, 0x1f)
    classic = encode(Message.of(("t", "status"), ("seq", "a"), ("hg", "2")), KEY, fmt="classic")
    assert claimed(classic) == (None, 2, 10)
    assert claimed(encode(Message.of(t="NS_ackmsg"), KEY)) is None
    assert claimed(b"garbage") is None and claimed(b"###\n12:(0)seq=zz,") is None


def test_sealed_replays_are_judged_by_session_and_counter() -> None:
    from hbd.config.model import AuthMethod
    from hbd.config.model import AuthKey
    from hbd.wire import seal
    keys = AuthKeys(1, (AuthKey(1, AuthMethod.CHACHA20POLY1305, b"k"),))  # type: ignore[arg-type]
    sender = seal.SessionKeys.of(keys, seal.Sealer(bytes(16)))
    sent = [encode(Message.of(("t", "NS_ackmsg"), ("src", "node1")), sender) for _ in range(40)]
    g = gate(stale_rate=0.001, stale_burst=1, window=16)

    def sealed_offer(data: bytes) -> Verdict:
        verdict = g.check_source(PEER, len(data), 0.0, hash(data))
        if verdict is None and g.claims_stale(PEER, data, 0.0):
            return Verdict.STALE_CLAIM
        return verdict or g.check_screened(screen(data, keys), data, PEER, 0.0)

    assert sealed_offer(sent[39]) is Verdict.ADMITTED            # counter 40: fresh, no seq needed
    assert sealed_offer(sent[30]) is Verdict.ADMITTED            # a gap inside the window
    assert sealed_offer(sent[0]) is Verdict.ADMITTED             # below it: the bucket's one token
    assert sealed_offer(sent[1]) is Verdict.STALE_CLAIM          # then dropped unread

"""Media and Pinger over loopback: delivery, own-address skipping, the bounded
receive path, open errors, send errors and their rate-limited log.

Two "nodes" share one port on `lo` through the test-only `bind_address`
hook (127.0.0.1 and 127.0.0.2). Traffic stays on 127.0.0.0/8. The Pinger
tests need a raw socket (root) and ping 127.0.0.1 only.
"""

from __future__ import annotations

import os
import socket
import struct

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from hbd.config.model import AuthKeys, Bcast, Mcast, Ucast
from hbd.transport import media as media_mod
from hbd.transport.admission import Policy
from hbd.transport.media import LogLimiter, Media, MediaError
from hbd.transport.ping import Pinger, checksum, echo_request, parse_echo_reply
from hbd.wire import Message, encode
from hbd.wire.preauth import screen
from tests.waiting import until

A, B = "127.0.0.1", "127.0.0.2"
LINES = (Ucast("lo", A), Ucast("lo", B))          # one ha.cf for both nodes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((A, 0))
        return probe.getsockname()[1]





class Node:
    """A Media on one loopback address, recording what it receives."""

    def __init__(self, address: str, port: int, **kwargs) -> None:
        self.got: list[tuple[bytes, str, tuple[str, int]]] = []
        self.media = Media(LINES, port=port, bind_address=address,
                           on_datagram=lambda *d: self.got.append(d), **kwargs)

    def flood(self, port: int, payloads: list[bytes], source: str = A) -> None:
        """Put datagrams in this node's socket buffer without yielding to the loop."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.bind((source, 0))
            for payload in payloads:
                sender.sendto(payload, (B, port))


@pytest.fixture
async def pair():
    port = free_port()
    a, b = Node(A, port), Node(B, port)
    await a.media.open()
    await b.media.open()
    yield a, b, port
    await a.media.close()
    await b.media.close()


async def test_ucast_delivers_raw_datagram_with_medium_and_source(pair):
    a, b, port = pair
    a.media.send(b"hello from a")
    b.media.send(b"hello from b")
    await until(lambda: a.got and b.got)
    assert b.got == [(b"hello from a", "lo", (A, port))]
    assert a.got == [(b"hello from b", "lo", (B, port))]


async def test_ucast_never_sends_to_own_address(pair):
    a, b, _ = pair
    a.media.send(b"x")
    a.media.send(b"y")
    await until(lambda: len(b.got) == 2)
    counts = a.media.counters()
    assert counts[f"sent[ucast lo {B}]"] == 2
    assert counts[f"sent[ucast lo {A}]"] == 0
    assert counts[f"skipped_own[ucast lo {A}]"] == 2
    assert counts["sent"] == 2 and counts["send_errors"] == 0
    assert a.got == []


async def test_oversize_datagram_dropped_and_counted():
    port = free_port()
    b = Node(B, port, max_datagram=100)
    await b.media.open()
    try:
        b.flood(port, [b"x" * 101, b"y" * 100, b"z" * 3000, b"ok"])
        await until(lambda: b.media.counters()["received"] == 4)
        await until(lambda: len(b.got) == 2)
        assert [d[0] for d in b.got] == [b"y" * 100, b"ok"]
        assert b.media.counters()["dropped_oversize"] == 2
    finally:
        await b.media.close()


async def test_queue_overflow_dropped_and_counted():
    port = free_port()
    b = Node(B, port, queue_limit=5)
    await b.media.open()
    try:
        b.flood(port, [b"%d" % i for i in range(40)])   # all wait in the kernel
        await until(lambda: b.media.counters()["received"] == 40)
        await until(lambda: b.media.counters()["queued"] == 0)
        counts = b.media.counters()
        assert [d[0] for d in b.got] == [b"0", b"1", b"2", b"3", b"4"]
        assert counts["delivered"] == 5 and counts["dropped_queue_full"] == 35
    finally:
        await b.media.close()


@pytest.mark.parametrize("medium, message", [
    (Bcast("hbdnosuch0"), "bcast hbdnosuch0: no such interface"),
    (Ucast("hbdnosuch0", B), f"ucast hbdnosuch0 {B}: no such interface"),
    (Mcast("hbdnosuch0", "225.0.0.1", 694, 1, False),
     "mcast hbdnosuch0 225.0.0.1 694 1 0: no such interface"),
    (Ucast("lo", "10.0.0.300"), "ucast lo 10.0.0.300: peer 10.0.0.300 is not an IPv4 address"),
])
async def test_open_error_names_medium_and_cause(medium, message):
    media = Media([medium], port=free_port(), on_datagram=lambda *d: None)
    with pytest.raises(MediaError) as caught:
        await media.open()
    assert str(caught.value) == message


async def test_failed_open_closes_what_was_opened():
    port = free_port()
    media = Media([Ucast("lo", B), Bcast("hbdnosuch0")], port=port,
                  bind_address=A, on_datagram=lambda *d: None)
    with pytest.raises(MediaError):
        await media.open()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as plain:
        plain.bind((A, port))          # no SO_REUSEADDR: fails if a socket is left
    media.send(b"nothing is open")
    assert media.counters()["sent"] == 0


async def test_send_failure_counted_logged_once_never_raised(pair):
    a, _, _ = pair
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            a.media.send(b"x" * 70000)            # EMSGSIZE: longer than UDP allows
    assert a.media.counters()["send_errors"] == 3
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["medium"] == f"ucast lo {B}"
    assert warnings[0]["cause"] == "message too long"


async def test_send_after_close_is_silent(pair):
    a, _, _ = pair
    await a.media.close()
    a.media.send(b"late")
    await a.media.close()                          # twice is fine
    assert a.media.counters()["sent"] == 0


def test_log_limiter_one_line_per_period_with_suppressed_count():
    now = [100.0]
    with structlog.testing.capture_logs() as logs:
        limiter = LogLimiter(structlog.get_logger("t"), period=10.0, clock=lambda: now[0])
        results = [limiter.log("warning", "send failed", medium="bcast eth2", cause="c")
                   for _ in range(4)]
        limiter.log("warning", "send failed", medium="bcast eth3", cause="c")
        now[0] += 10.0
        limiter.log("warning", "send failed", medium="bcast eth2", cause="c")
    assert results == [True, False, False, False]
    assert [(e["medium"], e["suppressed"]) for e in logs] == [
        ("bcast eth2", 0), ("bcast eth3", 0), ("bcast eth2", 3)]


def test_medium_label_is_the_hacf_line():
    assert media_mod.medium_label(Mcast("eth2", "225.0.0.1", 694, 1, True)) == \
        "mcast eth2 225.0.0.1 694 1 1"


# --- admission: what reaches the queue when the media screen datagrams ----------------

KEY = AuthKeys.single("sha1", "lab-key")


def signed(seq: int, src: str = "a") -> bytes:
    return encode(Message.of(("t", "status"), ("src", src), ("seq", f"{seq:x}"), ("hg", "1")), KEY)


async def screened_b(port: int, **kwargs) -> Node:
    node = Node(B, port, screen=lambda data: screen(data, KEY), **kwargs)
    await node.media.open()
    return node


async def test_unauthenticated_flood_never_takes_a_queue_place():
    port = free_port()
    b = await screened_b(port, queue_limit=5)
    try:
        b.flood(port, [signed(1)])
        await until(lambda: len(b.got) == 1)                 # a is known on lo from now on
        forged = encode(Message.of(("t", "status"), ("src", "a"), ("seq", "2")),
                        AuthKeys.single("sha1", "guess"))
        b.flood(port, [forged] * 300 + [b"###\n" + b"9" * 900] * 100 + [signed(2)])
        await until(lambda: b.media.counters()["received"] == 402)
        await until(lambda: len(b.got) == 2)
        counts = b.media.counters()
        assert [d[0] for d in b.got] == [signed(1), signed(2)]
        assert counts["dropped_unauthenticated"] == 400 and counts["dropped_queue_full"] == 0
    finally:
        await b.media.close()


async def test_replayed_datagrams_are_dropped_before_the_queue():
    port = free_port()
    b = await screened_b(port)
    try:
        b.flood(port, [signed(1), signed(2)] + [signed(1)] * 50 + [signed(3)])
        await until(lambda: b.media.counters()["received"] == 53)
        await until(lambda: len(b.got) == 3)
        assert [d[0] for d in b.got] == [signed(1), signed(2), signed(3)]
        assert b.media.counters()["dropped_duplicate"] == 50
    finally:
        await b.media.close()


async def test_ucast_socket_hears_only_configured_peers_and_never_itself():
    port = free_port()
    b = await screened_b(port)
    try:
        b.flood(port, [signed(1)], source="127.0.0.3")         # not in any ucast line
        b.flood(port, [signed(2)], source=B)                   # our own address
        b.flood(port, [signed(3)], source=A)
        await until(lambda: b.media.counters()["received"] == 3)
        await until(lambda: len(b.got) == 1)
        counts = b.media.counters()
        assert b.got[0][0] == signed(3)
        assert counts["dropped_foreign_source"] == 1 and counts["dropped_own"] == 1
    finally:
        await b.media.close()


async def test_unknown_source_is_limited_until_it_authenticates():
    port = free_port()
    policy = Policy(source_rate=0.01, source_burst=3)
    b = await screened_b(port, admission=policy)
    try:
        b.flood(port, [b"junk"] * 10)
        await until(lambda: b.media.counters()["received"] == 10)
        counts = b.media.counters()
        assert counts["dropped_unauthenticated"] == 3 and counts["dropped_unknown_rate"] == 7
        assert b.got == []
    finally:
        await b.media.close()


# --- ping ------------------------------------------------------------------------

def _ipv4(payload: bytes, src: str = A) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, 1, 0,
                         socket.inet_aton(src), socket.inet_aton(A))
    return header + payload


def test_parse_echo_reply_accepts_only_valid_replies():
    request = echo_request(0x1234, 7)
    reply = bytes([0, 0, 0, 0]) + request[4:]
    reply = reply[:2] + struct.pack("!H", checksum(reply)) + reply[4:]
    assert parse_echo_reply(_ipv4(reply)) == (0x1234, 7)
    assert parse_echo_reply(_ipv4(request)) is None              # someone's request
    assert parse_echo_reply(_ipv4(reply[:-1] + b"X")) is None    # corrupt
    assert parse_echo_reply(_ipv4(reply)[:25]) is None           # truncated
    assert parse_echo_reply(b"") is None


@given(st.binary(max_size=100))
def test_parse_echo_reply_never_raises(packet):
    parse_echo_reply(packet)
    parse_echo_reply(_ipv4(packet))


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root")


@needs_root
async def test_pinger_counts_own_replies_and_ignores_others():
    first, second = [], []
    pingers = [Pinger([A], interval=0.05, on_reply=first.append, ident=0x4801),
               Pinger([A], interval=0.05, on_reply=second.append, ident=0x4802)]
    for pinger in pingers:
        await pinger.open()
    try:
        await until(lambda: len(first) >= 3 and len(second) >= 3)
    finally:
        for pinger in pingers:
            await pinger.close()
    assert set(first) == set(second) == {A}
    counts = pingers[0].counters()
    assert counts["replies"] == len(first) and counts[f"replies[{A}]"] == len(first)
    assert counts["ignored"] >= 1                 # it saw the other pinger's replies


async def test_pinger_rejects_bad_address():
    with pytest.raises(MediaError, match="ping not-an-ip: not an IPv4 address"):
        await Pinger(["not-an-ip"], interval=1.0, on_reply=print).open()

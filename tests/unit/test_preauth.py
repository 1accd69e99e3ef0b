"""Authentication before framing (hbd/wire/preauth.py) and the bounded field readers.

The pre-authentication path must accept exactly what the full decode accepts
(so the byte-for-byte vectors keep their verdicts), and must do no per-field
work for a datagram that does not authenticate.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hbd.config.model import AuthKeys
from hbd.wire import (
    Accepted,
    Limits,
    Message,
    Rejected,
    RejectReason,
    classic,
    decode,
    encode,
)
from hbd.wire.auth import digest, format_token
from hbd.wire.errors import WireError
from hbd.wire.fields import RANGES, bounded_dec, bounded_hex, bounded_words, read
from hbd.wire.limits import Budget
from hbd.wire.netstring import netstring
from hbd.wire.preauth import Encoding, Screened, locate, screen
from tests.unit.test_wire_vectors import VECTORS

KEY = AuthKeys.single("sha1", "right")
WRONG = AuthKeys.single("sha1", "wrong")
CRC = AuthKeys.single("crc")


def status(seq: str = "4", **extra: str) -> Message:
    return Message.of(("t", "status"), ("st", "up"), ("dt", "3e8"), ("protocol", "1"),
                      ("src", "node0"), ("srcuuid", b"0123456789abcdef"), ("seq", seq),
                      ("hg", "6b06eaf6"), ("ts", "6b06eb40"), ("ttl", "3"), **extra)


def many_fields(n: int) -> Message:
    return Message.of(*[(f"f{i}", "x") for i in range(n)])


# --- same verdicts as decode -------------------------------------------------------------

def test_screen_agrees_with_decode_on_every_vector() -> None:
    """What decode accepts, screen passes; what screen refuses, decode refuses for the
    same reason (decode may still refuse, after authentication, what screen passed)."""
    for vector in VECTORS:
        screened = screen(vector.data, vector.authkeys)
        decoded = decode(vector.data, vector.authkeys)
        if isinstance(decoded, Accepted):
            assert isinstance(screened, Screened), vector.id
        if isinstance(screened, Rejected):
            assert isinstance(decoded, Rejected) and decoded.reason is screened.reason, vector.id


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 400), st.sampled_from(["netstring", "classic"]))
def test_screen_never_refuses_what_decode_accepts(noise: bytes, at: int, fmt: str) -> None:
    data = bytearray(encode(status(), CRC, fmt=fmt))
    position = min(at, len(data))
    data[position:position + len(noise) // 4] = noise[: len(noise) // 4]
    decoded = decode(bytes(data), CRC)
    screened = screen(bytes(data), CRC)
    if isinstance(decoded, Accepted):
        assert isinstance(screened, Screened)
    if isinstance(screened, Rejected):
        assert isinstance(decoded, Rejected)


line_breaks = st.sampled_from([b"\n", b"\r\n", b"\n\n", b"\r", b"\r\r\n\n"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"[a-z()0-9]{1,6}", fullmatch=True),
                          st.from_regex(r"[ -~]{0,12}", fullmatch=True)), max_size=12),
       st.lists(line_breaks, min_size=14, max_size=14), st.booleans(), st.integers(0, 12))
def test_classic_covered_text_is_the_codecs(pairs, breaks, with_auth, auth_at) -> None:
    lines = [f"{name}={value}".encode() for name, value in pairs]
    if with_auth:
        lines.insert(min(auth_at, len(lines)), b"auth=1 abc")
    data = b">>>\n" + breaks[0] + b"".join(
        line + brk for line, brk in zip(lines, breaks[1:], strict=False)) + b"<<<\n"
    located = locate(data)
    try:
        split, end = classic.split(data, Budget(Limits()))
    except WireError:
        return                                     # the codec refuses it after authentication
    assert end == located.end
    assert located.covered == classic.auth_text(split)
    token = next((ln.raw for ln in split if ln.name == b"auth" and ln.type.value == 0), None)
    assert located.token == (None if token is None else token.decode())


# --- no per-field work before authentication ----------------------------------------------

def test_wrong_key_is_refused_before_any_field_is_walked() -> None:
    data = encode(many_fields(300), WRONG)
    assert decode(data, KEY, limits=Limits(max_fields=10)).reason is RejectReason.AUTH_FAILED
    assert decode(encode(many_fields(300), KEY), KEY,
                  limits=Limits(max_fields=10)).reason is RejectReason.TOO_MANY_FIELDS


def test_classic_line_cap_before_authentication() -> None:
    data = encode(many_fields(300), KEY, fmt="classic")
    result = decode(data, KEY, limits=Limits(preauth_lines=256))
    assert isinstance(result, Rejected) and result.reason is RejectReason.TOO_MANY_FIELDS
    assert "before authentication" in result.detail
    assert isinstance(decode(data, KEY, limits=Limits(preauth_lines=400)), Accepted)
    crlf = b">>>\n" + b"\r\n" * 600 + b"auth=1 0\n<<<\n"
    assert decode(crlf, KEY).reason is RejectReason.TOO_MANY_FIELDS


def test_trailer_is_found_only_at_the_end() -> None:
    body = encode(status(), KEY)
    assert decode(body + b"x", KEY).reason is RejectReason.MALFORMED
    assert decode(body[:-1], KEY).reason in (RejectReason.MALFORMED, RejectReason.TRUNCATED)
    far = body.replace(b"%%%\n", b"%%%\n" + b"1" * 200, 1)
    assert isinstance(decode(far, KEY), Rejected)
    assert decode(b"###\n%%%\n", KEY).reason is RejectReason.NO_AUTH
    assert decode(b"###\n%%%\n999:1 00,", KEY).reason is RejectReason.MALFORMED


def test_framing_must_end_where_the_trailer_starts() -> None:
    """A body whose items, walked by length, end elsewhere is refused after authentication."""
    body = b"###\n%%%\n" + netstring(b"(0)t=xyz") + b"%%%\n"
    signed = body + netstring(format_token(1, digest("crc", b"", body)).encode())
    assert decode(signed, CRC).reason is RejectReason.MALFORMED


# --- what screen reads --------------------------------------------------------------------

def test_screen_reads_the_replay_header() -> None:
    for fmt in ("netstring", "classic"):
        found = screen(encode(status(seq="1a"), KEY, fmt=fmt), KEY)
        assert isinstance(found, Screened)
        assert (found.encoding, found.type, found.source, found.generation, found.seq) == (
            Encoding(fmt), "status", "node0", 0x6b06eaf6, 0x1a)
    nack = Message.of(("t", "NS_ackmsg"), ("dest", "node1"), ("ackseq", "7"), ("src", "node0"))
    found = screen(encode(nack, KEY), KEY)
    assert isinstance(found, Screened) and found.seq is None and found.type == "NS_ackmsg"


def test_screen_refuses_without_raising() -> None:
    assert screen(encode(status(), WRONG), KEY).reason is RejectReason.AUTH_FAILED
    assert screen(b"", KEY).reason is RejectReason.BAD_MAGIC
    assert screen(b"x" * 300_000, KEY).reason is RejectReason.TOO_LARGE


# --- bounded numbers ----------------------------------------------------------------------

def test_bounded_hex_and_dec_read_only_what_heartbeat_writes() -> None:
    assert bounded_hex("1f40", 8) == 8000 and bounded_hex("1F40", 8) == 8000
    for bad in ("", "²", "٣", "-1", " 1", "1_0", "0x10", "g", "1" * 9, None):
        assert bounded_hex(bad, 8) is None, bad
    assert bounded_dec("12", 3) == 12
    for bad in ("", "²", "1e3", "+1", "1234", "١"):
        assert bounded_dec(bad, 3) is None, bad


def test_header_ranges_are_heartbeats() -> None:
    msg = Message.of(dt="ffffffffffff", hg="7fffffff", seq="0", ttl="3", hbd_ping="5" * 5000)
    assert read(msg, "dt") is None                 # 2.8e11 s: not a dead time 3.0.6 can send
    assert read(msg, "hg") == 0x7fffffff           # representable: the core decides plausibility
    assert read(msg, "seq") is None                # seq starts at 1
    assert read(msg, "ttl") == 3
    assert read(msg, "hbd_ping") is None
    assert read(Message.of(dt="1f40"), "dt") == 8000
    assert RANGES["firstseq"].base == 10 and RANGES["ackseq"].base == 16


def test_bounded_words() -> None:
    assert bounded_words("node0 node1 ", max_words=3, max_length=8) == ("node0", "node1")
    assert bounded_words("a " * 10, max_words=3, max_length=8) is None
    assert bounded_words("x" * 9, max_words=3, max_length=8) is None
    assert bounded_words(None, max_words=3, max_length=8) is None

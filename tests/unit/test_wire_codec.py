"""The codec: framing, 3.0.6 authentication semantics, caps, nested values, encode rules."""

from __future__ import annotations


import pytest

from hbd.config.model import AuthKey, AuthKeys, AuthMethod
from hbd.wire import (Accepted, EncodeError, Encoding, Field, FieldType, Limits, Message,
                      RejectReason, Rejected, decode, encode, inspect)
from hbd.wire.auth import classic_text, digest, format_token
from hbd.wire.netstring import netstring, serialize

UUID = bytes.fromhex("64541cabb3154c2baa0cbc041883541c")
CRC = AuthKeys.single("crc")
SHA1 = AuthKeys.single("sha1", "hbA-sha1-key-1")
# spec §4.5: auth 1 / 1 sha1 keyA / 2 md5 keyB
MULTI = AuthKeys(sign_index=1, keys=(AuthKey(1, AuthMethod.SHA1, b"keyA"),
                                     AuthKey(2, AuthMethod.MD5, b"keyB")))


def status(**extra: str) -> Message:
    return Message.of(("t", "status"), ("st", "up"), ("dt", "1f40"), ("protocol", "1"),
                      ("src", "node0"), ("srcuuid", UUID), ("seq", "4"), ("hg", "6b06eaf6"),
                      ("ts", "6b06eb40"), ("ld", "0.00 0.04 0.00 1/98 11722"), ("ttl", "3"), **extra)


def reason(result: Accepted | Rejected) -> RejectReason | None:
    return result.reason if isinstance(result, Rejected) else None


def with_trailer(body: bytes, token: str) -> bytes:
    return body + netstring(token.encode())


# --- what we send -------------------------------------------------------------------

def test_encode_status_matches_spec_example() -> None:
    data = encode(status(), CRC)
    assert data == open_vector("status-crc-1.bin")
    assert data.endswith(b"18:(0)auth=1 ccd0d9e9,%%%\n10:1 43ab7612,")


def test_encode_appends_auth_last_and_no_nul() -> None:
    data = encode(status(), SHA1)
    result = decode(data, SHA1)
    assert isinstance(result, Accepted)
    assert result.wire.names()[-1] == "auth"
    assert result.message.without("auth") == status()
    assert not data.endswith(b"\0")


def test_encode_replaces_existing_auth_in_place() -> None:
    msg = Message.of(("t", "x"), ("auth", "stale"), ("z", "1"))
    result = decode(encode(msg, CRC), CRC)
    assert isinstance(result, Accepted)
    assert result.wire.names() == ["t", "auth", "z"]
    assert result.wire.get("auth") != "stale"


def test_encode_without_inner_auth_like_msgfmt_netstring() -> None:
    data = encode(status(), SHA1, inner_auth=False)
    result = decode(data, SHA1)
    assert isinstance(result, Accepted) and "auth" not in result.message


def test_encode_classic_round_trip_with_nul() -> None:
    data = encode(status(), SHA1, fmt="classic", nul=True)
    assert data.startswith(b">>>\n") and data.endswith(b"<<<\n\0")
    assert b"(1)srcuuid=ZFQcq7MVTCuqDLwEGINUHA==\n" in data
    result = decode(data, SHA1)
    assert isinstance(result, Accepted) and result.encoding is Encoding.CLASSIC and result.nul


@pytest.mark.parametrize("bad", [
    Message((Field("a=b", "x"),)), Message((Field("", "x"),)), Message((Field("n", "a\0b"),)),
    Message((Field("n", ()),)), Message((Field("n", ("",), FieldType.LIST),)),
    Message((Field("n", "not bytes", FieldType.BINARY),)),
])
def test_encode_refuses_what_heartbeat_cannot_carry(bad: Message) -> None:
    with pytest.raises(EncodeError):
        encode(bad, CRC, inner_auth=False)


def test_encode_refuses_classic_only_problems() -> None:
    with pytest.raises(EncodeError):
        encode(Message.of(t="a\x13b"), CRC)          # 0x13 is classic's newline
    with pytest.raises(EncodeError):
        encode(Message.of(t="a\rb"), CRC, fmt="classic")
    assert isinstance(decode(encode(Message.of(t="a\x13b"), CRC, inner_auth=False), CRC), Accepted)


# --- 3.0.6 receiver authentication (spec §4.5) -----------------------------------------

def test_netstring_trailer_uses_index_method_with_own_outbound_key() -> None:
    body = serialize(Message.of(t="status", src="node1"))
    with_key_b = with_trailer(body, format_token(2, digest(AuthMethod.MD5, b"keyB", body)))
    with_key_a = with_trailer(body, format_token(2, digest(AuthMethod.MD5, b"keyA", body)))
    assert reason(decode(with_key_b, MULTI)) is RejectReason.AUTH_FAILED
    result = decode(with_key_a, MULTI)
    assert isinstance(result, Accepted) and result.authnum == 2


def test_classic_auth_uses_key_of_its_own_index() -> None:
    msg = Message.of(t="status", src="node1")
    text = classic_text(msg)
    good = msg.with_field("auth", format_token(2, digest(AuthMethod.MD5, b"keyB", text)))
    from hbd.wire.classic import serialize as classic_serialize
    result = decode(classic_serialize(good), MULTI)
    assert isinstance(result, Accepted) and result.authnum == 2


def test_netstring_inner_auth_is_ignored() -> None:
    body = serialize(status().with_field("auth", "1 00000000"))
    data = with_trailer(body, format_token(1, digest(AuthMethod.CRC, b"", body)))
    assert isinstance(decode(data, CRC), Accepted)


@pytest.mark.parametrize("token,expected", [
    ("3 abcdef", RejectReason.UNKNOWN_AUTH_INDEX),
    ("16 abcdef", RejectReason.BAD_AUTH_INDEX),
    ("1", RejectReason.BAD_AUTH),
    ("1 ABCDEF", RejectReason.BAD_AUTH),
    ("x 1", RejectReason.BAD_AUTH),
    ("1 abc def", RejectReason.BAD_AUTH),
    ("1 0", RejectReason.AUTH_FAILED),
])
def test_trailer_token_checks(token: str, expected: RejectReason) -> None:
    assert reason(decode(with_trailer(serialize(status()), token), CRC)) is expected


def test_netstring_without_trailer_is_rejected() -> None:
    assert reason(decode(serialize(status()), SHA1)) is RejectReason.NO_AUTH


def test_classic_without_auth_line_is_rejected() -> None:
    assert reason(decode(b">>>\nt=status\n<<<\n", SHA1)) is RejectReason.NO_AUTH


def test_wrong_key_is_rejected() -> None:
    other = AuthKeys.single("sha1", "another-key")
    assert reason(decode(encode(status(), other), SHA1)) is RejectReason.AUTH_FAILED
    assert reason(decode(encode(status(), other, fmt="classic"), SHA1)) is RejectReason.AUTH_FAILED


def test_crc_token_with_leading_zeros_is_accepted() -> None:
    body = serialize(status())
    token = digest(AuthMethod.CRC, b"", body)
    assert isinstance(decode(with_trailer(body, f"1 {token:0>9}"), CRC), Accepted)


def test_authentication_comes_before_interpretation() -> None:
    # values that cannot be interpreted, under a bad authenticator: the verdict is about auth
    bad_b64 = b">>>\n(1)srcuuid=!!!\nauth=1 0\n<<<\n"
    assert reason(decode(bad_b64, CRC)) is RejectReason.AUTH_FAILED
    bad_struct = b"###\n" + netstring(b"(2)s=junk") + b"%%%\n"
    assert reason(decode(with_trailer(bad_struct, "1 0"), CRC)) is RejectReason.AUTH_FAILED
    # and once authenticated, the same values are refused as malformed
    good = with_trailer(bad_struct, format_token(1, digest(AuthMethod.CRC, b"", bad_struct)))
    assert reason(decode(good, CRC)) is RejectReason.MALFORMED


# --- framing and grammar --------------------------------------------------------------------

def signed(body: bytes) -> bytes:
    return with_trailer(body, format_token(1, digest(AuthMethod.CRC, b"", body)))


@pytest.mark.parametrize("body,expected", [
    (b"###\n5:(0)t=x%%%\n", RejectReason.MALFORMED),             # missing ','
    (b"###\n05:(0)t=x,%%%\n", RejectReason.MALFORMED),           # leading zero
    (b"###\n5:t=xyz,%%%\n", RejectReason.MALFORMED),             # no (d) prefix
    (b"###\n7:(5)t=xyz,%%%\n", RejectReason.MALFORMED),          # internal type 5
    (b"###\n7:(9)t=xyz,%%%\n", RejectReason.MALFORMED),
    (b"###\n6:(0)tx=,%%%\n", None),                              # empty value is fine
    (b"###\n5:(0)=tx,%%%\n", RejectReason.MALFORMED),            # empty name
    (b"###\n6:(0)t=x\0,%%%\n", RejectReason.MALFORMED),          # NUL in a string
    (b"###\n9:(3)l=0:,,%%%\n", RejectReason.MALFORMED),          # empty list element
])
def test_netstring_grammar(body: bytes, expected: RejectReason | None) -> None:
    assert reason(decode(signed(body), CRC)) is expected


def test_truncated_datagrams_never_accepted() -> None:
    data = encode(status(), CRC)
    for cut in range(len(data)):
        result = decode(data[:cut], CRC)
        assert isinstance(result, Rejected) and result.reason is not RejectReason.INTERNAL


def test_bytes_after_trailer_are_refused() -> None:
    assert reason(decode(encode(status(), CRC) + b"\0", CRC)) is RejectReason.MALFORMED


def test_bad_magic() -> None:
    assert reason(decode(b"GET / HTTP/1.0\r\n", CRC)) is RejectReason.BAD_MAGIC
    assert reason(decode(b"", CRC)) is RejectReason.BAD_MAGIC


def test_classic_skips_crlf_runs_and_maps_0x13() -> None:
    msg = Message.of(t="x", info="a\nb")
    text = classic_text(msg)
    assert text == b"t=x\ninfo=a\x13b\n"
    token = format_token(1, digest(AuthMethod.CRC, b"", text))
    data = b">>>\n\r\nt=x\r\ninfo=a\x13b\n\nauth=" + token.encode() + b"\r\n<<<\n"
    result = decode(data, CRC)
    assert isinstance(result, Accepted) and result.message.get("info") == "a\nb"


@pytest.mark.parametrize("data", [
    b">>>\n(0)t=x\nauth=1 0\n<<<\n",            # explicit (0) is refused by 3.0.6
    b">>>\nt=x\nauth=1 0\n<<<\nmore",           # junk after the end marker
    b">>>\nt=x\nauth=1 0\n",                    # no end marker
    b">>>\nnoequals\n<<<\n",
])
def test_classic_grammar_rejections(data: bytes) -> None:
    result = decode(data, CRC)
    assert isinstance(result, Rejected) and result.reason is not RejectReason.INTERNAL


# --- values of every type, both encodings ---------------------------------------------------------

NASTY = b",:\n\x00%%%\n###\n>>>\n\r\x13\xff"


@pytest.mark.parametrize("fmt", ["netstring", "classic"])
def test_all_value_types_round_trip(fmt: str) -> None:
    inner = Message.of(("t", "inner"), ("blob", NASTY), ("l", ("a", "b c")),
                       ("deeper", Message.of(x="1", y=b"\0")))
    msg = Message.of(("t", "crm"), ("blob", NASTY), ("s", inner), ("l", ("x", "y,z", "1:2")),
                     ("nl", "two\nlines"))
    result = decode(encode(msg, SHA1, fmt=fmt), SHA1)
    assert isinstance(result, Accepted), result
    assert result.message.without("auth") == msg


def test_binary_value_holding_delimiters_is_parsed_by_length() -> None:
    msg = Message.of(("t", "x"), ("srcuuid", b"7:(0)a=b,%%%\n"), ("after", "ok"))
    result = decode(encode(msg, CRC), CRC)
    assert isinstance(result, Accepted) and result.message.get("after") == "ok"


# --- caps --------------------------------------------------------------------------------------

def test_oversized_datagram_rejected_first() -> None:
    assert reason(decode(b"###\n" + b"x" * (256 * 1024), CRC)) is RejectReason.TOO_LARGE
    small = Limits(max_datagram=100)
    assert reason(decode(encode(status(), CRC), CRC, limits=small)) is RejectReason.TOO_LARGE


def test_too_many_fields() -> None:
    body = b"###\n" + b"".join(netstring(b"(0)f%d=x" % i) for i in range(9000)) + b"%%%\n"
    assert reason(decode(signed(body), CRC)) is RejectReason.TOO_MANY_FIELDS
    assert reason(decode(signed(body), CRC, limits=Limits(max_fields=9000))) is None
    few = b"###\n" + b"".join(netstring(b"(0)f%d=x" % i) for i in range(300)) + b"%%%\n"
    assert reason(decode(signed(few), CRC, limits=Limits(max_fields=256))) is RejectReason.TOO_MANY_FIELDS


def test_huge_length_prefix_refused_without_work() -> None:
    """Framing runs after authentication: an authenticated absurd prefix is refused
    by its digit count; an unauthenticated one never reaches the framing at all."""
    assert reason(decode(signed(b"###\n" + b"9" * 5000 + b":(0)t=x,%%%\n"), CRC)) \
        is RejectReason.FIELD_TOO_LONG
    assert reason(decode(signed(b"###\n99999999999:(0)t=x,%%%\n"), CRC)) is RejectReason.FIELD_TOO_LONG
    assert reason(decode(signed(b"###\n9999999:(0)t=x,%%%\n"), CRC)) is RejectReason.FIELD_TOO_LONG
    unsigned = b"###\n" + b"9" * 5000 + b":(0)t=x,%%%\n10:1 00000000,"
    assert reason(decode(unsigned, CRC)) is RejectReason.AUTH_FAILED


def test_length_past_end_is_truncated() -> None:
    assert reason(decode(signed(b"###\n200:(0)t=x,%%%\n"), CRC)) is RejectReason.TRUNCATED


def test_long_name_refused() -> None:
    msg = Message.of(("n" * 300, "x"))
    assert reason(decode(encode(msg, CRC), CRC)) is RejectReason.NAME_TOO_LONG


def test_deep_nesting_refused() -> None:
    msg = Message.of(t="leaf")
    for _ in range(20):
        msg = Message.of(("s", msg))
    assert reason(decode(encode(msg, CRC, inner_auth=False), CRC)) is RejectReason.TOO_DEEP
    assert reason(decode(encode(msg, CRC, inner_auth=False), CRC, limits=Limits(max_depth=32))) is None


def test_inspect_needs_no_keys() -> None:
    seen = inspect(encode(status(), SHA1))
    assert not isinstance(seen, Rejected)
    assert seen.wire.get("src") == "node0" and seen.inner_auth is not None


def open_vector(name: str) -> bytes:
    from tests.unit.test_wire_vectors import SHARED_VECTORS
    return (SHARED_VECTORS / name).read_bytes()

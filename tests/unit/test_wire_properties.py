"""Properties: encode/decode round trips, and hostile bytes never escape decode() as exceptions."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from hbd.config.model import AuthKeys
from hbd.wire import (Accepted, CompressionPolicy, Encoding, Field, FieldType, Limits, Message,
                      RejectReason, Rejected, decode, encode)

KEYS = AuthKeys.single("md5", "hbA-md5-key-1")
CRC = AuthKeys.single("crc")
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.from_regex(r"[a-z_][a-z0-9_.-]{0,11}", fullmatch=True).filter(lambda n: n != "auth")
# strings heartbeat can carry in both encodings: no control bytes (NUL, CR, 0x13 is
# classic's newline, 0x0f-0x1f separate nested structs) except newline and tab
printable = st.characters(blacklist_categories=("Cs", "Cc"))
texts = st.text(st.one_of(printable, st.sampled_from("\n\t")), max_size=30)
elements = st.text(printable, min_size=1, max_size=10)
nasty = st.sampled_from([b",", b":", b"\n", b"\x00", b"%%%\n", b"###\n", b"<<<\n", b"9:", b"\x13"])
blobs = st.one_of(st.binary(max_size=30), st.lists(nasty, max_size=6).map(b"".join))


def messages(depth: int = 2) -> st.SearchStrategy[Message]:
    leaf = st.one_of(
        st.tuples(names, texts).map(lambda nv: Field(nv[0], nv[1], FieldType.STRING)),
        st.tuples(names, blobs).map(lambda nv: Field(nv[0], nv[1], FieldType.BINARY)),
        st.tuples(names, st.lists(elements, min_size=1, max_size=4).map(tuple))
        .map(lambda nv: Field(nv[0], nv[1], FieldType.LIST)),
    )
    if depth > 0:
        nested = st.tuples(names, messages(depth - 1)).map(lambda nv: Field(nv[0], nv[1], FieldType.STRUCT))
        leaf = st.one_of(leaf, nested)
    return st.lists(leaf, max_size=8).map(lambda fs: Message(tuple(fs)))


@FAST
@given(messages(), st.sampled_from(["netstring", "classic"]), st.booleans())
def test_round_trip(message: Message, fmt: str, inner_auth: bool) -> None:
    data = encode(message, KEYS, fmt=fmt, inner_auth=inner_auth)
    result = decode(data, KEYS)
    assert isinstance(result, Accepted), result
    assert result.encoding is Encoding(fmt)
    assert result.message.without("auth") == message
    assert result.to_bytes() == data


@FAST
@given(messages(depth=1), st.sampled_from(["zlib", "bz2"]), st.sampled_from(["classic", "netstring"]))
def test_round_trip_compressed_field(inner: Message, algorithm: str, msgfmt: str) -> None:
    message = Message((Field("t", "crm"), Field("payload", inner, FieldType.UNCOMPRESSED)))
    data = encode(message, KEYS, compression=CompressionPolicy(algorithm=algorithm, msgfmt=msgfmt))
    result = decode(data, KEYS)
    assert isinstance(result, Accepted), result
    assert result.message.field("payload") == message.field("payload")


@FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    for candidate in (data, b"###\n" + data, b">>>\n" + data):
        result = decode(candidate, CRC)
        assert isinstance(result, (Accepted, Rejected))
        if isinstance(result, Rejected):
            assert result.reason is not RejectReason.INTERNAL, result


def mutate(data: bytes, kind: int, at: int, byte: int) -> bytes:
    at %= max(len(data), 1)
    if kind == 0:
        return data[:at] + bytes([byte]) + data[at + 1:]
    if kind == 1:
        return data[:at] + bytes([byte]) + data[at:]
    if kind == 2:
        return data[:at] + data[at + 1:]
    if kind == 3:
        return data[:at]
    return data[:at] + data[at:at + 8] + data[at:]     # duplicate a chunk


@FAST
@given(messages(depth=1), st.sampled_from(["netstring", "classic"]),
       st.lists(st.tuples(st.integers(0, 4), st.integers(0, 10_000), st.integers(0, 255)),
                min_size=1, max_size=3))
def test_mutated_packets_are_refused_or_accepted_consistently(
        message: Message, fmt: str, edits: list[tuple[int, int, int]]) -> None:
    data = encode(message, CRC, fmt=fmt)
    for kind, at, byte in edits:
        data = mutate(data, kind, at, byte)
    first, second = decode(data, CRC), decode(data, CRC)
    assert first == second
    if isinstance(first, Rejected):
        assert first.reason is not RejectReason.INTERNAL, first
    elif first.encoding is Encoding.NETSTRING:
        assert first.to_bytes() == data


@settings(max_examples=60, deadline=None)
@given(messages(depth=1), st.integers(1, 40))
def test_field_cap_holds_for_any_message(message: Message, cap: int) -> None:
    result = decode(encode(message, CRC), CRC, limits=Limits(max_fields=cap))
    if isinstance(result, Rejected):
        assert result.reason is RejectReason.TOO_MANY_FIELDS

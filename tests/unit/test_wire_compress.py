"""Compression: type-4 fields, traditional envelopes, bounded inflation after authentication."""

from __future__ import annotations

import bz2
import tracemalloc
import zlib

import pytest

from hbd.config.model import AuthKeys, AuthMethod
from hbd.wire import (Accepted, CompressionPolicy, Field, FieldType, Limits, Message, RejectReason,
                      Rejected, decode, encode, inspect)
from hbd.wire import compress
from hbd.wire.auth import digest, format_token
from hbd.wire.codec import sign_body
from hbd.wire.netstring import netstring, serialize

KEYS = AuthKeys.single("sha1", "hbA-sha1-key-1")


def big_text(kb: int) -> Message:
    return Message.of(("t", "hbdcap-big"), *((f"d{i:03d}", f"line {i:04d}: the quick brown fox " * 5)
                                           for i in range(kb * 1024 // 200)))


def reason(result: Accepted | Rejected) -> RejectReason | None:
    return result.reason if isinstance(result, Rejected) else None


def envelope(payload: bytes, algorithm: str = "zlib") -> bytes:
    """A signed traditional-compression datagram around an arbitrary payload."""
    msg = Message((Field("_compressed_payload", payload, FieldType.BINARY),
                   Field("_compression_algorithm", algorithm)))
    return sign_body(serialize(msg), KEYS)


def compressed_field(payload: bytes, algorithm: str = "zlib") -> bytes:
    msg = Message((Field("t", "crm"), Field("payload", payload, FieldType.COMPRESSED),
                   Field("_compression_algorithm", algorithm)))
    return sign_body(serialize(msg), KEYS)


@pytest.mark.parametrize("algorithm", ["zlib", "bz2"])
@pytest.mark.parametrize("msgfmt", ["classic", "netstring"])
def test_field_compression_round_trip(algorithm: str, msgfmt: str) -> None:
    inner = big_text(4)
    msg = Message((Field("t", "crm"), Field("payload", inner, FieldType.UNCOMPRESSED),
                   Field("after", "tail")))
    data = encode(msg, KEYS, compression=CompressionPolicy(algorithm=algorithm, msgfmt=msgfmt))
    assert len(data) < 2048
    result = decode(data, KEYS)
    assert isinstance(result, Accepted), result
    assert result.wire.field("payload").type is FieldType.COMPRESSED
    assert result.message.field("payload") == Field("payload", inner, FieldType.UNCOMPRESSED)
    assert result.message.get("_compression_algorithm") == algorithm
    assert result.compression == algorithm
    assert result.to_bytes() == data


@pytest.mark.parametrize("algorithm", ["zlib", "bz2"])
def test_traditional_compression_round_trip(algorithm: str) -> None:
    msg = big_text(8)
    policy = CompressionPolicy(algorithm=algorithm, threshold_kb=1, traditional=True)
    data = encode(msg, KEYS, compression=policy)
    seen = inspect(data)
    assert not isinstance(seen, Rejected)
    assert seen.wire.names() == ["_compressed_payload", "_compression_algorithm"]
    result = decode(data, KEYS)
    assert isinstance(result, Accepted), result
    assert result.message.without("auth") == msg and "auth" in result.message
    assert result.compression == algorithm


def test_traditional_payload_is_classic_with_nul_by_default() -> None:
    data = encode(big_text(2), KEYS, compression=CompressionPolicy(threshold_kb=1, traditional=True))
    seen = inspect(data)
    assert not isinstance(seen, Rejected)
    payload = zlib.decompress(seen.wire.get_bytes("_compressed_payload") or b"")
    assert payload.startswith(b">>>\nt=hbdcap-big\n") and payload.endswith(b"<<<\n\0")


def test_below_threshold_is_not_compressed() -> None:
    small = Message.of(t="status")
    policy = CompressionPolicy(threshold_kb=1, traditional=True)
    assert encode(small, KEYS, compression=policy) == encode(small, KEYS)


def test_message_above_datagram_cap_is_wrapped() -> None:
    data = encode(big_text(8), KEYS, limits=Limits(max_datagram=4096))
    assert len(data) < 4096 and b"_compressed_payload" in data
    assert isinstance(decode(data, KEYS), Accepted)


# --- hostile payloads ------------------------------------------------------------------------

BOMB_ZLIB = zlib.compress(b"###\n" + b"\0" * (64 * 1024 * 1024), 9)
BOMB_BZ2 = bz2.compress(b"\0" * (64 * 1024 * 1024), 9)


@pytest.mark.parametrize("data", [
    pytest.param(compressed_field(BOMB_ZLIB), id="zlib-field"),
    pytest.param(envelope(BOMB_ZLIB), id="zlib-envelope"),
    pytest.param(compressed_field(BOMB_BZ2, "bz2"), id="bz2-field"),
])
def test_decompression_bomb_is_rejected_within_the_cap(data: bytes) -> None:
    assert len(data) < 256 * 1024
    tracemalloc.start()
    try:
        result = decode(data, KEYS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reason(result) is RejectReason.DECOMPRESSED_TOO_LARGE
    assert peak < 12 * 1024 * 1024


def test_bomb_budget_is_shared_by_all_fields() -> None:
    one_mib = zlib.compress(b">>>\nt=x\nv=" + b"a" * (900 * 1024) + b"\n<<<\n")
    msg = Message((Field("a", one_mib, FieldType.COMPRESSED), Field("b", one_mib, FieldType.COMPRESSED),
                   Field("c", one_mib, FieldType.COMPRESSED), Field("_compression_algorithm", "zlib")))
    data = sign_body(serialize(msg), KEYS)
    limits = Limits(max_value=1024 * 1024)
    assert reason(decode(data, KEYS, limits=limits)) is RejectReason.DECOMPRESSED_TOO_LARGE


def test_unauthenticated_payload_is_never_inflated(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> bytes:
        raise AssertionError("decompressed before authentication")

    monkeypatch.setattr(compress, "decompress", refuse)
    body = serialize(Message((Field("_compressed_payload", BOMB_ZLIB, FieldType.BINARY),
                              Field("_compression_algorithm", "zlib"))))
    forged = body + netstring(format_token(1, digest(AuthMethod.SHA1, b"wrong", body)).encode())
    assert reason(decode(forged, KEYS)) is RejectReason.AUTH_FAILED


@pytest.mark.parametrize("data,expected", [
    (envelope(zlib.compress(b"###\n%%%\n"), "lzma"), RejectReason.UNSUPPORTED_COMPRESSION),
    (compressed_field(b"\x78\x9cnot zlib"), RejectReason.DECOMPRESS_FAILED),
    (compressed_field(zlib.compress(b"###\n%%%\n")[:-3]), RejectReason.DECOMPRESS_FAILED),
    (compressed_field(zlib.compress(b"###\n%%%\n") + b"xx"), RejectReason.DECOMPRESS_FAILED),
    (compressed_field(zlib.compress(b"plain text")), RejectReason.MALFORMED),
    (envelope(zlib.compress(b"###\n5:(0)t=x%%%\n")), RejectReason.MALFORMED),
])
def test_bad_compressed_payloads(data: bytes, expected: RejectReason) -> None:
    assert reason(decode(data, KEYS)) is expected


def test_compressed_field_without_algorithm_name() -> None:
    msg = Message((Field("payload", zlib.compress(b"###\n%%%\n"), FieldType.COMPRESSED),))
    assert reason(decode(sign_body(serialize(msg), KEYS), KEYS)) is RejectReason.UNSUPPORTED_COMPRESSION


def test_policy_from_hacf() -> None:
    from hbd.config.model import HaCf
    policy = CompressionPolicy.from_hacf(HaCf(compression="bz2", traditional_compression=True))
    assert policy == CompressionPolicy(algorithm="bz2", threshold_kb=2, traditional=True)
    with pytest.raises(ValueError):
        CompressionPolicy(algorithm="lzma")

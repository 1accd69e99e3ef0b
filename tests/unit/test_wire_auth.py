"""Authenticators: crc (CRC-32/CKSUM), HMAC-MD5, HMAC-SHA1, tokens, constant-time checks."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings, strategies as st

from hbd.config.model import AuthKey, AuthKeys, AuthMethod
from hbd.wire import Accepted, Message, decode, encode
from hbd.wire import auth
from hbd.wire.auth import classic_text, crc_cksum, digest, format_token, parse_token, sign, verify


def reference_cksum(data: bytes) -> int:
    """Spec §4.4, bit by bit."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc ^ 0xFFFFFFFF


def test_crc_check_value() -> None:
    assert crc_cksum(b"123456789") == 0x765E7680
    assert digest(AuthMethod.CRC, b"", b"123456789") == "765e7680"


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_crc_matches_the_spec_definition(data: bytes) -> None:
    assert crc_cksum(data) == reference_cksum(data)


def test_crc_token_has_no_leading_zeros() -> None:
    data = next(str(i).encode() for i in range(10_000) if crc_cksum(str(i).encode()) < 0x10000000)
    token = digest(AuthMethod.CRC, b"", data)
    assert len(token) < 8 and not token.startswith("0")
    assert verify(AuthKey(1, AuthMethod.CRC), data, token)
    assert verify(AuthKey(1, AuthMethod.CRC), data, "0" * (8 - len(token)) + token)


def test_hmac_methods_are_standard() -> None:
    key, data = b"hbA-md5-key-1", b"payload"
    assert digest(AuthMethod.MD5, key, data) == hmac.new(key, data, hashlib.md5).hexdigest()
    long_key = b"k" * 100  # longer than the block: hashed first (RFC 2104)
    assert digest(AuthMethod.SHA1, long_key, data) == hmac.new(long_key, data, hashlib.sha1).hexdigest()
    assert len(sign(AuthKey(1, AuthMethod.SHA1, key), data)) == 40


def test_verify_is_exact_for_hmac() -> None:
    key = AuthKey(1, AuthMethod.MD5, b"k")
    token = sign(key, b"x")
    assert verify(key, b"x", token)
    assert not verify(key, b"x", token.upper())
    assert not verify(key, b"y", token)
    assert not verify(key, b"x", "\u00e9" + token[1:])


@pytest.mark.parametrize("text,expected", [
    ("1 abc", (1, "abc")), ("15 0", (15, "0")), ("99 ab", (99, "ab")),
    ("1  abc", None), (" 1 abc", None), ("1 abc ", None), ("1", None), ("-1 ab", None),
    ("1 ABC", None), ("123 ab", None),
])
def test_parse_token(text: str, expected: tuple[int, str] | None) -> None:
    assert parse_token(text) == expected


def test_classic_text_matches_spec_worked_example() -> None:
    msg = Message.of(("t", "status"), ("st", "up"), ("dt", "1f40"), ("protocol", "1"),
                     ("src", "node0"), ("srcuuid", bytes.fromhex("64541cabb3154c2baa0cbc041883541c")),
                     ("seq", "4"), ("hg", "6b06eaf6"), ("ts", "6b06eb40"),
                     ("ld", "0.00 0.04 0.00 1/98 11722"), ("ttl", "3"), ("auth", "1 ccd0d9e9"))
    text = classic_text(msg)
    assert text == (b"t=status\nst=up\ndt=1f40\nprotocol=1\nsrc=node0\n"
                    b"(1)srcuuid=ZFQcq7MVTCuqDLwEGINUHA==\nseq=4\nhg=6b06eaf6\nts=6b06eb40\n"
                    b"ld=0.00 0.04 0.00 1/98 11722\nttl=3\n")
    assert format_token(1, digest(AuthMethod.CRC, b"", text)) == "1 ccd0d9e9"


@pytest.mark.parametrize("fmt", ["netstring", "classic"])
def test_verification_uses_compare_digest(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    keys = AuthKeys.single("sha1", "secret")
    assert isinstance(decode(encode(Message.of(t="x"), keys, fmt=fmt), keys), Accepted)
    assert len(calls) == 1

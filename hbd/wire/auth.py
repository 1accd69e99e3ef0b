"""Heartbeat's authenticators (crc, HMAC-MD5, HMAC-SHA1), hbd's HMAC-SHA256, and
the texts they cover.

Methods (spec heartbeat-wire.md §4.4), all written as lowercase hex:

* crc    — CRC-32/CKSUM (poly 0x04C11DB7 MSB-first, init 0, final xor
  0xFFFFFFFF, no length appended); check value of b"123456789" is 765e7680.
  Printed with %lx, so **without leading zeros**. No key (integrity only).
* md5    — HMAC-MD5 (RFC 2104) keyed with the authkeys key bytes; 32 digits.
* sha1   — HMAC-SHA1; 40 digits.
* sha256 — HMAC-SHA256; 64 digits. hbd only: heartbeat 3.0.6 has no such
  plugin and refuses an authkeys that names it (all-hbd clusters only).

The AEAD method (chacha20poly1305) does not use tokens at all: see seal.py.

A token on the wire is "<n> <hex>" with n the authkeys index (0..15).

What is covered:

* the netstring trailer covers the body bytes, "###\\n" through "%%%\\n"
  (`netstring_token`);
* the inner `auth` field covers the classic text of every field but `auth`
  (`classic_text`, `inner_token`), whatever encoding carries the message.

Methods are looked up by their authkeys word (`key.method.value`), so this
module serves every method enum the configuration layer defines.
Verification compares with `hmac.compare_digest`. A received crc token is
normalised (leading zeros dropped) first, so a zero-padded crc is accepted;
HMAC tokens must be exactly the lowercase digest, as 3.0.6's strcmp wants.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from hbd.config.model import AuthKey, AuthKeys
from hbd.wire import classic
from hbd.wire.message import Message

MAX_INDEX = 15
CRC = "crc"
HEARTBEAT_METHODS = ("crc", "md5", "sha1")
HMACS: dict[str, Callable[..., Any]] = {"md5": hashlib.md5, "sha1": hashlib.sha1,
                                         "sha256": hashlib.sha256}
AEADS = ("chacha20poly1305",)
HBD_METHODS = ("sha256",) + AEADS
_TOKEN = re.compile(r"([0-9]{1,2}) ([0-9a-f]{1,64})")
# Reversing the bits of every byte turns zlib's reflected CRC-32 into the
# MSB-first CKSUM variant (same polynomial), at C speed.
_BITREV = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


class Method(Protocol):
    """What this module needs of an authkeys method: its word."""

    @property
    def value(self) -> str: ...


def name(method: Method | str) -> str:
    """The authkeys word of `method` ("crc", "md5", ...)."""
    return method if isinstance(method, str) else str(method.value)


def is_aead(method: Method | str) -> bool:
    return name(method) in AEADS


def crc_cksum(data: bytes) -> int:
    """CRC-32/CKSUM of `data` (heartbeat's `crc` method), as an int."""
    reflected = zlib.crc32(data.translate(_BITREV), 0xFFFFFFFF)
    return int(f"{reflected:032b}"[::-1], 2)


def digest(method: Method | str, secret: bytes, data: bytes) -> str:
    """The hex token of `method` keyed with `secret` over `data`."""
    word = name(method)
    if word == CRC:
        return f"{crc_cksum(data):x}"
    try:
        return hmac.new(secret, data, HMACS[word]).hexdigest()
    except KeyError:
        raise ValueError(f"{word} is not a token method") from None


def sign(key: AuthKey, data: bytes) -> str:
    """Hex digest of `data` with an authkeys entry (its method and its key)."""
    return digest(key.method, key.secret, data)


def verify_digest(method: Method | str, secret: bytes, data: bytes, received: str) -> bool:
    """Constant-time check of a received hex token (False for a method without tokens)."""
    word = name(method)
    if word != CRC and word not in HMACS:
        return False
    expected = digest(word, secret, data)
    if word == CRC:
        received = received.lstrip("0") or "0"
    try:
        got = received.encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), got)


def verify(key: AuthKey, data: bytes, received: str) -> bool:
    return verify_digest(key.method, key.secret, data, received)


def format_token(index: int, hexdigest: str) -> str:
    return f"{index} {hexdigest}"


def parse_token(token: str) -> tuple[int, str] | None:
    """"<n> <hex>" -> (n, hex); None when it is not exactly that shape."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    return int(match.group(1)), match.group(2)


def classic_text(message: Message) -> bytes:
    """The classic text of every field but `auth` (what the inner field covers)."""
    return classic.lines(message, skip="auth")


def inner_token(message: Message, authkeys: AuthKeys) -> str:
    """The `auth` field value to send: signed with the outbound (`auth N`) key."""
    key = authkeys.signing_key
    return format_token(key.index, sign(key, classic_text(message)))


def netstring_token(body: bytes, authkeys: AuthKeys) -> str:
    """The trailer token to send after a netstring body."""
    key = authkeys.signing_key
    return format_token(key.index, sign(key, body))


def trailer_secret(authkeys: AuthKeys, index_key: AuthKey) -> bytes:
    """The key used to check a netstring trailer of index `index_key`.

    3.0.6 quirk (spec §4.5, tested against a live node): the trailer is
    checked with the *method* of the trailer's index but the *key* of the
    receiver's own outbound index (`auth N`). With a single index, as every
    working 3.0.6 cluster has, this is simply that index's key. hbd's own
    methods (sha256) have no heartbeat to agree with and use the key of their
    own index, so that a second index can carry a new key during a rotation.
    """
    if name(index_key.method) in HBD_METHODS:
        return index_key.secret
    own = authkeys.get(authkeys.sign_index)
    return own.secret if own is not None else index_key.secret

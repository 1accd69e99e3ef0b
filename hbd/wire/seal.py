"""hbd's AEAD method (`N chacha20poly1305 KEY` in authkeys): messages encrypted
and authenticated, for clusters whose every node runs hbd.

Heartbeat 3.0.6 knows no such method (it refuses an authkeys that names it, and
drops these datagrams as bad magic), so a mixed cluster keeps crc/md5/sha1.

Datagram ("sealed"):

    magic    4   b"@@@\\n"
    index    1   authkeys index 0..15
    session 16   chosen at random by the sender when it starts
    counter  8   big-endian, 1, 2, 3, ... one per datagram of that session
    box      *   ChaCha20-Poly1305(key, nonce, plaintext, aad=the 29 header bytes)
                 (ciphertext followed by the 16-byte tag)

* key   = HKDF-SHA256(ikm = the authkeys key bytes, salt = session,
          info = b"hbd sealed v1 chacha20poly1305"), 32 bytes: one key per
          sender session, so the nonce only has to be unique within a session;
* nonce = 4 zero bytes + counter: unique per datagram as long as the counter
          never repeats within a session (a `Sealer` never reuses one; a new
          start takes a new random session);
* plaintext = the message's netstring body ("###\\n" ... "%%%\\n"), without
          the inner `auth` field and without a trailer.

Header, session and counter are authenticated (AAD), never secret. The
counter is the replay-window input: a receiver keeps, per session, the
highest counter seen (and a window below it); the codec only exposes
`(session, counter)` — the window lives in the core. Every datagram has a
counter, including `NS_*` messages that carry no `seq`.

Pure: the session comes from the caller (the runtime draws it from os.urandom);
the `Sealer` only counts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from typing import Any

from hbd.config.model import AuthKey, AuthKeys
from hbd.wire.errors import EncodeError, RejectReason, WireError

MAGIC = b"@@@\n"
SESSION_BYTES = 16
TAG_BYTES = 16
HEADER = struct.Struct(">4sB16sQ")
INFO = b"hbd sealed v1 chacha20poly1305"
MAX_COUNTER = 2**64 - 1


@dataclass(frozen=True)
class Sealed:
    """A sealed datagram's header and encrypted box (nothing checked yet)."""

    index: int
    session: bytes
    counter: int
    header: bytes
    box: bytes


def unpack(data: bytes) -> Sealed:
    """Split a sealed datagram; raises WireError for a malformed header."""
    if len(data) < HEADER.size + TAG_BYTES:
        raise WireError(RejectReason.TRUNCATED, "sealed datagram shorter than its header and tag")
    _, index, session, counter = HEADER.unpack_from(data)
    if index > 15:
        raise WireError(RejectReason.BAD_AUTH_INDEX, f"auth index {index} outside 0..15")
    if counter == 0:
        raise WireError(RejectReason.MALFORMED, "sealed counter 0 is never sent")
    return Sealed(index, session, counter, data[:HEADER.size], data[HEADER.size:])


def _aead(key: bytes) -> Any:
    """`cryptography` is imported only by a node that seals (about 7 MB of RSS that a
    cluster on heartbeat's methods does not pay)."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    return ChaCha20Poly1305(key)


def session_key(secret: bytes, session: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    return HKDF(hashes.SHA256(), 32, session, INFO).derive(secret)


def open_sealed(sealed: Sealed, secret: bytes) -> bytes | None:
    """The plaintext, or None when the box does not open with `secret`."""
    from cryptography.exceptions import InvalidTag
    cipher = _aead(session_key(secret, sealed.session))
    try:
        plain: bytes = cipher.decrypt(_nonce(sealed.counter), sealed.box, sealed.header)
        return plain
    except InvalidTag:
        return None


def seal(key: AuthKey, session: bytes, counter: int, plaintext: bytes) -> bytes:
    """One sealed datagram (the caller guarantees `counter` is fresh for `session`)."""
    if len(session) != SESSION_BYTES:
        raise EncodeError(f"a sealing session is {SESSION_BYTES} bytes, not {len(session)}")
    if not 1 <= counter <= MAX_COUNTER:
        raise EncodeError(f"sealing counter {counter} outside 1..2**64-1")
    header = HEADER.pack(MAGIC, key.index, session, counter)
    cipher = _aead(session_key(key.secret, session))
    box: bytes = cipher.encrypt(_nonce(counter), plaintext, header)
    return header + box


def _nonce(counter: int) -> bytes:
    return b"\0\0\0\0" + counter.to_bytes(8, "big")


class Sealer:
    """A sending session: its random id and the next counter. Never reuses a counter."""

    def __init__(self, session: bytes) -> None:
        if len(session) != SESSION_BYTES:
            raise ValueError(f"a sealing session is {SESSION_BYTES} bytes, not {len(session)}")
        self.session = session
        self.sent = 0

    def next_counter(self) -> int:
        if self.sent >= MAX_COUNTER:
            raise EncodeError("sealing counter exhausted: restart to take a new session")
        self.sent += 1
        return self.sent


@dataclass(frozen=True, eq=False)
class SessionKeys(AuthKeys):
    """Authkeys plus the sending session an AEAD signing key needs.

    The runtime passes this wherever it passes authkeys; `encode` seals with
    `sealer` when the signing method is an AEAD. Receiving needs no state.
    """

    sealer: Sealer | None = None

    @classmethod
    def of(cls, keys: AuthKeys, sealer: Sealer) -> SessionKeys:
        return cls(keys.sign_index, keys.keys, sealer)

    def plain(self) -> AuthKeys:
        return AuthKeys(self.sign_index, self.keys)

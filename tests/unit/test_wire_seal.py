"""hbd's own methods: HMAC-SHA256 tokens, and sealed (ChaCha20-Poly1305) datagrams."""

from __future__ import annotations

import pytest

from hbd.config.model import AuthKey, AuthKeys, AuthMethod
from hbd.wire import (
    Accepted,
    EncodeError,
    Encoding,
    Limits,
    Message,
    RejectReason,
    decode,
    encode,
    inspect,
    seal,
)
from hbd.wire.auth import digest
from hbd.wire.preauth import Screened, screen

SESSION = bytes(range(16))


def keys(method: AuthMethod | AuthMethod, secret: bytes = b"cluster-secret", index: int = 3,
         extra: tuple[AuthKey, ...] = ()) -> AuthKeys:
    return AuthKeys(index, (AuthKey(index, method, secret),) + extra)  # type: ignore[arg-type]


AEAD = keys(AuthMethod.CHACHA20POLY1305)
SHA256 = keys(AuthMethod.SHA256)


def sending(base: AuthKeys = AEAD, session: bytes = SESSION) -> seal.SessionKeys:
    return seal.SessionKeys.of(base, seal.Sealer(session))


def status(seq: str = "4") -> Message:
    return Message.of(("t", "status"), ("st", "up"), ("src", "node0"), ("seq", seq),
                      ("hg", "6b06eaf6"), ("srcuuid", b"0123456789abcdef"))


# --- sha256 -------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["netstring", "classic"])
def test_sha256_round_trip(fmt: str) -> None:
    data = encode(status(), SHA256, fmt=fmt)
    result = decode(data, SHA256)
    assert isinstance(result, Accepted) and result.authnum == 3
    assert result.message.without("auth") == status() and result.to_bytes() == data
    assert decode(data, keys(AuthMethod.SHA256, b"other")).reason is RejectReason.AUTH_FAILED


def test_sha256_token_is_hmac_sha256() -> None:
    import hashlib
    import hmac
    assert digest("sha256", b"k", b"text") == hmac.new(b"k", b"text", hashlib.sha256).hexdigest()
    assert len(digest("sha256", b"k", b"text")) == 64


def test_sha256_trailer_uses_its_own_index_key_for_rotation() -> None:
    """Unlike 3.0.6's quirk (own signing key), hbd's methods check each index with its key."""
    old_and_new = AuthKeys(2, (AuthKey(1, AuthMethod.SHA256, b"old"),        # type: ignore[arg-type]
                               AuthKey(2, AuthMethod.SHA256, b"new")))       # type: ignore[arg-type]
    from_old_node = encode(status(), keys(AuthMethod.SHA256, b"old", index=1))
    assert isinstance(decode(from_old_node, old_and_new), Accepted)


# --- sealed -------------------------------------------------------------------------------

def test_sealed_round_trip_exposes_session_and_counter() -> None:
    sender = sending()
    first, second = encode(status("1"), sender), encode(status("2"), sender)
    assert first.startswith(seal.MAGIC) and first[4] == 3 and first[5:21] == SESSION
    for number, data in ((1, first), (2, second)):
        result = decode(data, AEAD)
        assert isinstance(result, Accepted), result
        assert result.encoding is Encoding.SEALED and result.authnum == 3
        assert (result.session, result.counter) == (SESSION, number)
        assert result.message == status(str(number)) and result.to_bytes() == data


def test_sealed_is_encrypted() -> None:
    data = encode(status(), sending())
    assert b"node0" not in data and b"status" not in data
    assert inspect(data).reason is RejectReason.ENCRYPTED


def test_same_message_never_seals_the_same_way() -> None:
    sender = sending()
    assert encode(status(), sender) != encode(status(), sender)
    other = encode(status(), sending(session=bytes(16)))
    assert other[21:] != encode(status(), sending())[21:]


@pytest.mark.parametrize("change", [
    lambda d: d[:-1] + bytes([d[-1] ^ 1]),             # tag
    lambda d: d[:30] + bytes([d[30] ^ 1]) + d[31:],   # ciphertext
    lambda d: d[:21] + (99).to_bytes(8, "big") + d[29:],  # counter (authenticated)
    lambda d: d[:6] + bytes([d[6] ^ 1]) + d[7:],       # session (authenticated)
])
def test_tampered_sealed_datagram_is_refused(change) -> None:
    data = change(encode(status(), sending()))
    assert decode(data, AEAD).reason is RejectReason.AUTH_FAILED


def test_sealed_refusals() -> None:
    data = encode(status(), sending())
    assert decode(data, keys(AuthMethod.CHACHA20POLY1305, b"wrong")).reason is RejectReason.AUTH_FAILED
    assert decode(data, keys(AuthMethod.CHACHA20POLY1305, index=4)).reason is \
        RejectReason.UNKNOWN_AUTH_INDEX
    assert decode(data, keys(AuthMethod.SHA1)).reason is RejectReason.AUTH_FAILED
    assert decode(data[:30], AEAD).reason is RejectReason.TRUNCATED
    zero = data[:21] + bytes(8) + data[29:]
    assert decode(zero, AEAD).reason is RejectReason.MALFORMED
    assert decode(data[:4] + b"\x10" + data[5:], AEAD).reason is RejectReason.BAD_AUTH_INDEX


def test_token_signed_with_an_aead_index_is_refused() -> None:
    """An AEAD index has no token: a trailer naming it cannot authenticate anything."""
    forged = encode(status(), keys(AuthMethod.SHA1, b"cluster-secret"))
    assert decode(forged, AEAD).reason is RejectReason.AUTH_FAILED


def test_sealing_needs_a_session() -> None:
    with pytest.raises(EncodeError, match="SessionKeys"):
        encode(status(), AEAD)
    with pytest.raises(ValueError):
        seal.Sealer(b"short")


def test_large_sealed_message_is_compressed_whole() -> None:
    big = Message.of(*[(f"f{i}", "x" * 50) for i in range(1500)])
    data = encode(big, sending(), limits=Limits(max_datagram=65507))
    assert len(data) < 65507
    result = decode(data, AEAD)
    assert isinstance(result, Accepted) and result.message == big and result.compression == "zlib"


def test_screen_reads_counter_and_header_of_sealed() -> None:
    found = screen(encode(status("1f"), sending()), AEAD)
    assert isinstance(found, Screened)
    assert (found.session, found.counter, found.source, found.seq) == (SESSION, 1, "node0", 0x1f)

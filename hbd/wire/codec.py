"""Datagram <-> Message: heartbeat 3.0.6's wire codec, with authentication.

API (what the core and the runtime call):

    encode(message, authkeys, *, fmt="netstring", inner_auth=True,
           compression=None, nul=False, limits=DEFAULT_LIMITS) -> bytes
    decode(data, authkeys, *, limits=DEFAULT_LIMITS) -> Accepted | Rejected
    inspect(data, *, limits=DEFAULT_LIMITS) -> Inspected | Rejected   # NO auth: diagnostics only

`encode` sends exactly what 3.0.6 sends (spec §3.1, §3.3): netstring items in
field order, the inner `auth` field (classic authenticator, §4.2) set in place
or appended, "%%%\\n", then the trailer netstring "<n> <hex>" (§4.3), no NUL.
Both tokens use the outbound index (`auth N`). `fmt="classic"` writes the
">>>" form instead (older senders, `ha_clustermsg`), with an optional NUL.
Type-5 (uncompressed) struct fields are compressed into type 4 first, and a
message above the policy threshold (traditional) or above `max_datagram` is
wrapped whole (see compress.py). A message that cannot be sent raises
`EncodeError` (a ValueError): that is local misuse, not remote input.

`decode` never raises. In order:

1. size cap, then the 4-byte magic;
2. authentication BEFORE framing (preauth.py): the authenticator is found
   and checked over the raw bytes, with constant Python work, so a datagram
   that does not authenticate costs about as much as hashing it.
   netstring — the trailer must be present and parse as "<n> <hex>", n in
   0..15 and configured; the digest uses the METHOD of index n and the KEY of
   our own outbound index (the 3.0.6 quirk, see auth.trailer_secret); the
   inner `auth` field is ignored.
   classic — the `auth` field must be present, n configured, and the method
   and key of index n are computed over the classic text of the other lines;
   sealed — hbd's AEAD (seal.py): the box must open with the key of its index;
3. framing, after authentication: netstring — walk the top-level items by
   their lengths, which must end exactly where the authenticated body ends;
   classic — cut and check every line (the authenticated text must be the
   text of the lines found);
4. only then are values interpreted (strings, base64, structs, lists), and
   compressed parts inflated under a per-datagram budget.

`Accepted.message` is the logical message: a traditional-compression envelope
is replaced by the message it carries, and each type-4 field becomes a type-5
(uncompressed) field holding the nested Message. `Accepted.wire` keeps the
fields exactly as they were on the wire, and `Accepted.to_bytes()` rebuilds
the datagram byte for byte from them (tokens kept as received).
"""

from __future__ import annotations

from dataclasses import dataclass

from hbd.config.model import AuthKeys
from hbd.wire import auth, classic, compress, netstring, preauth, seal
from hbd.wire.compress import ALGORITHM_FIELD, COMPRESSED_FIELD, CompressionPolicy
from hbd.wire.errors import EncodeError, Rejected, RejectReason, WireError
from hbd.wire.limits import DEFAULT_LIMITS, Budget, Limits
from hbd.wire.message import Field, FieldType, Message, from_wire, to_wire
from hbd.wire.preauth import Encoding


@dataclass(frozen=True)
class Inspected:
    """A datagram's structure, parsed WITHOUT authentication (for `hbd decode`)."""

    wire: Message
    encoding: Encoding
    trailer: str | None = None       # netstring trailer token, as received
    nul: bool = False                # classic: NUL after "<<<\n"

    @property
    def inner_auth(self) -> str | None:
        return self.wire.get("auth")

    def to_bytes(self) -> bytes:
        """The datagram again: byte for byte for anything 3.0.6 sends (a classic
        datagram with CR/LF runs between its lines comes back with single LFs)."""
        if self.encoding is Encoding.CLASSIC:
            return classic.serialize(self.wire, nul=self.nul)
        body = netstring.serialize(self.wire)
        if self.trailer is None:
            return body
        return body + netstring.netstring(to_wire(self.trailer))


@dataclass(frozen=True, kw_only=True)
class Accepted(Inspected):
    """An authenticated datagram (an `Inspected` whose authenticator checked out)."""

    message: Message                 # logical message (compressed parts expanded)
    authnum: int                     # the index that authenticated it
    compression: str | None = None   # algorithm, when anything was inflated
    sealed: bytes | None = None      # sealed (AEAD): the datagram as received
    session: bytes | None = None     # sealed: the sender's session (seal.py)
    counter: int | None = None       # sealed: its per-session counter, for the replay window

    def to_bytes(self) -> bytes:
        if self.encoding is Encoding.SEALED and self.sealed is not None:
            return self.sealed
        return super().to_bytes()


@dataclass
class _Frame:
    encoding: Encoding
    data: bytes
    body_end: int = 0                            # netstring, sealed (plaintext)
    trailer: str | None = None                   # netstring
    lines: list[classic.Line] | None = None      # classic
    nul: bool = False                            # classic


# --- decoding -------------------------------------------------------------------

def decode(data: bytes, authkeys: AuthKeys, *, limits: Limits = DEFAULT_LIMITS) -> Accepted | Rejected:
    """Authenticate, then parse, one datagram. Never raises."""
    try:
        raw = bytes(data)
        located = preauth.locate(raw, limits)
        verified = preauth.authenticate(located, authkeys)
        frame = _frame_verified(located, verified, limits)
        budget = Budget(limits)
        wire = _interpret(frame, budget)
        message, algorithm = _expand(wire, 0, budget)
        sealed = frame.encoding is Encoding.SEALED
        return Accepted(wire=wire, encoding=frame.encoding, trailer=frame.trailer,
                        nul=frame.nul, message=message, authnum=verified.authnum,
                        compression=algorithm, sealed=raw if sealed else None,
                        session=verified.session, counter=verified.counter)
    except WireError as exc:
        return exc.rejected()
    except Exception as exc:  # noqa: BLE001 - a decoder bug must not take the daemon down
        return Rejected(RejectReason.INTERNAL, f"{type(exc).__name__}: {exc}")


def inspect(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Inspected | Rejected:
    """Parse without authenticating or inflating. For diagnostics only."""
    try:
        frame = _frame(bytes(data), limits)
        wire = _interpret(frame, Budget(limits))
        return Inspected(wire=wire, encoding=frame.encoding, trailer=frame.trailer, nul=frame.nul)
    except WireError as exc:
        return exc.rejected()
    except Exception as exc:  # noqa: BLE001 - diagnostics never raise
        return Rejected(RejectReason.INTERNAL, f"{type(exc).__name__}: {exc}")


def _frame_verified(located: preauth.Located, verified: preauth.Verified,
                    limits: Limits) -> _Frame:
    """Frame an authenticated datagram; it must frame where `locate` said it ends."""
    budget = Budget(limits)
    data = located.data
    if located.encoding is Encoding.SEALED:
        body = verified.plaintext or b""
        if not body.startswith(netstring.START):
            raise WireError(RejectReason.MALFORMED, "sealed plaintext is not a netstring body")
        end = netstring.body_end(body, len(netstring.START), limits, budget)
        if end != len(body):
            raise WireError(RejectReason.MALFORMED, "bytes after the '%%%' end marker")
        return _Frame(Encoding.SEALED, body, body_end=end)
    if located.encoding is Encoding.NETSTRING:
        end = netstring.body_end(data, len(netstring.START), limits, budget)
        if end != located.end:
            raise WireError(RejectReason.MALFORMED, "the body does not end where its trailer starts")
        return _Frame(Encoding.NETSTRING, data, body_end=end, trailer=located.token)
    lines, end = classic.split(data, budget)
    if end != located.end or classic.auth_text(lines) != located.covered:
        raise WireError(RejectReason.MALFORMED, "lines do not match the authenticated text")
    return _Frame(Encoding.CLASSIC, data, lines=lines, nul=located.nul)


def _frame(data: bytes, limits: Limits) -> _Frame:
    """Frame without authenticating (inspect): the trailer is optional here."""
    if len(data) > limits.max_datagram:
        raise WireError(RejectReason.TOO_LARGE, f"{len(data)} bytes (cap {limits.max_datagram})")
    budget = Budget(limits)
    if data.startswith(netstring.START):
        end = netstring.body_end(data, len(netstring.START), limits, budget)
        frame = _Frame(Encoding.NETSTRING, data, body_end=end)
        if end < len(data):
            start, stop, after = netstring.read_netstring(data, end, limits, limits.max_token)
            if after != len(data):
                raise WireError(RejectReason.MALFORMED, "bytes after the auth trailer")
            frame.trailer = from_wire(data[start:stop])
        return frame
    if data.startswith(classic.START):
        lines, end = classic.split(data, budget)
        if data[end:] not in (b"", b"\0"):
            raise WireError(RejectReason.MALFORMED, "bytes after the '<<<' end marker")
        return _Frame(Encoding.CLASSIC, data, lines=lines, nul=end < len(data))
    if data.startswith(seal.MAGIC):
        raise WireError(RejectReason.ENCRYPTED, "sealed (chacha20poly1305): only the key opens it")
    raise WireError(RejectReason.BAD_MAGIC, repr(data[:4]))


def _interpret(frame: _Frame, budget: Budget) -> Message:
    if frame.encoding in (Encoding.NETSTRING, Encoding.SEALED):
        return netstring.parse_body(frame.data[:frame.body_end], 0, budget)
    assert frame.lines is not None
    return classic.interpret(frame.lines, 0, budget)


def _expand(message: Message, depth: int, budget: Budget) -> tuple[Message, str | None]:
    """Inflate a traditional envelope and every type-4 field (after auth)."""
    algorithm = message.get(ALGORITHM_FIELD)
    payload = message.get_bytes(COMPRESSED_FIELD)
    if payload is not None:
        inner = _inflate(algorithm, payload, depth + 1, budget)
        expanded, _ = _expand(inner, depth + 1, budget)
        return expanded, algorithm
    used: str | None = None
    fields: list[Field] = []
    for field in message.fields:
        if field.type is FieldType.COMPRESSED:
            assert isinstance(field.value, bytes)
            inner, _ = _expand(_inflate(algorithm, field.value, depth + 1, budget), depth + 1, budget)
            field, used = Field(field.name, inner, FieldType.UNCOMPRESSED), algorithm
        elif field.type is FieldType.STRUCT:
            assert isinstance(field.value, Message)
            inner, inner_used = _expand(field.value, depth + 1, budget)
            field, used = Field(field.name, inner, FieldType.STRUCT), used or inner_used
        fields.append(field)
    return Message(tuple(fields)), used


def _inflate(algorithm: str | None, payload: bytes, depth: int, budget: Budget) -> Message:
    budget.check_depth(depth)
    raw = compress.decompress(algorithm, payload, budget.inflate_room())
    budget.spend_inflated(len(raw))
    if raw.startswith(netstring.START):
        return netstring.parse_body(raw, depth, budget)
    if raw.startswith(classic.START):
        return classic.parse_nested(raw, depth, budget)
    raise WireError(RejectReason.MALFORMED, "compressed payload is not a message")


# --- encoding -------------------------------------------------------------------

def encode(message: Message, authkeys: AuthKeys, *, fmt: str = "netstring",
           inner_auth: bool = True, compression: CompressionPolicy | None = None,
           nul: bool = False, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The datagram to send for `message`, signed with `auth N`. See module doc.

    When `auth N` names an AEAD method, the message is sealed instead (seal.py):
    `authkeys` must then be a `seal.SessionKeys` (it carries the sending
    session), and `fmt`, `inner_auth` and `nul` do not apply.
    """
    if auth.is_aead(authkeys.signing_key.method):
        return _seal(message, authkeys, compression, limits)
    encoding = Encoding(fmt)
    policy = compression or CompressionPolicy()
    msg = compress_fields(message, policy)
    if inner_auth or encoding is Encoding.CLASSIC:
        msg = msg.with_field("auth", auth.inner_token(msg, authkeys), FieldType.STRING)
    else:
        msg = msg.without("auth")
    if encoding is Encoding.CLASSIC:
        data = classic.serialize(msg, nul=nul)
    else:
        data = sign_body(netstring.serialize(msg), authkeys)
    too_big = len(data) > limits.max_datagram
    if too_big or (compression is not None and compression.traditional
                   and len(data) > compression.threshold_bytes):
        data = _wrap(msg, authkeys, policy)
    if len(data) > limits.max_datagram:
        raise EncodeError(f"message of {len(data)} bytes exceeds {limits.max_datagram} even compressed")
    return data


def _seal(message: Message, authkeys: AuthKeys, compression: CompressionPolicy | None,
          limits: Limits) -> bytes:
    sealer = authkeys.sealer if isinstance(authkeys, seal.SessionKeys) else None
    if sealer is None:
        raise EncodeError(f"auth {authkeys.sign_index} seals messages: encode() needs "
                          "seal.SessionKeys (authkeys with a sending session)")
    policy = compression or CompressionPolicy()
    msg = compress_fields(message, policy).without("auth")
    body = netstring.serialize(msg)
    overhead = seal.HEADER.size + seal.TAG_BYTES
    if len(body) + overhead > limits.max_datagram or (
            compression is not None and compression.traditional
            and len(body) > compression.threshold_bytes):
        packed = compress.compress(policy.algorithm, _payload(msg, policy))
        body = netstring.serialize(Message((Field(COMPRESSED_FIELD, packed, FieldType.BINARY),
                                            Field(ALGORITHM_FIELD, policy.algorithm))))
    if len(body) + overhead > limits.max_datagram:
        raise EncodeError(f"message of {len(body) + overhead} bytes exceeds {limits.max_datagram} "
                          "even compressed")
    return seal.seal(authkeys.signing_key, sealer.session, sealer.next_counter(), body)


def sign_body(body: bytes, authkeys: AuthKeys) -> bytes:
    """A netstring body followed by its auth trailer."""
    return body + netstring.netstring(to_wire(auth.netstring_token(body, authkeys)))


def compress_fields(message: Message, policy: CompressionPolicy) -> Message:
    """Turn every type-5 (uncompressed) field, at any depth, into type 4."""
    if not any(f.type in (FieldType.UNCOMPRESSED, FieldType.STRUCT) for f in message.fields):
        return message
    fields: list[Field] = []
    compressed = False
    for field in message.fields:
        if field.type is FieldType.UNCOMPRESSED and isinstance(field.value, Message):
            raw = _payload(compress_fields(field.value, policy), policy)
            field, compressed = Field(field.name, compress.compress(policy.algorithm, raw),
                                      FieldType.COMPRESSED), True
        elif field.type is FieldType.STRUCT and isinstance(field.value, Message):
            field = Field(field.name, compress_fields(field.value, policy), FieldType.STRUCT)
        fields.append(field)
    out = Message(tuple(fields))
    return out.with_field(ALGORITHM_FIELD, policy.algorithm) if compressed else out


def _payload(message: Message, policy: CompressionPolicy) -> bytes:
    """A message as heartbeat compresses it: netstring body, or classic text + NUL."""
    structured = any(f.type in (FieldType.STRUCT, FieldType.COMPRESSED) for f in message.fields)
    if policy.msgfmt == "netstring" or structured:
        return netstring.serialize(message)
    return classic.serialize(message, nul=True)


def _wrap(message: Message, authkeys: AuthKeys, policy: CompressionPolicy) -> bytes:
    """Traditional compression: the whole message as one compressed binary field."""
    packed = compress.compress(policy.algorithm, _payload(message, policy))
    envelope = Message((Field(COMPRESSED_FIELD, packed, FieldType.BINARY),
                        Field(ALGORITHM_FIELD, policy.algorithm, FieldType.STRING)))
    return sign_body(netstring.serialize(envelope), authkeys)

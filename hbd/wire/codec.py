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
2. framing: netstring — walk the top-level items by their lengths only to
   find the "%%%\\n" that ends the body, then the trailer netstring, which
   must end the datagram; classic — cut lines, find the `auth` line;
3. authentication (spec §4.5, 3.0.6 semantics):
   netstring — the trailer must be present and parse as "<n> <hex>", n in
   0..15 and configured; the digest uses the METHOD of index n and the KEY of
   our own outbound index (the 3.0.6 quirk, see auth.trailer_secret); the
   inner `auth` field is ignored.
   classic — the `auth` field must be present, n configured, and the method
   and key of index n are computed over the classic text of the other lines;
4. only then are values interpreted (strings, base64, structs, lists), and
   compressed parts inflated under a per-datagram budget.

`Accepted.message` is the logical message: a traditional-compression envelope
is replaced by the message it carries, and each type-4 field becomes a type-5
(uncompressed) field holding the nested Message. `Accepted.wire` keeps the
fields exactly as they were on the wire, and `Accepted.to_bytes()` rebuilds
the datagram byte for byte from them (tokens kept as received).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hbd.config.model import AuthKey, AuthKeys
from hbd.wire import auth, classic, compress, netstring
from hbd.wire.compress import ALGORITHM_FIELD, COMPRESSED_FIELD, CompressionPolicy
from hbd.wire.errors import EncodeError, RejectReason, Rejected, WireError
from hbd.wire.limits import DEFAULT_LIMITS, Budget, Limits
from hbd.wire.message import Field, FieldType, Message, from_wire, to_wire


class Encoding(str, enum.Enum):
    NETSTRING = "netstring"
    CLASSIC = "classic"


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


@dataclass
class _Frame:
    encoding: Encoding
    data: bytes
    body_end: int = 0                            # netstring
    trailer: str | None = None                   # netstring
    lines: list[classic.Line] | None = None      # classic
    nul: bool = False                            # classic


# --- decoding -------------------------------------------------------------------

def decode(data: bytes, authkeys: AuthKeys, *, limits: Limits = DEFAULT_LIMITS) -> Accepted | Rejected:
    """Authenticate and parse one datagram. Never raises."""
    try:
        frame = _frame(bytes(data), limits)
        authnum = _authenticate(frame, authkeys)
        budget = Budget(limits)
        wire = _interpret(frame, budget)
        message, algorithm = _expand(wire, 0, budget)
        return Accepted(wire=wire, encoding=frame.encoding, trailer=frame.trailer,
                        nul=frame.nul, message=message, authnum=authnum,
                        compression=algorithm)
    except WireError as exc:
        return exc.rejected()
    except Exception as exc:  # a decoder bug must not take the daemon down
        return Rejected(RejectReason.INTERNAL, f"{type(exc).__name__}: {exc}")


def inspect(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Inspected | Rejected:
    """Parse without authenticating or inflating. For diagnostics only."""
    try:
        frame = _frame(bytes(data), limits)
        wire = _interpret(frame, Budget(limits))
        return Inspected(wire=wire, encoding=frame.encoding, trailer=frame.trailer, nul=frame.nul)
    except WireError as exc:
        return exc.rejected()
    except Exception as exc:
        return Rejected(RejectReason.INTERNAL, f"{type(exc).__name__}: {exc}")


def _frame(data: bytes, limits: Limits) -> _Frame:
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
    raise WireError(RejectReason.BAD_MAGIC, repr(data[:4]))


def _authenticate(frame: _Frame, authkeys: AuthKeys) -> int:
    if frame.encoding is Encoding.NETSTRING:
        if frame.trailer is None:
            raise WireError(RejectReason.NO_AUTH, "netstring message without auth trailer")
        index, received, key = _token_key(frame.trailer, authkeys)
        secret = auth.trailer_secret(authkeys, key)
        covered = frame.data[:frame.body_end]
        if not auth.verify_digest(key.method, secret, covered, received):
            raise WireError(RejectReason.AUTH_FAILED, f"trailer does not match (index {index})")
        return index
    assert frame.lines is not None
    token = next((ln.raw for ln in frame.lines
                  if ln.name == b"auth" and ln.type is FieldType.STRING), None)
    if token is None:
        raise WireError(RejectReason.NO_AUTH, "classic message without auth field")
    index, received, key = _token_key(from_wire(token), authkeys)
    if not auth.verify(key, classic.auth_text(frame.lines), received):
        raise WireError(RejectReason.AUTH_FAILED, f"auth field does not match (index {index})")
    return index


def _token_key(token: str, authkeys: AuthKeys) -> tuple[int, str, AuthKey]:
    parsed = auth.parse_token(token)
    if parsed is None:
        raise WireError(RejectReason.BAD_AUTH, f"auth token {token[:40]!r} is not '<n> <hex>'")
    index, received = parsed
    if index > auth.MAX_INDEX:
        raise WireError(RejectReason.BAD_AUTH_INDEX, f"auth index {index} outside 0..15")
    key = authkeys.get(index)
    if key is None:
        raise WireError(RejectReason.UNKNOWN_AUTH_INDEX, f"auth index {index} not configured")
    return index, received, key


def _interpret(frame: _Frame, budget: Budget) -> Message:
    if frame.encoding is Encoding.NETSTRING:
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
    """The datagram to send for `message`, signed with `auth N`. See module doc."""
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

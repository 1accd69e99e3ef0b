"""The netstring ("###") encoding: parse and serialize message bodies.

Grammar (spec heartbeat-wire.md §3.1; cluster-glue cl_netstring.c):

    body   = "###\\n" *item "%%%\\n"
    item   = len ":" "(" digit ")" name "=" value ","
    struct = body                       ; type 2, nested, no auth trailer
    list   = 1*(len ":" element ",")    ; type 3, elements non-empty

Rules kept here:

* Parsing is strictly by length. A value may hold any byte (binary values are
  raw bytes, `,` `:` `\\n` and NUL included); no delimiter is ever searched for
  inside a value. The only scan is for the `=` that ends a name, bounded by
  `max_name`.
* Lengths are plain decimal: no sign, no leading zero, at most
  `Limits.max_length_digits` digits (so an absurd prefix is refused before it
  is even converted to an int) and no more than the bytes that remain.
* Every item must start with "(" digit ")" — a 3.0.6 receiver asserts on
  anything else, so we neither accept nor emit such items. Types 0-4 are wire
  types; 5 (uncompressed-struct marker) is internal to the sender and refused.
* String values may not contain NUL (heartbeat keeps them as C strings and
  aborts on a length mismatch). List elements likewise, and may not be empty.
* Serializing is the exact inverse: `serialize(parse(x)) == x` for every body.
"""

from __future__ import annotations

from hbd.wire.errors import EncodeError, RejectReason, WireError
from hbd.wire.limits import Budget, Limits
from hbd.wire.message import Field, FieldType, Message, Value, from_wire, to_wire

START = b"###\n"
END = b"%%%\n"
WIRE_TYPES = (FieldType.STRING, FieldType.BINARY, FieldType.STRUCT,
              FieldType.LIST, FieldType.COMPRESSED)

_DIGITS = b"0123456789"


# --- reading ------------------------------------------------------------------

def read_length(data: bytes, pos: int, limits: Limits) -> tuple[int, int]:
    """Parse `len ":"` at `pos`; return (len, offset after the colon)."""
    # The common case in one search: a colon within the digit cap, plain ASCII
    # digits before it, no leading zero. Anything else takes the byte-by-byte
    # walk below, which names what is wrong.
    colon = data.find(b":", pos, pos + limits.max_length_digits + 1)
    if colon > pos:
        digits = data[pos:colon]
        if digits.isdigit() and (digits[0] != 0x30 or colon == pos + 1):
            return int(digits), colon + 1
    return _read_length_slowly(data, pos, limits)


def _read_length_slowly(data: bytes, pos: int, limits: Limits) -> tuple[int, int]:
    end = len(data)
    stop = pos
    cap = pos + limits.max_length_digits
    while stop < end and data[stop] in _DIGITS:
        if stop >= cap:
            raise WireError(RejectReason.FIELD_TOO_LONG, f"length prefix at {pos} too long")
        stop += 1
    if stop == pos:
        if pos >= end:
            raise WireError(RejectReason.TRUNCATED, f"length expected at {pos}")
        raise WireError(RejectReason.MALFORMED, f"length expected at {pos}")
    if data[pos] == 0x30 and stop - pos > 1:
        raise WireError(RejectReason.MALFORMED, f"length with leading zero at {pos}")
    if stop >= end:
        raise WireError(RejectReason.TRUNCATED, f"':' expected at {stop}")
    if data[stop] != 0x3A:
        raise WireError(RejectReason.MALFORMED, f"':' expected at {stop}")
    return int(data[pos:stop]), stop + 1


def read_netstring(data: bytes, pos: int, limits: Limits, cap: int) -> tuple[int, int, int]:
    """Parse one `len:payload,` at `pos`; return (payload start, payload end, next pos)."""
    length, start = read_length(data, pos, limits)
    if length > cap:
        raise WireError(RejectReason.FIELD_TOO_LONG, f"{length}-byte item at {pos} (cap {cap})")
    stop = start + length
    if stop >= len(data):
        raise WireError(RejectReason.TRUNCATED, f"{length}-byte item at {pos} runs past the end")
    if data[stop] != 0x2C:
        raise WireError(RejectReason.MALFORMED, f"',' expected at {stop}")
    return start, stop, stop + 1


def body_end(data: bytes, pos: int, limits: Limits, budget: Budget) -> int:
    """Walk the items of the body starting at `pos` (just after "###\\n") by
    their lengths only, and return the offset just past its "%%%\\n"."""
    while True:
        if data.startswith(END, pos):
            return pos + len(END)
        if pos >= len(data):
            raise WireError(RejectReason.TRUNCATED, "no '%%%' end marker")
        budget.count_field()
        _, _, pos = read_netstring(data, pos, limits, limits.max_value)


def parse_body(data: bytes, depth: int, budget: Budget) -> Message:
    """Parse `data`, which must be exactly one body ("###\\n" ... "%%%\\n")."""
    budget.check_depth(depth)
    if not data.startswith(START):
        raise WireError(RejectReason.MALFORMED, "nested message without '###'")
    limits = budget.limits
    fields: list[Field] = []
    pos = len(START)
    while not data.startswith(END, pos):
        if pos >= len(data):
            raise WireError(RejectReason.TRUNCATED, "no '%%%' end marker")
        budget.count_field()
        start, stop, pos = read_netstring(data, pos, limits, limits.max_value)
        fields.append(parse_item(data[start:stop], depth, budget))
    if pos + len(END) != len(data):
        raise WireError(RejectReason.MALFORMED, "bytes after the '%%%' end marker")
    return Message(tuple(fields))


def parse_item(item: bytes, depth: int, budget: Budget) -> Field:
    """One `(d)name=value` item (without its length prefix and comma)."""
    if len(item) < 5 or item[0] != 0x28 or item[2] != 0x29 or item[1] not in _DIGITS:
        raise WireError(RejectReason.MALFORMED, "item does not start with '(digit)'")
    code = item[1] - 0x30
    if code == FieldType.UNCOMPRESSED and depth > 0:
        # Inside a decompressed payload heartbeat writes a struct that was meant to be
        # compressed as "(5)name=<netstring body>" (captured: traditional compression).
        ftype = FieldType.UNCOMPRESSED
    elif code >= len(WIRE_TYPES):
        raise WireError(RejectReason.MALFORMED, f"field type {code} is not a wire type")
    else:
        ftype = WIRE_TYPES[code]
    name = split_name(item, 3, budget.limits)
    raw = item[3 + len(name) + 1:]
    return Field(from_wire(name), parse_value(ftype, raw, depth, budget), ftype)


def split_name(line: bytes, start: int, limits: Limits) -> bytes:
    """The name that starts at `start` and ends at the first '='."""
    eq = line.find(b"=", start, start + limits.max_name + 1)
    if eq < 0:
        if len(line) - start > limits.max_name:
            raise WireError(RejectReason.NAME_TOO_LONG, "field name too long")
        raise WireError(RejectReason.MALFORMED, "field without '='")
    name = line[start:eq]
    if not name or b"\0" in name:
        raise WireError(RejectReason.MALFORMED, "empty field name or NUL in name")
    return name


def parse_value(ftype: FieldType, raw: bytes, depth: int, budget: Budget) -> Value:
    if ftype is FieldType.STRING:
        if b"\0" in raw:
            raise WireError(RejectReason.MALFORMED, "NUL in a string value")
        return from_wire(raw)
    if ftype in (FieldType.STRUCT, FieldType.UNCOMPRESSED):
        return parse_body(raw, depth + 1, budget)
    if ftype is FieldType.LIST:
        return unpack_list(raw, budget)
    return raw  # BINARY, COMPRESSED (expanded only after authentication)


def unpack_list(raw: bytes, budget: Budget) -> tuple[str, ...]:
    """`len:element,` repeated; at least one element, none empty."""
    if not raw:
        raise WireError(RejectReason.MALFORMED, "empty list")
    out: list[str] = []
    pos = 0
    while pos < len(raw):
        budget.count_field()
        start, stop, pos = read_netstring(raw, pos, budget.limits, len(raw))
        element = raw[start:stop]
        if not element or b"\0" in element:
            raise WireError(RejectReason.MALFORMED, "empty list element or NUL in it")
        out.append(from_wire(element))
    return tuple(out)


# --- writing ------------------------------------------------------------------

def serialize(message: Message) -> bytes:
    """The body of `message`: "###\\n" items "%%%\\n" (no auth trailer)."""
    return START + b"".join(item(f) for f in message.fields) + END


def netstring(payload: bytes) -> bytes:
    return b"%d:%s," % (len(payload), payload)


def item(field: Field) -> bytes:
    name = to_wire(field.name)
    if not name or b"=" in name or b"\0" in name:
        raise EncodeError(f"field name {field.name!r} cannot be sent")
    if field.type not in WIRE_TYPES:
        raise EncodeError(f"field {field.name!r}: type {field.type.name} must be compressed first")
    return netstring(b"(%d)%s=%s" % (field.type.value, name, _value(field)))


def _value(field: Field) -> bytes:
    value = field.value
    if field.type is FieldType.STRING and isinstance(value, str):
        raw = to_wire(value)
        if b"\0" in raw:
            raise EncodeError(f"field {field.name!r}: NUL in a string value")
        return raw
    if field.type in (FieldType.BINARY, FieldType.COMPRESSED) and isinstance(value, bytes):
        return value
    if field.type is FieldType.STRUCT and isinstance(value, Message):
        return serialize(value)
    if field.type is FieldType.LIST and isinstance(value, tuple):
        return pack_list(value)
    raise EncodeError(f"field {field.name!r}: {type(value).__name__} value for type {field.type.name}")


def pack_list(elements: tuple[str, ...]) -> bytes:
    if not elements:
        raise EncodeError("heartbeat cannot carry an empty list")
    raws = [to_wire(e) for e in elements]
    if any(not raw or b"\0" in raw for raw in raws):
        raise EncodeError("list elements must be non-empty and free of NUL")
    return b"".join(netstring(raw) for raw in raws)

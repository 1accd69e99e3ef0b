"""The classic (">>>") encoding: parse and serialize messages, and the auth text.

Grammar (spec heartbeat-wire.md §3.2; cluster-glue cl_msg.c, cl_msg_types.c):

    datagram = ">>>\\n" *line "<<<\\n" [NUL]
    line     = [ "(" digit ")" ] name "=" text         ; prefix only when type != 0
    lines are separated by runs of CR/LF, which the parser skips

Values by type:

* 0 string: every "\\n" in the value is sent as byte 0x13 and turned back on
  receipt. A value that already holds 0x13, CR or NUL cannot be sent.
* 1 binary, 4 compressed: standard base64 with "=" padding, no line breaks.
* 2 struct: the nested message in classic form, its newlines mapped to a
  depth-specific byte (0x14 for depth 0, then 0x15 ... 0x1f, 0x0f ... 0x12).
* 3 list: `len:element,` repeated (as in the netstring encoding).

Rules kept here:

* `split()` only cuts lines and separates `(d)`, name and raw value text, so
  the caller can authenticate before interpreting anything (the auth text is
  the raw lines, which for a well-formed message is byte-for-byte the text
  3.0.6 recomputes from the parsed fields).
* An explicit "(0)" prefix is refused, as 3.0.6 does; types 5-9 too.
* After "<<<\\n" only one NUL is tolerated (older senders count it in the
  datagram length); anything else there is refused.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from hbd.wire import netstring
from hbd.wire.errors import EncodeError, RejectReason, WireError
from hbd.wire.limits import Budget
from hbd.wire.message import Field, FieldType, Message, Value, from_wire, to_wire

START = b">>>\n"
END = b"<<<\n"
NL_SYMBOL = 0x13
STRUCT_SYMBOLS = bytes([20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 15, 16, 17, 18])
WIRE_TYPES = netstring.WIRE_TYPES
_CRLF = b"\r\n"


@dataclass(frozen=True)
class Line:
    """One `[(d)]name=text` line, uninterpreted."""

    type: FieldType
    name: bytes
    raw: bytes        # the value text as sent
    text: bytes       # the whole line, without its line break


# --- reading ------------------------------------------------------------------

def split(data: bytes, budget: Budget) -> tuple[list[Line], int]:
    """Cut a classic message (starting with ">>>\\n") into lines.

    Returns the lines and the offset just past "<<<\\n".
    """
    limits = budget.limits
    max_line = limits.max_name + limits.max_value + 8
    lines: list[Line] = []
    pos = len(START)
    while True:
        while pos < len(data) and data[pos] in _CRLF:
            pos += 1
        if data.startswith(END, pos):
            return lines, pos + len(END)
        stop = _line_end(data, pos, max_line)
        budget.count_field()
        lines.append(parse_line(data[pos:stop], budget))
        pos = stop


def _line_end(data: bytes, pos: int, max_line: int) -> int:
    limit = min(len(data), pos + max_line + 1)
    cr = data.find(b"\r", pos, limit)
    lf = data.find(b"\n", pos, limit)
    ends = [i for i in (cr, lf) if i >= 0]
    if ends:
        return min(ends)
    if limit < len(data):
        raise WireError(RejectReason.FIELD_TOO_LONG, f"line at {pos} too long")
    raise WireError(RejectReason.TRUNCATED, "no '<<<' end marker")


def parse_line(text: bytes, budget: Budget) -> Line:
    ftype = FieldType.STRING
    start = 0
    if text.startswith(b"("):
        if len(text) < 3 or text[2] != 0x29 or not 0x31 <= text[1] <= 0x34:
            raise WireError(RejectReason.MALFORMED, "bad '(type)' prefix")
        ftype = WIRE_TYPES[text[1] - 0x30]
        start = 3
    name = netstring.split_name(text, start, budget.limits)
    raw = text[start + len(name) + 1:]
    if len(raw) > budget.limits.max_value:
        raise WireError(RejectReason.FIELD_TOO_LONG, "value too long")
    return Line(ftype, name, raw, text)


def interpret(lines: list[Line], depth: int, budget: Budget) -> Message:
    """Turn split lines into a Message (after authentication)."""
    return Message(tuple(Field(from_wire(line.name), _value(line, depth, budget), line.type)
                         for line in lines))


def _value(line: Line, depth: int, budget: Budget) -> Value:
    raw = line.raw
    if line.type is FieldType.STRING:
        if b"\0" in raw:
            raise WireError(RejectReason.MALFORMED, "NUL in a string value")
        return from_wire(raw.replace(bytes([NL_SYMBOL]), b"\n"))
    if line.type in (FieldType.BINARY, FieldType.COMPRESSED):
        try:
            return binascii.a2b_base64(raw, strict_mode=True)
        except (binascii.Error, ValueError):
            raise WireError(RejectReason.MALFORMED, f"field {line.name!r}: bad base64") from None
    if line.type is FieldType.LIST:
        return netstring.unpack_list(raw, budget)
    budget.check_depth(depth + 1)
    nested = raw.replace(STRUCT_SYMBOLS[depth:depth + 1], b"\n")
    return parse_nested(nested, depth + 1, budget)


def parse_nested(data: bytes, depth: int, budget: Budget) -> Message:
    """A whole classic message used as a value (struct) or payload; no auth."""
    budget.check_depth(depth)
    if not data.startswith(START):
        raise WireError(RejectReason.MALFORMED, "nested message without '>>>'")
    lines, end = split(data, budget)
    if data[end:] not in (b"", b"\0"):
        raise WireError(RejectReason.MALFORMED, "bytes after the '<<<' end marker")
    return interpret(lines, depth, budget)


def auth_text(lines: list[Line], skip: str = "auth") -> bytes:
    """The text the inner authenticator covers: every line but `skip`, each + "\\n"."""
    name = skip.encode()
    return b"".join(line.text + b"\n" for line in lines if line.name != name)


# --- writing ------------------------------------------------------------------

def serialize(message: Message, *, nul: bool = False, depth: int = 0) -> bytes:
    """">>>\\n" lines "<<<\\n", plus a NUL when `nul` (as older senders do)."""
    return START + lines(message, depth=depth) + END + (b"\0" if nul else b"")


def lines(message: Message, *, depth: int = 0, skip: str | None = None) -> bytes:
    """The field lines of `message`, each ending in "\\n"; `skip` omits a name."""
    return b"".join(line(f, depth) for f in message.fields if f.name != skip)


def line(field: Field, depth: int = 0) -> bytes:
    name = to_wire(field.name)
    if not name or any(c in name for c in b"=\r\n\0"):
        raise EncodeError(f"field name {field.name!r} cannot be sent")
    if field.type is FieldType.STRING:
        if name.startswith(b"("):
            raise EncodeError(f"string field name {field.name!r} cannot start with '('")
        return name + b"=" + _string(field) + b"\n"
    if field.type not in WIRE_TYPES:
        raise EncodeError(f"field {field.name!r}: type {field.type.name} must be compressed first")
    return b"(%d)%s=%s\n" % (field.type.value, name, _typed(field, depth))


def _string(field: Field) -> bytes:
    if not isinstance(field.value, str):
        raise EncodeError(f"field {field.name!r}: string field holds {type(field.value).__name__}")
    raw = to_wire(field.value)
    if any(c in raw for c in (NL_SYMBOL, 0x0D, 0)):
        raise EncodeError(f"field {field.name!r}: 0x13, CR or NUL cannot be sent in classic form")
    return raw.replace(b"\n", bytes([NL_SYMBOL]))


def _typed(field: Field, depth: int) -> bytes:
    value = field.value
    if field.type in (FieldType.BINARY, FieldType.COMPRESSED) and isinstance(value, bytes):
        return binascii.b2a_base64(value, newline=False)
    if field.type is FieldType.LIST and isinstance(value, tuple):
        packed = netstring.pack_list(value)
        if b"\n" in packed or b"\r" in packed:
            raise EncodeError(f"list {field.name!r}: line breaks cannot be sent in classic form")
        return packed
    if field.type is FieldType.STRUCT and isinstance(value, Message):
        if depth >= len(STRUCT_SYMBOLS):
            raise EncodeError(f"struct {field.name!r} nested too deep")
        text = serialize(value, depth=depth + 1)
        symbol = STRUCT_SYMBOLS[depth:depth + 1]
        if symbol in text or b"\r" in text:
            raise EncodeError(f"struct {field.name!r} holds its own separator byte")
        return text.replace(b"\n", symbol)
    raise EncodeError(f"field {field.name!r}: {type(value).__name__} value for type {field.type.name}")

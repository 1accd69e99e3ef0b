"""Heartbeat's logical message: an ordered list of typed fields.

Order matters (the authenticator is computed over the fields as sent), names
and values are case-sensitive, and a name may in principle repeat; lookups
return the first match, as heartbeat's `ha_msg_value()` does.

String values are `str`. They are decoded from the wire as UTF-8 with
`surrogateescape`, so any byte sequence survives a decode/encode round trip
unchanged. Binary values are `bytes`; structs are nested `Message`s; lists are
tuples of `str`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Union

WIRE_ENCODING = "utf-8"
WIRE_ERRORS = "surrogateescape"


def to_wire(text: str) -> bytes:
    return text.encode(WIRE_ENCODING, WIRE_ERRORS)


def from_wire(raw: bytes) -> str:
    return raw.decode(WIRE_ENCODING, WIRE_ERRORS)


class FieldType(enum.IntEnum):
    STRING = 0
    BINARY = 1
    STRUCT = 2
    LIST = 3
    COMPRESSED = 4
    UNCOMPRESSED = 5


Value = Union[str, bytes, "Message", tuple[str, ...]]


@dataclass(frozen=True)
class Field:
    name: str
    value: Value
    type: FieldType = FieldType.STRING


@dataclass(frozen=True)
class Message:
    fields: tuple[Field, ...] = ()

    # --- construction --------------------------------------------------------
    @classmethod
    def of(cls, *pairs: tuple[str, Value], **named: Value) -> Message:
        """Build from (name, value) pairs then keyword fields, in that order.

        The type is inferred: bytes -> BINARY, Message -> STRUCT,
        tuple -> LIST, anything else -> STRING (via str()).
        """
        items = list(pairs) + list(named.items())
        return cls(tuple(_infer(name, value) for name, value in items))

    # --- reading -------------------------------------------------------------
    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def get(self, name: str, default: str | None = None) -> str | None:
        f = self.field(name)
        if f is None or f.type is not FieldType.STRING:
            return default
        return f.value  # type: ignore[return-value]

    def get_bytes(self, name: str) -> bytes | None:
        f = self.field(name)
        if f is None or f.type is not FieldType.BINARY:
            return None
        return f.value  # type: ignore[return-value]

    def __contains__(self, name: object) -> bool:
        return any(f.name == name for f in self.fields)

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    @property
    def type(self) -> str | None:
        """The message type (`t`)."""
        return self.get("t")

    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    # --- editing (returns new messages) -----------------------------------------
    def with_field(self, name: str, value: Value, type: FieldType | None = None) -> Message:
        """Replace the first field called `name` in place, or append it."""
        new = _infer(name, value) if type is None else Field(name, value, type)
        out = list(self.fields)
        for i, f in enumerate(out):
            if f.name == name:
                out[i] = new
                return Message(tuple(out))
        out.append(new)
        return Message(tuple(out))

    def with_fields(self, items: Iterable[tuple[str, Value]]) -> Message:
        msg = self
        for name, value in items:
            msg = msg.with_field(name, value)
        return msg

    def without(self, name: str) -> Message:
        return Message(tuple(f for f in self.fields if f.name != name))

    def as_dict(self) -> dict[str, Value]:
        """First value of each name (for logs and tests)."""
        out: dict[str, Value] = {}
        for f in self.fields:
            out.setdefault(f.name, f.value)
        return out


def _infer(name: str, value: Value) -> Field:
    if isinstance(value, (bytes, bytearray)):
        return Field(name, bytes(value), FieldType.BINARY)
    if isinstance(value, Message):
        return Field(name, value, FieldType.STRUCT)
    if isinstance(value, tuple):
        return Field(name, tuple(str(v) for v in value), FieldType.LIST)
    return Field(name, str(value), FieldType.STRING)

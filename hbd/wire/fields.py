"""Numbers in header fields, read within the range heartbeat 3.0.6 itself produces.

The codec hands the core strings; a peer (or anyone holding the key, or anyone
at all with `crc`) can put anything there. Python's `int()` accepts far more
than heartbeat writes — Unicode digits ("²", "٣"), "_" separators, signs,
blanks, thousands of digits — and an absurd value that parses (`dt` of 2.8e11
seconds, `hg` of 7fffffff) is worse than one that does not. These helpers
accept exactly the spelling heartbeat uses (ASCII digits, at most a given
number of them) and return None for anything else; `RANGES` says, per field,
what 3.0.6 sends (spec heartbeat-wire.md §5), so that the core can drop an
out-of-range value as a counted drop instead of an exception.

    bounded_hex("1f40", 8) == 8000        bounded_hex("²", 8) is None
    bounded_dec("12", 3) == 12            read(message, "dt") -> int | None

The ranges are representational (what a 3.0.6 sender can emit at all); the
core may apply a tighter policy (e.g. `dt` no longer than some multiple of the
local deadtime) on top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hbd.wire.message import Message

_HEX = re.compile(r"[0-9a-fA-F]+")
_DEC = re.compile(r"[0-9]+")
U64 = 2**64 - 1
MAXNODE = 100           # heartbeat's node table size (hb_api.h), ping nodes included


def bounded_hex(text: str | None, max_digits: int) -> int | None:
    """`text` as heartbeat's "%lx" writes it (ASCII hex, 1..max_digits digits), else None.

    Leading zeros and upper case are read (as sscanf's "%lx" would), never
    signs, blanks, "0x" or non-ASCII digits.
    """
    if text is None or not 0 < len(text) <= max_digits or not _HEX.fullmatch(text):
        return None
    return int(text, 16)


def bounded_dec(text: str | None, max_digits: int) -> int | None:
    """`text` as "%d"/"%u" writes it (ASCII decimal, 1..max_digits digits), else None."""
    if text is None or not 0 < len(text) <= max_digits or not _DEC.fullmatch(text):
        return None
    return int(text, 10)


@dataclass(frozen=True)
class FieldRange:
    """How heartbeat writes one numeric field, and the values it can write."""

    base: int               # 16 or 10
    low: int
    high: int
    produced_by: str        # where 3.0.6's value comes from

    @property
    def max_digits(self) -> int:
        return len(f"{self.high:x}") if self.base == 16 else len(str(self.high))

    def parse(self, text: str | None) -> int | None:
        """The value, or None when it is not spelled as heartbeat spells it or out of range."""
        reader = bounded_hex if self.base == 16 else bounded_dec
        value = reader(text, self.max_digits)
        if value is None or not self.low <= value <= self.high:
            return None
        return value


RANGES: dict[str, FieldRange] = {
    "seq": FieldRange(16, 1, U64, "per-sender counter from 1, %lx of an unsigned long"),
    "hg": FieldRange(16, 1, U64, "generation: time()+1 on first start, +1 per start, %lx"),
    "ts": FieldRange(16, 1, U64, "sender's time() in seconds, %lx"),
    "dt": FieldRange(16, 1, 2**31 - 1,
                     "sender's deadtime in ms (+2000 at start, +30000 on restart), %lx of a "
                     "long: 31 bits on every platform heartbeat supports"),
    "ackseq": FieldRange(16, 1, U64, "NS_ackmsg: highest seq acknowledged, %lx"),
    "ttl": FieldRange(10, 0, 255, "hopfudge + nodecount (at most MAXNODE), %d"),
    "protocol": FieldRange(10, 0, 255, "1 (flow control capable), %d"),
    "firstseq": FieldRange(10, 1, U64, "NS_rexmit: decimal (NS_nak_rexmit writes it in hex)"),
    "lastseq": FieldRange(10, 1, U64, "NS_rexmit: decimal"),
    "num_ping": FieldRange(10, 0, MAXNODE, "ipfail's ping node count, %d"),
    "client_gen": FieldRange(10, 0, 2**31 - 1, "API client generation, %d"),
    "hbd_ping": FieldRange(10, 0, MAXNODE, "hbd: ping nodes this node reaches"),
}


def read(message: Message, name: str, table: dict[str, FieldRange] | None = None) -> int | None:
    """The string field `name` of `message` as a number within its range, else None.

    `NS_nak_rexmit` carries `firstseq` in hex: read it with
    `RANGES["seq"].parse(message.get("firstseq"))`.
    """
    spec = (RANGES if table is None else table).get(name)
    if spec is None:
        raise KeyError(f"no range known for field {name!r}")
    return spec.parse(message.get(name))


def bounded_words(text: str | None, *, max_words: int, max_length: int) -> tuple[str, ...] | None:
    """Blank-separated words (as `hbd_hold`, `nodelist` carry them), or None when
    there are more than `max_words` or one is longer than `max_length`."""
    if text is None:
        return None
    if len(text) > max_words * (max_length + 1) + 1:
        return None
    found = tuple(text.split())
    if len(found) > max_words or any(len(w) > max_length for w in found):
        return None
    return found

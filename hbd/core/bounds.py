"""What a peer may say in a header: nothing is believed beyond heartbeat's own ranges.

An authenticated message can still be a forgery (crc authenticates nothing;
a leaked key) or garbage from a broken peer. Every header number the core
acts on is checked against what heartbeat 3.0.6 (or hbd) itself produces; a
message with a number out of range is dropped and counted, never acted on:

| field | heartbeat produces | accepted |
|---|---|---|
| `seq` | a counter from 1 (hex) | 1 .. 2^63-1 |
| `hg` | `time()` at first start, then + 1 per restart (hex) | 0 .. 2^32-1, and at most `GENERATION_LEAP` above the generation known for the sender unless it is not ahead of this node's clock (+ a day): a first start after a lost state dir restarts at `time()` |
| `dt` | its deadtime in ms (hex) | 1 ms .. max(1 h, 10 x our deadtime) |
| `ts` | `time()` (hex) | at most 16 hex digits |
| `ttl` | hopfudge + nodes (decimal) | 0 .. 255 |

(`hbd_*` fields are bounded where they are read, `announce.py`.) Without
this, `dt=ffffffffffff` kept a dead peer "alive" for 2.8e11 s and
`hg=7fffffff` made the real peer's packets drop as replays.
"""

from __future__ import annotations

from hbd.wire.message import Message

MAX_SEQ = 2 ** 63 - 1
MAX_GENERATION = 0xFFFFFFFF
GENERATION_LEAP = 65536
WALL_SLACK = 86400.0
MAX_DT_MS = 3_600_000
MAX_TTL = 255
MAX_HEX_DIGITS = 16


def hex_value(text: str | None, limit: int) -> int | None:
    """A hex number of at most 16 digits and at most `limit`, else None."""
    if not text or len(text) > MAX_HEX_DIGITS:
        return None
    try:
        value = int(text, 16)
    except ValueError:
        return None
    return value if 0 <= value <= limit else None


def header_problem(msg: Message, *, sequenced: bool, known_generation: int | None,
                   wall_now: float, deadtime: float) -> str | None:
    """The first header field out of range (its name), or None."""
    if sequenced:
        seq = hex_value(msg.get("seq"), MAX_SEQ)
        if seq is None or seq == 0:
            return "seq"
    hg_text = msg.get("hg")
    if hg_text is not None:
        hg = hex_value(hg_text, MAX_GENERATION)
        if hg is None:
            return "hg"
        if (known_generation is not None and hg > known_generation + GENERATION_LEAP
                and hg > wall_now + WALL_SLACK):
            return "hg"
    dt_text = msg.get("dt")
    if dt_text is not None:
        dt = hex_value(dt_text, max(MAX_DT_MS, int(10 * deadtime * 1000)))
        if not dt:
            return "dt"
    ts_text = msg.get("ts")
    if ts_text is not None and hex_value(ts_text, 2 ** 64 - 1) is None:
        return "ts"
    ttl = msg.get("ttl")
    if ttl is not None and not (ttl.isascii() and ttl.isdigit() and len(ttl) <= 3
                                and int(ttl) <= MAX_TTL):
        return "ttl"
    return None

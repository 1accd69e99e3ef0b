"""Handler factories for ha.cf directives that take one plain value.

Each factory returns a handler `(builder, token) -> None` that checks the
token and stores it in a `HaCf` field (or only checks it when `field` is
None). Numbers are read two ways, as heartbeat 3.0.6 does:

* `values.check_int` is strict (hbd's own checks, e.g. mcast fields);
* `atoi` reads like C's `atoi`, which heartbeat uses for `hopfudge`,
  `udpport`, `debug`, `rtprio`, `memreserve`, `compression_threshold` and
  `max_rexmit_delay`: the leading digits count and the rest of the word is
  ignored (`max_rexmit_delay 250ms` is 250, `hopfudge x` is 0). hbd takes
  the same value and warns when the word had more than a number.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hbd.config.builder import HaCfBuilder
from hbd.config.lexer import BOOL_HELP, parse_bool, suggest
from hbd.config.timeval import parse_time

Handler = Callable[[HaCfBuilder, str], None]
_LEADING_INT = re.compile(r"^[+-]?[0-9]+")


def time_value(name: str, field: str | None = None) -> Handler:
    def handle(b: HaCfBuilder, text: str) -> None:
        seconds, problem = parse_time(text)
        if problem:
            b.error(f"{name}: {problem}")
        elif field:
            b.set_field(field, seconds)
    return handle


def boolean(name: str, field: str | None = None) -> Handler:
    def handle(b: HaCfBuilder, text: str) -> None:
        value = parse_bool(text)
        if value is None:
            b.error(f"{name}: '{text}' is not a boolean; {BOOL_HELP}")
        elif field:
            b.set_field(field, value)
    return handle


def c_atoi(text: str) -> int:
    """C's atoi for the words ha.cf holds: leading sign and digits, else 0."""
    match = _LEADING_INT.match(text)
    return int(match.group(0)) if match else 0


def atoi(name: str, low: int, high: int, field: str | None = None, scale: float = 1) -> Handler:
    def handle(b: HaCfBuilder, text: str) -> None:
        value = c_atoi(text)
        clean = str(value) == text.lstrip("+")
        if not low <= value <= high:
            what = (f"{name} {value}" if clean else f"{name}: '{text}' is read as {value} "
                    "(heartbeat stops at the first non-digit), and that")
            b.error(f"{what} is out of range; write a number from {low} to {high}")
            return
        if not clean:
            b.warning(f"{name}: heartbeat reads '{text}' as {value} (it ignores what follows "
                      f"the leading digits); hbd does the same: write '{name} {value}'")
        if field:
            b.set_field(field, value * scale if scale != 1 else value)
    return handle


def choice(name: str, choices: tuple[str, ...], field: str | None = None) -> Handler:
    def handle(b: HaCfBuilder, text: str) -> None:
        if text not in choices:
            hint = suggest(text, choices)
            extra = f" (did you mean '{hint}'?)" if hint else ""
            b.error(f"{name}: '{text}' is not valid{extra}; write one of: {', '.join(choices)}")
        elif field:
            b.set_field(field, text)
    return handle


def path(name: str, field: str | None = None) -> Handler:
    def handle(b: HaCfBuilder, text: str) -> None:
        if not text.startswith("/"):
            b.error(f"{name}: '{text}' is not an absolute path; write e.g. '{name} /var/log/ha-log'")
        elif field:
            b.set_field(field, text)
    return handle


def string(field: str | None = None) -> Handler:
    def handle(b: HaCfBuilder, text: str) -> None:
        if field:
            b.set_field(field, text)
    return handle

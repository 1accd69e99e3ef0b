"""Time values in ha.cf, read exactly as cluster-glue's `cl_get_msec` does.

* A bare number is **seconds**; decimals are allowed (`2`, `0.5`).
* A unit starting with `ms` (`ms`, `msec`) means milliseconds, one starting
  with `us` (`us`, `usec`) microseconds, case-insensitive.
* Blanks between the number and the unit are allowed.
* **Any other suffix is an error**: `5s`, `1min`, `2m` are rejected. The
  message says what to write instead (`5`, `60`, `120`).
* The value is rounded to the nearest millisecond.

hbd is stricter than `cl_get_msec` in one way: text that is not a number at
all (`ms` on its own, `1.2.3`, `-1`) is an error instead of silently 0 or a
truncated value.
"""

from __future__ import annotations

import re

_TIME = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(.*)$", re.S)
# Suffixes people write, with the number of seconds each stands for.
_KNOWN_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
}


def _plain(number: float) -> str:
    return f"{number:g}" if number != int(number) else str(int(number))


def _unit_hint(number: float, unit: str) -> str:
    seconds = _KNOWN_UNITS.get(unit.lower())
    if seconds is None:
        return "write a bare number of seconds (2, 0.5) or add ms/us (500ms)"
    value = _plain(number * seconds)
    return f"a bare number is already seconds: write {value}"


def parse_time(text: str) -> tuple[float | None, str | None]:
    """(seconds, None) for a valid time value, (None, message) otherwise."""
    raw = text.strip(" \t")
    match = _TIME.match(raw)
    if match is None:
        return None, (f"'{text}' is not a time value: write seconds (2, 0.5) "
                      "or milliseconds (500ms)")
    number, unit = float(match.group(1)), match.group(2).strip()
    lowered = unit.lower()
    if not unit:
        msec = number * 1000.0
    elif lowered.startswith("ms"):
        msec = number
    elif lowered.startswith("us"):
        msec = number / 1000.0
    else:
        return None, (f"'{text}' has the unit '{unit}', which heartbeat rejects; "
                      + _unit_hint(number, unit))
    return int(msec + 0.5) / 1000.0, None


def format_seconds(seconds: float) -> str:
    """Seconds as ha.cf would write them: `2s` style for humans, `500ms` below 1 s."""
    if seconds >= 1.0 or seconds == 0.0:
        return f"{_plain(round(seconds, 3))}s"
    return f"{_plain(round(seconds * 1000.0, 3))}ms"


def as_written(seconds: float) -> str:
    """Seconds as a value to write in ha.cf: `60`, `0.5` is written `500ms`."""
    if seconds == int(seconds):
        return str(int(seconds))
    return f"{_plain(round(seconds * 1000.0, 3))}ms"

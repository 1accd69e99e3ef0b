"""Caps on configuration input: how much hbd reads, and how many problems it reports.

A configuration file is small: a real ha.cf or haresources is a few KB, an
authkeys holds at most 16 keys. hbd never reads more than `MAX_BYTES` of a
file: anything larger is refused with one error naming the file, before it is
parsed (a 100 MiB file costs one bounded read). A parser stops after
`MAX_ERRORS` errors, or `MAX_PROBLEMS` problems of any kind, and ends the list
with one "... and more" line, as a compiler does: the first errors are the
ones worth fixing, and the work stays bounded whatever the file holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from hbd.config.model import Problem, Severity

KIB = 1024
MAX_BYTES = {
    "ha.cf": 1024 * KIB,
    "haresources": 1024 * KIB,
    "authkeys": 64 * KIB,
    "hbd.cf": 256 * KIB,
    "nodeinfo": 4 * KIB,
}
DEFAULT_MAX_BYTES = 1024 * KIB
MAX_ERRORS = 20
MAX_PROBLEMS = 100


def max_bytes(name: str) -> int:
    """The most hbd reads of the configuration file called `name`."""
    return MAX_BYTES.get(name, DEFAULT_MAX_BYTES)


def too_big(size: int, limit: int) -> str:
    """The message for a file of `size` bytes over `limit`."""
    return (f"file is {size} bytes, more than the {limit // KIB} KiB hbd reads in a "
            "configuration file: is this the right file? Nothing in it was read")


def full(problems: Sequence[Problem]) -> bool:
    """True once `problems` holds enough to stop reading the file."""
    if len(problems) >= MAX_PROBLEMS:
        return True
    return sum(p.severity is Severity.ERROR for p in problems) >= MAX_ERRORS


def and_more(source: str, line: int | None) -> Problem:
    """The closing line of a list cut short by `full` (an error: the rest was not read)."""
    errors = f"{MAX_ERRORS} errors or {MAX_PROBLEMS} problems"
    return Problem(source, line, Severity.ERROR,
                   f"... and more errors: hbd stopped reading this file after {errors}; "
                   "fix these first")


def capped(problems: list[Problem], source: str) -> list[Problem]:
    """`problems` cut after the cap, with the closing line (for parsers hbd does not own)."""
    kept: list[Problem] = []
    for problem in problems:
        if full(kept):
            return kept + [and_more(source, problem.line)]
        kept.append(problem)
    return kept

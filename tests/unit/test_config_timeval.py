"""Time values as heartbeat's cl_get_msec reads them (semantics §1.1)."""

from __future__ import annotations

import pytest

from hbd.config.timeval import as_written, format_seconds, parse_time


@pytest.mark.parametrize("text, seconds", [
    ("2", 2.0), ("0.5", 0.5), (".5", 0.5), ("2.", 2.0), ("500ms", 0.5), ("500msec", 0.5),
    ("500 ms", 0.5), ("500\tmsec", 0.5), ("1500us", 0.002), ("1500usec", 0.002), ("499us", 0.0),
    ("1MS", 0.001), ("  3", 3.0), ("0", 0.0), ("0.0004", 0.0), ("0.0005", 0.001), ("60", 60.0),
])
def test_parse_time_accepts_cl_get_msec_forms(text: str, seconds: float) -> None:
    assert parse_time(text) == (seconds, None)


@pytest.mark.parametrize("text, hint", [
    ("5s", "write 5"), ("1min", "write 60"), ("2m", "write 120"), ("1h", "write 3600"),
    ("0.5sec", "write 0.5"), ("10x", "bare number of seconds"),
])
def test_parse_time_rejects_other_suffixes_saying_what_to_write(text: str, hint: str) -> None:
    seconds, problem = parse_time(text)
    assert seconds is None
    assert problem is not None and hint in problem and "rejects" in problem


@pytest.mark.parametrize("text", ["", "ms", "-1", "abc", ".", "1.2.3"])
def test_parse_time_rejects_non_numbers(text: str) -> None:
    seconds, problem = parse_time(text)
    assert seconds is None and problem


def test_format_and_as_written() -> None:
    assert format_seconds(2.0) == "2s" and format_seconds(0.5) == "500ms"
    assert format_seconds(1.5) == "1.5s" and format_seconds(0.0) == "0s"
    assert as_written(60.0) == "60" and as_written(0.5) == "500ms"

"""Lexical helpers: comments, word splitting, booleans, suggestions."""

from __future__ import annotations

import pytest

from hbd.config.lexer import (option_tokens, parse_bool, physical_lines, shorten, split_directive,
                              strip_comment, strip_shell_comment, suggest, unusual_blanks, words)


def test_hash_starts_a_comment_anywhere_in_ha_cf() -> None:
    assert strip_comment("node a#b c") == "node a"
    assert strip_comment("# all") == ""


def test_shell_comment_needs_a_word_start() -> None:
    assert strip_shell_comment("node0 a#b # c") == "node0 a#b"
    assert strip_shell_comment("#x") == ""


def test_option_tokens_split_on_blanks_and_commas() -> None:
    assert option_tokens(" a, b,,c\td ") == ["a", "b", "c", "d"]
    assert words("a,b c") == ["a,b", "c"]


def test_split_directive_and_crlf() -> None:
    assert split_directive("  keepalive   2 3 ") == ("keepalive", "2 3")
    assert list(physical_lines("a\r\nb")) == [(1, "a"), (2, "b")]


@pytest.mark.parametrize("word, value", [
    ("true", True), ("On", True), ("YES", True), ("y", True), ("1", True),
    ("false", False), ("off", False), ("No", False), ("n", False), ("0", False), ("maybe", None),
])
def test_parse_bool_accepts_heartbeat_words(word: str, value: bool | None) -> None:
    assert parse_bool(word) is value


def test_suggest_and_unusual_blanks() -> None:
    assert suggest("keepaliv", ["keepalive", "deadtime"]) == "keepalive"
    assert suggest("zzz", ["keepalive"]) is None
    assert unusual_blanks("keepalive 2\u00a0") == ["U+00A0"]
    assert unusual_blanks("keepalive 2 \t") == []
    assert shorten("x" * 50, 10) == "xxxxxxx..."

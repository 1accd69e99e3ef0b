"""Lexical helpers shared by the ha.cf, haresources and authkeys parsers.

The rules are heartbeat 3.0.6's (see docs: heartbeat-semantics.md §1.1):

* A file is read one line at a time; CR and LF are stripped.
* In ha.cf and authkeys `#` starts a comment **anywhere** on the line. In
  haresources a `#` starts a comment only at the start of a word (the shell's
  rule; `ResourceManager` is a shell script).
* Words are separated by blanks. Option-list directives also split on commas.
* Booleans: true/false, on/off, yes/no, y/n, 1/0, case-insensitive.

Heartbeat's C code only treats ASCII blanks as separators. Configurations
pasted from web pages often carry U+00A0 (no-break space) instead; hbd treats
any Unicode blank as a separator but reports it (`unusual_blanks`), because
heartbeat would read the character as part of a word and reject the line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator

ASCII_BLANKS = " \t\r\n\f\v"
_WORD_SPLIT = re.compile(r"\s+")
_OPTION_SPLIT = re.compile(r"[\s,]+")
_SHELL_COMMENT = re.compile(r"(^|\s)#")

TRUE_WORDS = frozenset({"true", "on", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "off", "no", "n", "0"})


def physical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) for each line of `text`, CR/LF removed."""
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line.rstrip("\r")


def strip_comment(line: str) -> str:
    """The part of `line` before the first `#` (ha.cf and authkeys rule)."""
    cut = line.find("#")
    return line if cut < 0 else line[:cut]


def strip_shell_comment(line: str) -> str:
    """The part of `line` before a `#` that starts a word (haresources rule)."""
    match = _SHELL_COMMENT.search(line)
    return line if match is None else line[:match.start()]


def words(text: str) -> list[str]:
    """Blank-separated words (any Unicode blank)."""
    return [w for w in _WORD_SPLIT.split(text) if w]


def option_tokens(text: str) -> list[str]:
    """Words of an option-list directive: blanks **and commas** separate."""
    return [w for w in _OPTION_SPLIT.split(text) if w]


def split_directive(line: str) -> tuple[str, str]:
    """Split a comment-free line into its first word and the rest."""
    stripped = line.strip()
    parts = _WORD_SPLIT.split(stripped, maxsplit=1)
    rest = parts[1] if len(parts) > 1 else ""
    return parts[0], rest.strip()


def unusual_blanks(line: str) -> list[str]:
    """Names of non-ASCII blank characters in `line` (e.g. 'U+00A0')."""
    found = sorted({ch for ch in line if ch.isspace() and ch not in ASCII_BLANKS})
    return [f"U+{ord(ch):04X}" for ch in found]


def parse_bool(text: str) -> bool | None:
    """Heartbeat's boolean words; None when `text` is not one of them."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


BOOL_HELP = "write one of on/off, yes/no, true/false, y/n, 1/0"


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest of `choices` to `word`, if any is reasonably close."""
    options = list(choices)
    lowered = word.lower()
    if lowered in options and lowered != word:
        return lowered
    close = difflib.get_close_matches(lowered, options, n=1, cutoff=0.7)
    return close[0] if close else None


def shorten(text: str, limit: int = 40) -> str:
    """`text` cut to `limit` characters for messages (prose lines can be long)."""
    return text if len(text) <= limit else text[:limit - 3] + "..."

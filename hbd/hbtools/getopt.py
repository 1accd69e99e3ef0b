"""Short options the way glibc's getopt(3) reads them, for cl_status's sub-commands.

heartbeat's cl_status calls getopt() on the words after the sub-command, so
what it accepts, and what it prints on stderr, is glibc's: options may come
before, between or after the operands (GNU permutation, unless
POSIXLY_CORRECT is set), clusters like `-mv` work, `--` ends the options, a
required argument is the rest of the word or the next word, and a bad option
is reported as

    listnodes: invalid option -- 'x'
    hbparameter: option requires an argument -- 'p'

then returned as `?`. Messages are written lazily, as the caller walks the
options: a caller that stops at the first `?` reports only that one, as
cl_status does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TextIO


class Options:
    """`for option, argument in Options(prog, words, "mp:", stderr)`; then `operands`.

    `option` is the letter, or `?` for a bad one; `operands` holds the other
    words in order (complete once the walk has ended)."""

    def __init__(self, prog: str, words: list[str], optstring: str, err: TextIO) -> None:
        self.prog = prog
        self.words = list(words)
        self.optstring = optstring
        self.err = err
        self.operands: list[str] = []

    def _takes_argument(self, letter: str) -> bool | None:
        """None when `letter` is not an option, else whether it needs an argument."""
        at = self.optstring.find(letter)
        if letter == ":" or at < 0:
            return None
        return self.optstring[at + 1:at + 2] == ":"

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        permute = "POSIXLY_CORRECT" not in os.environ
        words = self.words
        index = 0
        while index < len(words):
            word = words[index]
            index += 1
            if word == "--":
                self.operands += words[index:]
                return
            if not word.startswith("-") or word == "-":
                self.operands.append(word)
                if not permute:
                    self.operands += words[index:]
                    return
                continue
            position = 1
            while position < len(word):
                letter = word[position]
                position += 1
                needs = self._takes_argument(letter)
                if needs is None:
                    self.err.write(f"{self.prog}: invalid option -- '{letter}'\n")
                    yield "?", None
                elif not needs:
                    yield letter, None
                elif position < len(word):
                    yield letter, word[position:]
                    break
                elif index < len(words):
                    index += 1
                    yield letter, words[index - 1]
                else:
                    self.err.write(f"{self.prog}: option requires an argument -- '{letter}'\n")
                    yield "?", None

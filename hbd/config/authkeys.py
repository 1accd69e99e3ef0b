"""Parse authkeys text into `AuthKeys` (heartbeat-semantics.md §2).

    # comment
    auth 1
    1 sha1 SomeSecretWord
    2 md5 OtherSecret
    3 crc

Rules (heartbeat 3.0.6 `parse_authfile`):

* A line whose first non-blank character is `#` is a comment; so is anything
  after the key that starts with `#`. A `#` inside a key is part of the key.
* `auth N` names the index used to sign outgoing packets. It must be present
  and N must be defined. When it is repeated the last one wins (warning).
* `N METHOD [KEY]`: N is 0..15 and defined once. `crc` takes no key; `md5` and
  `sha1` need one, a single word of at most 1024 characters. A second word
  after the key is an error: heartbeat silently uses only the first word.
* Signing with `crc` is allowed but reported: it detects corruption, it does
  not authenticate (anyone on the network can forge packets).

File permissions are checked by `load.py`, which reads the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hbd.config.lexer import physical_lines, suggest, words
from hbd.config.model import AuthKey, AuthKeys, AuthMethod, Problem, Severity
from hbd.config.values import check_int

MAX_INDEX = 15
MAX_KEY_LEN = 1024
METHODS = tuple(m.value for m in AuthMethod)


@dataclass
class _Reader:
    source: str
    problems: list[Problem] = field(default_factory=list)
    sign_index: int | None = None
    sign_line: int | None = None
    keys: dict[int, AuthKey] = field(default_factory=dict)
    key_lines: dict[int, int] = field(default_factory=dict)

    def report(self, line: int | None, message: str, severity: Severity = Severity.ERROR) -> None:
        self.problems.append(Problem(self.source, line, severity, message))

    def auth_line(self, number: int, fields: list[str]) -> None:
        if len(fields) != 2:
            self.report(number, "write 'auth N' with one index N from 0 to 15, e.g. 'auth 1'")
            return
        index, problem = check_int(fields[1], 0, MAX_INDEX, "auth index")
        if problem or index is None:
            self.report(number, f"{problem}, e.g. 'auth 1'")
            return
        if self.sign_line is not None:
            self.report(number, f"auth is also set on line {self.sign_line}; the last one "
                        "wins: keep a single 'auth N' line", Severity.WARNING)
        self.sign_index, self.sign_line = index, number

    def key_line(self, number: int, fields: list[str]) -> None:
        index, problem = check_int(fields[0], 0, MAX_INDEX, "key index")
        if problem or index is None:
            self.report(number, f"{problem}; a key line is 'N METHOD [KEY]', e.g. '1 sha1 SECRET'")
            return
        if len(fields) < 2:
            self.report(number, f"key {index} has no method: write '{index} sha1 SECRET' "
                        f"(or md5 SECRET, or crc)")
            return
        key = self.make_key(number, index, fields[1], fields[2:])
        if key is None:
            return
        if index in self.keys:
            self.report(number, f"key index {index} is already defined on line "
                        f"{self.key_lines[index]}; define each index once")
            return
        self.keys[index] = key
        self.key_lines[index] = number

    def make_key(self, number: int, index: int, method_text: str, rest: list[str]) -> AuthKey | None:
        if method_text not in METHODS:
            hint = suggest(method_text, METHODS)
            extra = f" (did you mean '{hint}'?)" if hint else ""
            self.report(number, f"unknown method '{method_text}'{extra}; write sha1, md5 or crc")
            return None
        method = AuthMethod(method_text)
        if len(rest) > 1:
            self.report(number, f"key {index} has more than one word after '{method_text}'; "
                        "heartbeat would use only the first: the key must be a single word "
                        "without blanks")
            return None
        if method is AuthMethod.CRC and rest:
            self.report(number, f"crc does not use a key: write '{index} crc', or use "
                        f"'{index} sha1 {rest[0]}' to authenticate packets")
            return None
        if method is not AuthMethod.CRC and not rest:
            self.report(number, f"{method_text} requires a key: write '{index} {method_text} "
                        "SECRET' with a long random word as SECRET")
            return None
        if rest and len(rest[0]) > MAX_KEY_LEN:
            self.report(number, f"key {index} is longer than {MAX_KEY_LEN} characters; use a shorter one")
            return None
        return AuthKey(index, method, rest[0].encode("utf-8") if rest else b"")

    def result(self) -> AuthKeys | None:
        if self.sign_index is None:
            self.report(None, "no 'auth N' line: add 'auth 1' to choose the key that signs "
                        "outgoing packets (and define it, e.g. '1 sha1 SECRET')")
            return None
        if self.sign_index not in self.keys:
            self.report(self.sign_line, f"auth {self.sign_index} names a key that is not defined: "
                        f"add a line '{self.sign_index} sha1 SECRET'")
            return None
        if self.keys[self.sign_index].method is AuthMethod.CRC:
            self.report(self.sign_line, f"auth {self.sign_index} signs with crc, which only detects "
                        "corruption: packets are NOT authenticated and anyone on the heartbeat "
                        f"network can forge them; use '{self.sign_index} sha1 SECRET'",
                        Severity.WARNING)
        ordered = tuple(self.keys[i] for i in sorted(self.keys))
        return AuthKeys(self.sign_index, ordered)


def _content(line: str) -> list[str]:
    fields = words(line)
    for position, word in enumerate(fields):
        if position > 0 and word.startswith("#"):
            return fields[:position]
    return fields


def parse_authkeys(text: str, source: str = "authkeys") -> tuple[AuthKeys | None, list[Problem]]:
    """Parse authkeys `text`; None when no usable signing key is defined."""
    reader = _Reader(source)
    for number, line in physical_lines(text):
        fields = _content(line)
        if not fields or fields[0].startswith("#"):
            continue
        if fields[0] == "auth":
            reader.auth_line(number, fields)
        elif fields[0][0].isdigit() or fields[0][0] in "+-":
            reader.key_line(number, fields)
        else:
            reader.report(number, f"'{fields[0][:40]}' does not start an authkeys line: write "
                          "'auth N' or 'N METHOD [KEY]' (comments start with '#')")
    keys = reader.result()
    return keys, reader.problems

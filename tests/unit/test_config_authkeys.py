"""authkeys parsing (semantics §2)."""

from __future__ import annotations

import pytest

from hbd.config.authkeys import parse_authkeys
from hbd.config.model import AuthKey, AuthMethod, Severity


def test_parses_indexes_and_signing_key() -> None:
    keys, problems = parse_authkeys("# c\n  # indented\nauth 2\n1 sha1 One#Two\n2 md5 k2 # note\n3 crc\n", "authkeys")
    assert problems == []
    assert keys is not None and keys.sign_index == 2
    assert keys.keys == (AuthKey(1, AuthMethod.SHA1, b"One#Two"), AuthKey(2, AuthMethod.MD5, b"k2"),
                         AuthKey(3, AuthMethod.CRC, b""))
    assert keys.authenticated


def test_crc_signing_is_a_warning() -> None:
    keys, problems = parse_authkeys("auth 1\n1 crc\n", "authkeys")
    assert keys is not None and not keys.authenticated
    assert [(p.line, p.severity) for p in problems] == [(1, Severity.WARNING)]
    assert "NOT authenticated" in problems[0].message


@pytest.mark.parametrize("text, line, fragment", [
    ("1 sha1 k\n", None, "no 'auth N' line"),
    ("auth 3\n1 sha1 k\n", 1, "auth 3 names a key that is not defined"),
    ("auth\n1 sha1 k\n", 1, "write 'auth N'"),
    ("auth one\n1 sha1 k\n", 1, "is not a whole number"),
    ("auth 1\n1 md5\n", 2, "md5 requires a key"),
    ("auth 1\n1 sha1\n", 2, "sha1 requires a key"),
    ("auth 1\n1 crc key\n", 2, "crc does not use a key"),
    ("auth 1\n1 sha1 k\n16 sha1 k\n", 3, "key index 16 is out of range"),
    ("auth 1\n1 sha1 k\n-1 sha1 k\n", 3, "key index -1 is out of range"),
    ("auth 1\n1 SHA1 k\n", 2, "did you mean 'sha1'"),
    ("auth 1\n1 sha1 a\n1 sha1 b\n", 3, "already defined on line 2"),
    ("auth 1\n1 sha1 two words\n", 2, "single word"),
    ("auth 1\n1\n", 2, "has no method"),
    ("auth 1\n1 sha1 " + "k" * 1025 + "\n", 2, "longer than 1024"),
    ("auth 1\n1 sha1 k\nkey 1\n", 3, "does not start an authkeys line"),
])
def test_errors(text: str, line: int | None, fragment: str) -> None:
    _, problems = parse_authkeys(text, "authkeys")
    errors = [p for p in problems if p.severity is Severity.ERROR]
    assert any(p.line == line and fragment in p.message for p in errors), problems


def test_repeated_auth_line_warns_and_last_wins() -> None:
    keys, problems = parse_authkeys("auth 1\n1 sha1 a\n2 sha1 b\nauth 2\n", "authkeys")
    assert keys is not None and keys.sign_index == 2
    assert problems[0].severity is Severity.WARNING and problems[0].line == 4

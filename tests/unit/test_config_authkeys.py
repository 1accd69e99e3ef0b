"""authkeys parsing (semantics §2): heartbeat 3.0.6's reading, and hbd's own methods."""

from __future__ import annotations

import pytest

from hbd.config.authkeys import explain, parse_authkeys
from hbd.config.model import AuthKey, AuthMethod, Severity


def test_parses_indexes_and_signing_key() -> None:
    keys, problems = parse_authkeys("# c\n  # indented\nauth 2\n1 sha1 One#Two\n2 md5 k2 # note\n"
                                    "4 sha1 k4\n", "authkeys")
    assert problems == []
    assert keys is not None and keys.sign_index == 2
    assert keys.keys == (AuthKey(1, AuthMethod.SHA1, b"One#Two"), AuthKey(2, AuthMethod.MD5, b"k2"),
                         AuthKey(4, AuthMethod.SHA1, b"k4"))
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
    ("auth 1\n1 sha256\n", 2, "sha256 requires a key"),
    ("auth 1\n1 crc key\n", 2, "crc does not use a key"),
    ("auth 1\n1 sha1 k\n16 sha1 k\n", 3, "key index 16 is out of range"),
    ("auth 1\n1 sha1 k\n-1 sha1 k\n", 3, "key index -1 is out of range"),
    ("auth 1\n1 SHA1 k\n", 2, "did you mean 'sha1'"),
    ("auth 1\n1 sha512 k\n", 2, "unknown method 'sha512'"),
    ("auth 1\n1\n", 2, "has no method"),
    ("auth 1\n1 # sha1 k\n", 2, "has no method"),
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


# --- heartbeat's reading: the key is the first word after the method ----------------------

@pytest.mark.parametrize("line, key", [
    ('7 md5 "our shared secret"', b'"our'),
    ("7 sha1 our shared secret", b"our"),
    ("7 sha1 'single-quoted word' # and a comment", b"'single-quoted"),
])
def test_multi_word_key_is_the_first_word_with_a_warning(line: str, key: bytes) -> None:
    keys, problems = parse_authkeys(f"auth 7\n{line}\n", "/etc/ha.d/authkeys")
    assert keys is not None and keys.signing_key.secret == key
    assert [(p.source, p.line, p.severity) for p in problems] == [
        ("/etc/ha.d/authkeys", 2, Severity.WARNING)]
    message = problems[0].message
    assert f"heartbeat uses only '{key.decode()}' as the key of index 7" in message
    assert "is ignored" in message and "quotes are part of the key" in message
    assert str(problems[0]).startswith("/etc/ha.d/authkeys:2: warning: heartbeat uses only")


def test_key_followed_by_a_comment_is_silent() -> None:
    keys, problems = parse_authkeys("auth 1\n1 sha1 secret # rotated 2024\n", "authkeys")
    assert keys is not None and keys.signing_key.secret == b"secret" and problems == []


def test_key_starting_with_hash_is_a_key_as_heartbeat_reads_it() -> None:
    keys, problems = parse_authkeys("auth 1\n1 sha1 #secret\n", "authkeys")
    assert keys is not None and keys.signing_key.secret == b"#secret"
    assert [(p.line, p.severity) for p in problems] == [(2, Severity.WARNING)]
    assert "not a comment" in problems[0].message


def test_words_after_auth_index_are_ignored_with_a_warning() -> None:
    keys, problems = parse_authkeys("auth 1 2\n1 sha1 k\n2 sha1 k\n", "authkeys")
    assert keys is not None and keys.sign_index == 1
    assert [(p.line, p.severity) for p in problems] == [(1, Severity.WARNING)]
    assert "heartbeat reads only 'auth 1'" in problems[0].message
    _, quiet = parse_authkeys("auth 1 # the sha1 one\n1 sha1 k\n", "authkeys")
    assert quiet == []


def test_crc_comment_after_method_is_accepted() -> None:
    keys, problems = parse_authkeys("auth 1\n1 crc # integrity only\n", "authkeys")
    assert keys is not None and keys.signing_key.secret == b""
    assert [p.severity for p in problems] == [Severity.WARNING]      # signs with crc


# --- crc next to a keyed method, the example key --------------------------------------------

@pytest.mark.parametrize("text, crc_line", [
    ("auth 2\n1 crc\n2 sha1 K\n", 2),
    ("auth 1\n1 md5 K\n3 crc\n", 3),
    ("auth 1\n1 chacha20poly1305 K\n2 crc\n", 3),
])
def test_crc_beside_a_keyed_signing_method_is_refused(text: str, crc_line: int) -> None:
    _, problems = parse_authkeys(text, "authkeys")
    errors = [p for p in problems if p.severity is Severity.ERROR]
    assert [p.line for p in errors] == [crc_line]
    assert "anyone could forge" in errors[0].message and "Remove this line" in errors[0].message


def test_crc_beside_crc_signing_is_only_the_crc_warning() -> None:
    _, problems = parse_authkeys("auth 1\n1 crc\n2 sha1 K\n", "authkeys")
    assert [p.severity for p in problems] == [Severity.WARNING]


def test_shipped_example_key_is_flagged() -> None:
    text = "auth 1\n1 sha1 CHANGE-ME-example-key-not-secret-0123456789\n"
    keys, problems = parse_authkeys(text, "authkeys")
    assert keys is not None
    assert [(p.line, p.severity) for p in problems] == [(2, Severity.WARNING)]
    assert "example key shipped with hbd" in problems[0].message


# --- hbd's own methods --------------------------------------------------------------------

@pytest.mark.parametrize("method", ["sha256", "chacha20poly1305"])
def test_hbd_methods_parse_with_a_note(method: str) -> None:
    keys, problems = parse_authkeys(f"auth 1\n1 {method} a-long-secret\n2 sha1 other\n", "authkeys")
    assert keys is not None and keys.signing_key.method is AuthMethod(method)
    assert keys.signing_key.method.value == method and keys.authenticated
    assert [(p.line, p.severity) for p in problems] == [(2, Severity.NOTE)]
    assert "every node runs hbd" in problems[0].message


def test_explain_says_what_each_method_protects_against() -> None:
    keys, _ = parse_authkeys("auth 2\n1 sha1 a\n2 chacha20poly1305 b\n3 sha1 c\n", "authkeys")
    assert keys is not None
    lines = explain(keys)
    assert len(lines) == 2
    assert lines[0].startswith("sha1, index 1, 3: HMAC-SHA1") and "not encrypted" in lines[0]
    assert lines[1].startswith("chacha20poly1305, index 2 (signs outgoing packets): ")
    assert "encrypted and authenticated" in lines[1]
    crc, _ = parse_authkeys("auth 1\n1 crc\n", "authkeys")
    assert crc is not None and "anyone on the heartbeat LAN can forge" in explain(crc)[0]


def test_repeated_index_last_one_wins_with_a_warning() -> None:
    """heartbeat 3.0.6's parse_authfile stores each key line over the previous one."""
    keys, problems = parse_authkeys("auth 1\n1 sha1 first\n1 md5 second\n", "authkeys")
    assert keys is not None and keys.sign_index == 1
    assert [(k.index, k.method.value, k.secret) for k in keys.keys] == [(1, "md5", b"second")]
    warnings = [p for p in problems if p.severity is Severity.WARNING]
    assert [(p.source, p.line) for p in warnings] == [("authkeys", 3)]
    assert "already defined on line 2" in warnings[0].message
    assert not [p for p in problems if p.severity is Severity.ERROR]

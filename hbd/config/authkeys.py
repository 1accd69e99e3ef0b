"""Parse authkeys text into `AuthKeys` (heartbeat-semantics.md §2), as heartbeat 3.0.6 reads it.

    # comment
    auth 1
    1 sha1 SomeSecretWord
    2 md5 OtherSecret
    3 crc

Rules (heartbeat 3.0.6 `parse_authfile`, which reads a key line with
`sscanf("%d%s%s")`):

* A line whose first non-blank character is `#` is a comment.
* `auth N` names the index used to sign outgoing packets. It must be present
  and N must be defined. When it is repeated the last one wins (warning);
  words after N are ignored, as heartbeat's `sscanf("auth %d")` ignores them
  (warning, unless they are a comment).
* `N METHOD [KEY]`: N is 0..15. Defined again, the last line wins (warning
  naming both lines): heartbeat stores each line over the previous one. `crc` takes no key; `md5`,
  `sha1` and hbd's own methods need one, of at most 1024 characters.
* **The key is the first word after the method; the rest of the line is
  ignored**, quotes are ordinary characters. `7 md5 "our shared secret"` runs
  heartbeat with the key `"our`, so hbd uses `"our` too (warning naming the
  line), and interoperates. A key starting with `#` is a key, not a comment.
* Methods: heartbeat's `crc`, `md5`, `sha1`, and hbd's `sha256` (HMAC-SHA256)
  and `chacha20poly1305` (encryption + authentication, hbd/wire/seal.py).
  Heartbeat 3.0.6 refuses a file that names hbd's methods ("Invalid
  authtype"), so they are for clusters where every node runs hbd (note).
* Signing with `crc` is allowed but reported: it detects corruption, it does
  not authenticate (anyone on the network can forge packets).
* **Refused: a `crc` index next to a keyed signing method.** Heartbeat accepts
  a packet signed with any configured index, so `auth 2 / 1 crc / 2 sha1 K`
  lets anyone forge a packet signed "1 <crc>" and be believed: the key is
  worth nothing. hbd refuses the file (error) rather than run that way or
  silently drop crc-signed packets (which would make crc-signing peers look
  dead and could start their groups twice).
* The example key shipped in conf/*/authkeys (`CHANGE-ME...`) is reported:
  anyone who has read hbd's sources knows it.

`explain(keys)` says, per configured method, what it protects against (for
`hbd check-config`). File permissions are checked by `load.py`, which reads
the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hbd.config.lexer import physical_lines, suggest, words
from hbd.config.model import AuthKey, AuthKeys, AuthMethod, Problem, Severity
from hbd.config.values import check_int

MAX_INDEX = 15
MAX_KEY_LEN = 1024
EXAMPLE_KEY_PREFIX = "CHANGE-ME"


HBD_METHODS = (AuthMethod.SHA256, AuthMethod.CHACHA20POLY1305)   # all-hbd clusters only
Method = AuthMethod
METHODS: dict[str, Method] = {m.value: m for m in AuthMethod}
KEYLESS = ("crc",)

PROTECTS = {
    "crc": "CRC-32 only detects corruption: anyone on the heartbeat LAN can forge, alter, "
           "replay and read packets",
    "md5": "HMAC-MD5 with the shared key: forged or altered packets are refused; packets are "
           "not encrypted (readable on the LAN) and replays are stopped only by the "
           "generation and sequence checks",
    "sha1": "HMAC-SHA1 with the shared key: forged or altered packets are refused; packets are "
            "not encrypted (readable on the LAN) and replays are stopped only by the "
            "generation and sequence checks",
    "sha256": "HMAC-SHA256 with the shared key (hbd only): forged or altered packets are "
              "refused; packets are not encrypted and replays are stopped only by the "
              "generation and sequence checks",
    "chacha20poly1305": "ChaCha20-Poly1305 with a key derived per sender session (hbd only): "
                        "packets are encrypted and authenticated, and every packet carries a "
                        "counter for replay detection",
}


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
        if len(fields) < 2:
            self.report(number, "write 'auth N' with one index N from 0 to 15, e.g. 'auth 1'")
            return
        index, problem = check_int(fields[1], 0, MAX_INDEX, "auth index")
        if problem or index is None:
            self.report(number, f"{problem}, e.g. 'auth 1'")
            return
        if len(fields) > 2 and not fields[2].startswith("#"):
            self.report(number, f"heartbeat reads only 'auth {index}' and ignores "
                        f"'{' '.join(fields[2:])[:40]}'; hbd does the same: remove it",
                        Severity.WARNING)
        if self.sign_line is not None:
            self.report(number, f"auth is also set on line {self.sign_line}; the last one "
                        "wins: keep a single 'auth N' line", Severity.WARNING)
        self.sign_index, self.sign_line = index, number

    def key_line(self, number: int, fields: list[str]) -> None:
        index, problem = check_int(fields[0], 0, MAX_INDEX, "key index")
        if problem or index is None:
            self.report(number, f"{problem}; a key line is 'N METHOD [KEY]', e.g. '1 sha1 SECRET'")
            return
        if len(fields) < 2 or fields[1].startswith("#"):
            self.report(number, f"key {index} has no method: write '{index} sha1 SECRET' "
                        f"(or md5 SECRET, or crc)")
            return
        key = self.make_key(number, index, fields[1], fields[2:])
        if key is None:
            return
        if index in self.keys:
            # heartbeat's parse_authfile stores each line over the last one: no error
            self.report(number, f"key index {index} is already defined on line "
                        f"{self.key_lines[index]}; heartbeat uses the last definition "
                        f"({key.method.value}) and so does hbd: define each index once",
                        Severity.WARNING)
        self.keys[index] = key
        self.key_lines[index] = number

    def make_key(self, number: int, index: int, method_text: str, rest: list[str]) -> AuthKey | None:
        method = METHODS.get(method_text)
        if method is None:
            hint = suggest(method_text, tuple(METHODS))
            extra = f" (did you mean '{hint}'?)" if hint else ""
            self.report(number, f"unknown method '{method_text}'{extra}; write sha1, md5 or crc "
                        "(or, when every node runs hbd, sha256 or chacha20poly1305)")
            return None
        if method_text in KEYLESS:
            return self.keyless(number, index, method, rest)
        if not rest:
            self.report(number, f"{method_text} requires a key: write '{index} {method_text} "
                        "SECRET' with a long random word as SECRET")
            return None
        secret = rest[0]
        if len(secret) > MAX_KEY_LEN:
            self.report(number, f"key {index} is longer than {MAX_KEY_LEN} characters; use a shorter one")
            return None
        self.check_secret(number, index, secret, rest[1:])
        return AuthKey(index, method, secret.encode("utf-8"))

    def keyless(self, number: int, index: int, method: Method, rest: list[str]) -> AuthKey | None:
        if rest and not rest[0].startswith("#"):
            self.report(number, f"crc does not use a key: write '{index} crc', or use "
                        f"'{index} sha1 {rest[0]}' to authenticate packets")
            return None
        return AuthKey(index, method, b"")

    def check_secret(self, number: int, index: int, secret: str, ignored: list[str]) -> None:
        """Heartbeat's reading of the key, said aloud where it surprises."""
        if ignored and not ignored[0].startswith("#"):
            whole = " ".join([secret, *ignored])
            self.report(number, f"heartbeat uses only '{secret}' as the key of index {index}; "
                        f"the rest of the line ('{' '.join(ignored)[:40]}') is ignored, and "
                        "quotes are part of the key. hbd does the same, so both interoperate; "
                        f"if '{whole[:40]}' was meant, write the key as one word without blanks "
                        "on every node", Severity.WARNING)
        elif secret.startswith("#"):
            self.report(number, f"the key of index {index} is '{secret}': a '#' after the "
                        "method starts the key, not a comment (heartbeat reads it so too)",
                        Severity.WARNING)
        if secret.startswith(EXAMPLE_KEY_PREFIX):
            self.report(number, f"key {index} is the example key shipped with hbd: anyone who "
                        "has read hbd's sources can forge packets; generate a secret, e.g. "
                        "head -c 32 /dev/urandom | sha1sum, and use it on every node",
                        Severity.WARNING)

    def result(self) -> AuthKeys | None:
        if self.sign_index is None:
            self.report(None, "no 'auth N' line: add 'auth 1' to choose the key that signs "
                        "outgoing packets (and define it, e.g. '1 sha1 SECRET')")
            return None
        if self.sign_index not in self.keys:
            self.report(self.sign_line, f"auth {self.sign_index} names a key that is not defined: "
                        f"add a line '{self.sign_index} sha1 SECRET'")
            return None
        signing = self.keys[self.sign_index].method.value
        if signing == "crc":
            self.report(self.sign_line, f"auth {self.sign_index} signs with crc, which only detects "
                        "corruption: packets are NOT authenticated and anyone on the heartbeat "
                        f"network can forge them; use '{self.sign_index} sha1 SECRET'",
                        Severity.WARNING)
        else:
            self.refuse_crc_beside(signing)
        self.note_hbd_methods()
        ordered = tuple(self.keys[i] for i in sorted(self.keys))
        return AuthKeys(self.sign_index, ordered)

    def refuse_crc_beside(self, signing: str) -> None:
        for index, key in sorted(self.keys.items()):
            if key.method.value == "crc":
                self.report(self.key_lines[index], (
                    f"index {index} is crc while auth {self.sign_index} signs with {signing}: "
                    "a packet signed with any configured index is accepted, so anyone could "
                    f"forge one signed '{index} <crc>' and the key would protect nothing. "
                    f"Remove this line (to move a cluster from crc to {signing}, give every "
                    "node the new authkeys and reload them one after the other, within "
                    "deadtime)"))

    def note_hbd_methods(self) -> None:
        for index, key in sorted(self.keys.items()):
            if key.method in HBD_METHODS:
                self.report(self.key_lines[index], (
                    f"{key.method.value} is an hbd method: heartbeat 3.0.6 refuses this file "
                    "('Invalid authtype') and cannot read these packets; use it only when "
                    "every node runs hbd"), Severity.NOTE)


def _content(line: str) -> list[str]:
    """The words of a line; a `#` word after the first starts a comment only where
    heartbeat would ignore the rest anyway (after the key, or after `auth N`)."""
    fields = words(line)
    limit = 2 if fields and fields[0] == "auth" else 3
    for position, word in enumerate(fields):
        if position >= limit and word.startswith("#"):
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


def explain(keys: AuthKeys) -> list[str]:
    """One line per configured method: which indexes use it and what it protects against."""
    by_method: dict[str, list[int]] = {}
    for key in keys.keys:
        by_method.setdefault(key.method.value, []).append(key.index)
    lines = []
    for word, indexes in by_method.items():
        signs = " (signs outgoing packets)" if keys.sign_index in indexes else ""
        which = ", ".join(str(i) for i in indexes)
        lines.append(f"{word}, index {which}{signs}: {PROTECTS[word]}")
    return lines

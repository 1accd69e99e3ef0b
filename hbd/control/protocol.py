"""The control protocol's words: verbs, limits, errors, and the framing of one line.

A request is one JSON object on one line, `{"verb": "...", "args": {...}}`
plus `\\n`, at most `MAX_REQUEST` bytes and at most `MAX_DEPTH` levels of
`[`/`{` nesting; an answer is one JSON line, `{"ok": true, "data": ...}` or
`{"ok": false, "error": "...", "code": N}` (a refusal of the user may add
`"uid"` and `"user"`). `docs/hbctl.md` describes it for operators.

Both ends use this module; it does no I/O.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping

DEFAULT_RUN_DIR = "/run/hbd"
SOCKET_NAME = "hbd.sock"
MAX_REQUEST = 64 * 1024             # bytes, newline included
MAX_DEPTH = 16                      # nesting of [ and { in a request
MAX_RESPONSE = 16 * 1024 * 1024     # what a client accepts

# Read verbs answered from the status document alone (hbd.statusdoc.READ_ANSWERS),
# then the ones that also need the configuration (heartbeat's API view, for cl_status).
DOC_VERBS = ("status", "nodes", "resources", "node-status", "links", "link-status",
             "rscstatus", "hbstatus")
HEARTBEAT_VERBS = ("heartbeat-nodes", "parameter")
METRICS_VERBS = ("metrics",)
READ_VERBS = DOC_VERBS + HEARTBEAT_VERBS + METRICS_VERBS
CHANGE_VERBS = ("standby", "takeover")
VERBS = READ_VERBS + CHANGE_VERBS

# The `code` of an ok=false answer (hbctl's exit status follows it).
FAILED, BAD_REQUEST, NOT_AUTHORISED, INTERNAL = 1, 2, 4, 5


def socket_path(run_dir: str) -> str:
    return os.path.join(run_dir, SOCKET_NAME)


# --- errors ------------------------------------------------------------------------

class RequestFailed(Exception):
    """Raised by a handler: answered as ok=false with this message and `code`."""

    code = FAILED


class BadRequest(RequestFailed):
    code = BAD_REQUEST


class NotAuthorised(RequestFailed):
    code = NOT_AUTHORISED


class TooDeep(BadRequest):
    """A request nested deeper than MAX_DEPTH (refused before json.loads)."""


class ControlError(Exception):
    """Client side: the exchange with hbd failed (no answer, garbled answer, ...)."""


class ControlTimeout(ControlError):
    """Client side: hbd did not accept or answer within the timeout."""


class NotRunning(ControlError):
    """Client side: no hbd listens on the socket (ENOENT, ECONNREFUSED)."""


class PermissionDenied(ControlError):
    """Client side: the file system refused the connection (EACCES, EPERM)."""


def not_allowed(uid: int, name: str | None, verb: str | None) -> str:
    """The refusal text, with the ha.cf line that would allow it."""
    who = f"user {uid} ({name})" if name else f"user {uid}"
    what = f"to '{verb}'" if verb else "to use hbd's control socket"
    return (f"{who} is not allowed {what}: add it to an "
            f"'apiauth hbctl uid={name or uid}' line in ha.cf")


# --- requests --------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    """One request, with the credentials of the process that sent it."""

    verb: str
    args: Mapping[str, Any]
    uid: int
    gid: int
    pid: int


def encode(obj: Any) -> bytes:
    """One protocol line: compact JSON and a newline."""
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


_SYNTAX = re.compile(rb'[\[\]{}"]')


def _end_of_string(line: bytes, start: int) -> int:
    """Index after the closing quote of the string starting at `start`, -1 if none."""
    while True:
        quote = line.find(b'"', start)
        if quote < 0:
            return -1
        backslashes = quote
        while backslashes > start and line[backslashes - 1] == 0x5C:
            backslashes -= 1
        start = quote + 1
        if (quote - backslashes) % 2 == 0:      # not escaped
            return start


def nesting_exceeds(line: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether `line` opens more than `limit` nested arrays/objects (strings skipped).

    Linear in the line; stops at the first level over the limit, so `[` * 60000
    costs no more than a short request."""
    if line.count(b"[") + line.count(b"{") <= limit:
        return False
    depth, pos = 0, 0
    while (match := _SYNTAX.search(line, pos)) is not None:
        char, pos = line[match.start()], match.end()
        if char == 0x22:                          # "
            pos = _end_of_string(line, pos)
            if pos < 0:
                return False                      # unterminated: json.loads says so
        elif char in (0x5B, 0x7B):                # [ {
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def parse_request(line: bytes) -> tuple[str, dict[str, Any]]:
    """`(verb, args)` from a request line; BadRequest (or TooDeep) says what is wrong."""
    if nesting_exceeds(line):
        raise TooDeep(f"request nested more than {MAX_DEPTH} levels deep")
    try:
        obj = json.loads(line)
    except ValueError as exc:        # includes UnicodeDecodeError
        raise BadRequest(f"request is not JSON: {exc}") from None
    except RecursionError:           # cannot happen after the depth check; never escapes
        raise TooDeep(f"request nested more than {MAX_DEPTH} levels deep") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("verb"), str):
        raise BadRequest('request must be a JSON object like {"verb": "status", "args": {}}')
    args = {} if obj.get("args") is None else obj["args"]
    if not isinstance(args, dict):
        raise BadRequest("request 'args' must be a JSON object")
    if obj["verb"] not in VERBS:
        raise BadRequest(f"unknown verb {obj['verb'][:40]!r}: hbd knows {', '.join(VERBS)}")
    return obj["verb"], args


# --- answers --------------------------------------------------------------------

def error_line(code: int, message: str, **extra: Any) -> bytes:
    return encode({"ok": False, "error": message, "code": code, **extra})


def decode_response(line: bytes) -> dict[str, Any]:
    """Check an answer line's shape; ControlError when it is not a valid answer."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        raise ControlError(f"hbd sent an answer that is not JSON: {line[:80]!r}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("ok"), bool):
        raise ControlError(f"hbd sent an unexpected answer: {line[:80]!r}")
    if not obj["ok"]:
        obj["error"] = str(obj.get("error") or "request failed")
        obj["code"] = obj["code"] if isinstance(obj.get("code"), int) else FAILED
    return obj

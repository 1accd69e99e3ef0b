"""Why a datagram was refused: `RejectReason`, `Rejected`, and the parsers' internal signal.

Rules:

* Remote input never raises out of `hbd.wire.decode()`. Every refusal is a
  `Rejected(reason, detail)` value; the reason is an Enum whose values are short
  snake_case words fit for logs, counters and `hbd decode --json`.
* Inside the parsers a refusal travels as `WireError` (an exception private to
  this package) so deep recursion stays readable; the public entry points turn
  it into `Rejected` at the boundary, as h11 does with its remote errors.
* Local misuse (encoding a message that heartbeat could not carry, such as a
  field name containing "=") raises `ValueError` subclasses instead: that is a
  bug in the caller, not something a peer did.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class RejectReason(enum.Enum):
    TOO_LARGE = "too_large"                  # datagram above Limits.max_datagram
    BAD_MAGIC = "bad_magic"                  # neither "###\n" nor ">>>\n"
    TRUNCATED = "truncated"                  # a length or terminator runs past the end
    MALFORMED = "malformed"                  # grammar violation
    TOO_MANY_FIELDS = "too_many_fields"      # above Limits.max_fields
    FIELD_TOO_LONG = "field_too_long"        # a length prefix or value above the caps
    NAME_TOO_LONG = "name_too_long"          # a field name above Limits.max_name
    TOO_DEEP = "too_deep"                    # nesting above Limits.max_depth
    NO_AUTH = "no_auth"                      # no trailer (netstring) / no auth field (classic)
    BAD_AUTH = "bad_auth"                    # the token is not "<n> <hex>"
    BAD_AUTH_INDEX = "bad_auth_index"        # index outside 0..15
    UNKNOWN_AUTH_INDEX = "unknown_auth_index"  # index not configured in authkeys
    AUTH_FAILED = "auth_failed"              # the token does not match
    UNSUPPORTED_COMPRESSION = "unsupported_compression"
    DECOMPRESS_FAILED = "decompress_failed"
    DECOMPRESSED_TOO_LARGE = "decompressed_too_large"
    ENCRYPTED = "encrypted"                  # sealed (AEAD): inspect() cannot look inside
    INTERNAL = "internal"                    # a decoder bug, caught at the boundary


@dataclass(frozen=True)
class Rejected:
    """A datagram that must be dropped, and why (for debug logs and counters)."""

    reason: RejectReason
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}" if self.detail else self.reason.value


class WireError(Exception):
    """Internal: raised by the parsers, converted to `Rejected` at the API boundary."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

    def rejected(self) -> Rejected:
        return Rejected(self.reason, self.detail)


class EncodeError(ValueError):
    """Local misuse: the message cannot be put on the wire as asked."""

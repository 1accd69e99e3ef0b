"""Caps applied to every datagram before any work is spent on it.

Heartbeat's own numbers, where it has them: MAXMSG (256 KiB receive buffer),
MAX_NAME_LEN (255), MAXDEPTH (16). The field cap and the decompressed cap are
hbd's choices: v1 heartbeat messages carry about 15 fields, but a captured 3.0.6
message (`tests/vectors/compression/huge-zlib-crc.bin`) carries 1,545, and cluster-glue
decompresses into a fixed 2 MiB-class buffer (MAXUNCOMPRESSED).

Rules:

* The datagram size is checked first, before looking at a single byte.
* A length prefix is read digit by digit and refused as soon as it has more
  digits than `max_value` has, so "99999999999:" costs nothing.
* `max_fields` counts every field at every depth plus every list element: the
  total number of things a datagram can make the decoder allocate.
* `max_decompressed` is one budget for the whole datagram, shared by all of
  its compressed fields (and a traditional-compression envelope).
* Before authentication far less is allowed (preauth.py): no field is built,
  the trailer is looked for only in the last `max_token` + 8 bytes, and a
  classic datagram may have at most `preauth_lines` lines (v1 messages have
  about 15; 3.0.6 itself sends netstring only). The post-authentication caps
  above apply to what the key holder sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from hbd.wire.errors import RejectReason, WireError

MAXMSG = 256 * 1024


@dataclass(frozen=True)
class Limits:
    max_datagram: int = MAXMSG
    max_fields: int = 8192
    max_name: int = 255
    max_value: int = MAXMSG
    max_depth: int = 16
    max_decompressed: int = 2 * 1024 * 1024
    max_token: int = 128          # "<n> <hex>" (sha1: 43 bytes, sha256: 67)
    preauth_lines: int = 256      # classic lines looked at before authentication

    def __post_init__(self) -> None:
        for name in ("max_datagram", "max_fields", "max_name", "max_value",
                     "max_depth", "max_decompressed", "max_token", "preauth_lines"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive")

    @cached_property
    def max_length_digits(self) -> int:
        """How many decimal digits a length prefix may have."""
        return len(str(max(self.max_value, self.max_decompressed, self.max_datagram)))


DEFAULT_LIMITS = Limits()


class Budget:
    """What one datagram may still make the decoder do (fields, depth, inflated bytes).

    One Budget is created per decode and threaded through the parsers; every
    check raises `WireError` before the corresponding work is done.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.fields = 0
        self.inflated = 0

    def count_field(self) -> None:
        self.fields += 1
        if self.fields > self.limits.max_fields:
            raise WireError(RejectReason.TOO_MANY_FIELDS,
                            f"more than {self.limits.max_fields} fields")

    def check_depth(self, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise WireError(RejectReason.TOO_DEEP,
                            f"nesting deeper than {self.limits.max_depth}")

    def inflate_room(self) -> int:
        """Bytes that decompression may still produce for this datagram."""
        return self.limits.max_decompressed - self.inflated

    def spend_inflated(self, size: int) -> None:
        self.inflated += size
        if self.inflated > self.limits.max_decompressed:
            raise WireError(RejectReason.DECOMPRESSED_TOO_LARGE,
                            f"more than {self.limits.max_decompressed} bytes decompressed")

"""Heartbeat compression: zlib and bz2 payloads, bounded decompression, the send policy.

Format facts (cluster-glue lib/clplumbing/cl_compress.c, cl_msg.c,
cl_msg_types.c, lib/plugins/compress/{zlib,bz2}.c — read, not copied):

* Algorithms are named on the wire as "zlib" (zlib's compress(): a zlib
  stream, default level) and "bz2" (BZ2_bzBuffToBuffCompress, block size
  100k x 1, default work factor).
* **Field compression** (type 4, "compressed"): the value is the compressed
  wire form of a nested message — netstring without trailer ("###" ...
  "%%%"), or classic text with its NUL when the sender's msgfmt is classic
  and the nested message holds no struct. The algorithm is named by the
  string field `_compression_algorithm` of the *same* message. On the
  sender, a type-5 ("uncompressed") struct field is turned into type 4 when
  the message is packed; the receiver turns it back into a struct when read.
* **Traditional compression** (`traditional_compression yes`, or any message
  whose encoding would reach 256 KiB): the whole message (with its inner
  `auth` field, without a trailer) is compressed, and the datagram is a new
  netstring message of two fields — `(1)_compressed_payload=<bytes>` and
  `_compression_algorithm=<name>` — signed with an ordinary trailer. The
  receiver checks that trailer, then decompresses and parses the payload
  without further authentication.
* `compression_threshold` is in KB (ha.cf); heartbeat compresses a message
  traditionally when its encoding is larger than that.

Rules kept here:

* Decompression happens only after the datagram is authenticated (the
  codec's job) and never produces more than the caller's `limit` bytes:
  `zlib.decompressobj().decompress(data, max_length)` and
  `bz2.BZ2Decompressor().decompress(data, max_length)` stop there, and
  reaching the cap is a `DECOMPRESSED_TOO_LARGE` rejection.
* A stream must end exactly at the end of the payload: truncated streams and
  trailing bytes are `DECOMPRESS_FAILED`.
"""

from __future__ import annotations

import bz2
import zlib
from dataclasses import dataclass
from typing import Any

from hbd.wire.errors import EncodeError, RejectReason, WireError

COMPRESSED_FIELD = "_compressed_payload"
ALGORITHM_FIELD = "_compression_algorithm"
ALGORITHMS = ("zlib", "bz2")


@dataclass(frozen=True)
class CompressionPolicy:
    """How this node compresses what it sends (ha.cf `compression*`, `msgfmt`).

    `msgfmt` is the form of compressed payloads ("classic", heartbeat's
    default, or "netstring"); a payload holding a struct is always netstring.
    """

    algorithm: str = "zlib"
    threshold_kb: int = 2
    traditional: bool = False
    msgfmt: str = "classic"

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"compression {self.algorithm!r}: expected one of {ALGORITHMS}")
        if self.msgfmt not in ("classic", "netstring"):
            raise ValueError(f"msgfmt {self.msgfmt!r}: expected classic or netstring")

    @property
    def threshold_bytes(self) -> int:
        return self.threshold_kb * 1024

    @classmethod
    def from_hacf(cls, hacf: Any) -> CompressionPolicy:
        """From a `hbd.config.model.HaCf` (duck-typed to keep wire/ free of config logic)."""
        return cls(algorithm=hacf.compression, threshold_kb=hacf.compression_threshold,
                   traditional=hacf.traditional_compression, msgfmt=hacf.msgfmt)


def compress(algorithm: str, data: bytes) -> bytes:
    """Compress as heartbeat's plugin of that name does."""
    if algorithm == "zlib":
        return zlib.compress(data)
    if algorithm == "bz2":
        return bz2.compress(data, compresslevel=1)
    raise EncodeError(f"unknown compression algorithm {algorithm!r}")


def decompress(algorithm: str | None, data: bytes, limit: int) -> bytes:
    """Inflate `data`, producing at most `limit` bytes; raises `WireError`."""
    if algorithm == "zlib":
        return _bounded(zlib.decompressobj(), zlib.error, data, limit)
    if algorithm == "bz2":
        return _bounded(bz2.BZ2Decompressor(), OSError, data, limit)
    raise WireError(RejectReason.UNSUPPORTED_COMPRESSION,
                    f"compression algorithm {algorithm!r} not supported")


def _bounded(engine: Any, error: type[Exception], data: bytes, limit: int) -> bytes:
    if limit <= 0:
        raise WireError(RejectReason.DECOMPRESSED_TOO_LARGE, "decompression budget spent")
    try:
        out: bytes = engine.decompress(data, limit + 1)
    except (error, ValueError, EOFError) as exc:
        raise WireError(RejectReason.DECOMPRESS_FAILED, str(exc)) from None
    if len(out) > limit:
        raise WireError(RejectReason.DECOMPRESSED_TOO_LARGE,
                        f"payload inflates past {limit} bytes")
    if not engine.eof:
        raise WireError(RejectReason.DECOMPRESS_FAILED, "truncated compressed stream")
    if engine.unused_data:
        raise WireError(RejectReason.DECOMPRESS_FAILED, "bytes after the compressed stream")
    return out

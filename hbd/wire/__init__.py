"""Heartbeat 3.0.6 wire format: the message model, codec, authentication, compression.

Pure: nothing here touches sockets, clocks, randomness, threads or processes
(a test walks the imports). The entry points:

    encode(message, authkeys, *, fmt="netstring", inner_auth=True,
           compression=None, nul=False, limits=DEFAULT_LIMITS) -> bytes
    decode(data, authkeys, *, limits=DEFAULT_LIMITS) -> Accepted | Rejected
    inspect(data, *, limits=DEFAULT_LIMITS) -> Inspected | Rejected   (no auth)
    preauth.screen(data, authkeys) -> Screened | Rejected   (auth only, for the receive path)

hbd's own methods: `sha256` (auth.py) and `chacha20poly1305` (seal.py), for
clusters whose every node runs hbd. Numbers in header fields are read with
fields.py, within the range heartbeat itself produces.
"""

from hbd.wire.codec import Accepted, Inspected, decode, encode, inspect
from hbd.wire.compress import CompressionPolicy
from hbd.wire.errors import EncodeError, Rejected, RejectReason
from hbd.wire.limits import DEFAULT_LIMITS, Limits
from hbd.wire.message import Field, FieldType, Message, Value
from hbd.wire.preauth import Encoding

__all__ = [
    "DEFAULT_LIMITS",
    "Accepted",
    "CompressionPolicy",
    "EncodeError",
    "Encoding",
    "Field",
    "FieldType",
    "Inspected",
    "Limits",
    "Message",
    "RejectReason",
    "Rejected",
    "Value",
    "decode",
    "encode",
    "inspect",
]

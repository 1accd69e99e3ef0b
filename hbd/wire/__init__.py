"""Heartbeat 3.0.6 wire format: the message model, codec, authentication, compression.

Pure: nothing here touches sockets, clocks, randomness, threads or processes
(a test walks the imports). The entry points:

    encode(message, authkeys, *, fmt="netstring", inner_auth=True,
           compression=None, nul=False, limits=DEFAULT_LIMITS) -> bytes
    decode(data, authkeys, *, limits=DEFAULT_LIMITS) -> Accepted | Rejected
    inspect(data, *, limits=DEFAULT_LIMITS) -> Inspected | Rejected   (no auth)
"""

from hbd.wire.codec import Accepted, Encoding, Inspected, decode, encode, inspect
from hbd.wire.compress import CompressionPolicy
from hbd.wire.errors import EncodeError, RejectReason, Rejected
from hbd.wire.limits import DEFAULT_LIMITS, Limits
from hbd.wire.message import Field, FieldType, Message, Value

__all__ = [
    "Accepted", "CompressionPolicy", "DEFAULT_LIMITS", "EncodeError", "Encoding", "Field",
    "FieldType", "Inspected", "Limits", "Message", "RejectReason", "Rejected", "Value",
    "decode", "encode", "inspect",
]

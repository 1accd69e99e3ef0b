"""Clients of the control socket: `request` (asyncio) and `request_sync` (hbctl, the
heartbeat tool shims). Both send one request and return the decoded answer, ok or
not; they raise NotRunning, PermissionDenied or ControlError when there is no answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from typing import Any

from hbd.control.protocol import (MAX_RESPONSE, ControlError, ControlTimeout, NotRunning,
                                  PermissionDenied, decode_response, encode)


def _connect_error(path: str, exc: OSError) -> ControlError:
    if exc.errno == errno.ENOENT:
        return NotRunning(f"hbd is not running (no socket at {path})")
    if exc.errno == errno.ECONNREFUSED:
        return NotRunning(f"hbd is not running (socket {path} refuses connections)")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PermissionDenied(f"permission denied on {path}: run as root, or ask for an "
                                "'apiauth hbctl uid=...' line in ha.cf")
    return ControlError(f"cannot connect to {path}: {exc.strerror or exc}")


async def request(path: str, verb: str, args: dict[str, Any] | None = None, *,
                  timeout: float = 5.0) -> dict[str, Any]:
    """Send one request, return the decoded answer (ok or not)."""
    payload = encode({"verb": verb, "args": args or {}})
    try:
        async with asyncio.timeout(timeout):
            try:
                reader, writer = await asyncio.open_unix_connection(path, limit=MAX_RESPONSE)
            except OSError as exc:
                raise _connect_error(path, exc) from None
            try:
                writer.write(payload)
                with contextlib.suppress(ConnectionError):   # it may have answered already
                    await writer.drain()
                line = await reader.readuntil(b"\n")
            finally:
                writer.close()
    except TimeoutError:
        raise ControlTimeout(f"hbd did not answer within {timeout:g} s") from None
    except (asyncio.IncompleteReadError, ConnectionError):
        raise ControlError("hbd closed the connection without answering") from None
    except asyncio.LimitOverrunError:
        raise ControlError("hbd's answer is too large") from None
    return decode_response(line)


def request_sync(path: str, verb: str, args: dict[str, Any] | None = None, *,
                 timeout: float = 5.0) -> dict[str, Any]:
    """Blocking `request` (no event loop). `timeout` bounds each wait."""
    payload = encode({"verb": verb, "args": args or {}})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except TimeoutError:
            raise ControlTimeout(f"hbd did not accept the connection within {timeout:g} s") \
                from None
        except OSError as exc:
            raise _connect_error(path, exc) from None
        try:
            with contextlib.suppress(ConnectionError):      # it may have answered already
                sock.sendall(payload)
            with sock.makefile("rb") as stream:
                line = stream.readline(MAX_RESPONSE + 1)
        except TimeoutError:
            raise ControlTimeout(f"hbd did not answer within {timeout:g} s") from None
        except ConnectionError:
            line = b""
    if not line.endswith(b"\n"):
        raise ControlError("hbd's answer is too large" if len(line) > MAX_RESPONSE
                           else "hbd closed the connection without answering")
    return decode_response(line)

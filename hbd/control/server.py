"""The control socket's server: one request per connection, local users cannot jam it.

Order of work for each connection, cheapest first:

1. the peer's credentials (SO_PEERCRED), before a byte is read;
2. a connection slot for that uid: at most `max_per_user` connections per
   ordinary uid and `max_clients` for all of them together; root and the
   daemon's uid have `max_privileged` slots of their own, so no number of
   idle connections from other users locks them out;
3. the user's rights (`Authorizer`); a user with none is refused at once,
   without reading. Group membership comes from a `NameCache` (worker
   threads, cached with a TTL), never from a look-up on the event loop;
4. one line, at most MAX_REQUEST bytes within `read_timeout`, nested at most
   MAX_DEPTH deep, then the verb checked against the rights;
5. the handler.

Every refusal is an answer line with its code, counted (`counters()`), and
logged through a `LogLimiter` (one line per cause every 10 s).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from hbd import logs
from hbd.control.auth import Authorizer, LookupBusy, NameCache, Rights, needed
from hbd.control.protocol import (BAD_REQUEST, FAILED, INTERNAL, MAX_REQUEST, NOT_AUTHORISED,
                                  BadRequest, NotAuthorised, Request, RequestFailed, TooDeep,
                                  encode, error_line, not_allowed, parse_request)

READ_TIMEOUT = 5.0          # seconds a client has to send its request line
MAX_CLIENTS = 32            # connections served at once for all ordinary users together
MAX_PER_USER = 4            # ... and for one ordinary uid
MAX_PRIVILEGED = 16         # for root and the daemon's uid, on top of the others

_UCRED = struct.Struct("=iII")      # struct ucred: pid_t pid; uid_t uid; gid_t gid

Handler = Callable[[Request], Awaitable[Any]]
log = logs.get("hbd.control")


class SocketInUse(Exception):
    """The socket path is taken: another hbd answers on it, or it is not a socket."""


def peer_credentials(sock: Any) -> tuple[int, int, int]:
    """`(pid, uid, gid)` of the process at the other end, from SO_PEERCRED."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return pid, uid, gid


class Slots:
    """Connection slots: per ordinary uid, all ordinary uids, and the privileged pool."""

    def __init__(self, *, per_user: int, ordinary: int, privileged: int) -> None:
        self._limits = (per_user, ordinary, privileged)
        self._by_uid: collections.Counter[int] = collections.Counter()
        self._ordinary = self._privileged = 0

    def take(self, uid: int, privileged: bool) -> bool:
        per_user, ordinary, most_privileged = self._limits
        if privileged:
            if self._privileged >= most_privileged:
                return False
            self._privileged += 1
            return True
        if self._by_uid[uid] >= per_user or self._ordinary >= ordinary:
            return False
        self._by_uid[uid] += 1
        self._ordinary += 1
        return True

    def release(self, uid: int, privileged: bool) -> None:
        if privileged:
            self._privileged -= 1
            return
        self._ordinary -= 1
        self._by_uid[uid] -= 1
        if self._by_uid[uid] <= 0:
            del self._by_uid[uid]


async def _clear_stale_socket(path: str) -> None:
    """Remove a socket file nobody answers on; refuse if someone does."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise SocketInUse(f"{path} exists and is not a socket: move it away")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), 1.0)
    except (ConnectionRefusedError, FileNotFoundError):
        log.info("removing stale control socket", path=path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    except TimeoutError:     # a listener with a full backlog: alive all the same
        pass
    else:
        writer.close()
    raise SocketInUse(f"another hbd is running (socket {path} answers)")


def _bind(path: str, mode: int) -> socket.socket:
    """Bind, then chmod before anyone can connect (listen comes later)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
    except BaseException:
        sock.close()
        raise
    try:
        os.chmod(path, mode)
    except BaseException:
        sock.close()
        os.unlink(path)
        raise
    return sock


class ControlServer:
    """Serves control requests on a unix socket, one per connection (module doc).

    `handler(request)` is called only for well-formed, authorised requests;
    its return value becomes `data`. RequestFailed from it becomes an ok=false
    answer with its code; any other exception is logged and answered as
    "internal error: ..." (code INTERNAL) and the server carries on.
    `mode=None` takes the mode from `authorizer.socket_mode`.
    """

    def __init__(self, path: str, handler: Handler, *, authorizer: Authorizer,
                 mode: int | None = None, read_timeout: float = READ_TIMEOUT,
                 max_clients: int = MAX_CLIENTS, max_per_user: int = MAX_PER_USER,
                 max_privileged: int = MAX_PRIVILEGED, names: NameCache | None = None) -> None:
        self.path = path
        self.mode = authorizer.socket_mode if mode is None else mode
        self._handler = handler
        self._authorizer = authorizer
        self._names = names or NameCache(authorizer.accounts)
        self._read_timeout = read_timeout
        self._slots = Slots(per_user=max_per_user, ordinary=max_clients,
                            privileged=max_privileged)
        self._server: asyncio.AbstractServer | None = None
        self._identity: tuple[int, int] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._counts: collections.Counter[str] = collections.Counter()
        self._limiter = logs.LogLimiter(log)

    async def start(self) -> None:
        """Clear a stale socket, bind with the mode, listen. Raises SocketInUse."""
        await _clear_stale_socket(self.path)
        sock = _bind(self.path, self.mode)
        st = os.stat(self.path)
        self._identity = (st.st_dev, st.st_ino)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, sock=sock, limit=MAX_REQUEST - 1)
        except BaseException:
            sock.close()
            self._unlink()
            raise

    async def close(self) -> None:
        """Stop listening, drop open connections, remove the socket file if still ours."""
        if self._server is None:
            return
        self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        self._names.close()
        self._unlink()

    @property
    def connections(self) -> int:
        """How many connections are being served right now."""
        return len(self._tasks)

    def counters(self) -> dict[str, int]:
        """Requests served and refused (by cause), for the status document's `daemon`."""
        return {"connections": len(self._tasks), "name_lookups": self._names.lookups,
                **dict(sorted(self._counts.items()))}

    def _unlink(self) -> None:
        with contextlib.suppress(OSError):
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._identity:
                os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            answer = await self._respond(reader, writer)
            if answer:
                writer.write(answer)
                await asyncio.wait_for(writer.drain(), self._read_timeout)
        except (ConnectionError, TimeoutError) as exc:
            log.debug("control client went away", error=repr(exc))
        except Exception:       # never let one connection take the server down
            log.exception("control: connection failed")
        finally:
            self._tasks.discard(task)
            writer.close()

    def _refuse(self, cause: str, code: int, message: str, pid: int, uid: int,
                level: str = "info", extra: dict[str, Any] | None = None) -> bytes:
        self._counts[f"refused_{cause}"] += 1
        self._limiter.log(level, "control: request refused", medium="control", cause=cause,
                          pid=pid, uid=uid, reason=message)
        return error_line(code, message, **(extra or {}))

    async def _respond(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        """The answer line for one connection (b"" when there is nobody to answer)."""
        pid, uid, gid = peer_credentials(writer.get_extra_info("socket"))
        privileged = self._authorizer.privileged(uid)
        if not self._slots.take(uid, privileged):
            return self._refuse("busy", FAILED, "hbd is busy: too many control connections, "
                                "try again", pid, uid, level="warning")
        try:
            return await self._admitted(reader, pid, uid, gid)
        except LookupBusy as exc:
            return self._refuse("busy", FAILED, f"hbd is busy: {exc}, try again", pid, uid,
                                level="warning")
        finally:
            self._slots.release(uid, privileged)

    async def _rights(self, uid: int, gid: int) -> tuple[Rights, str | None]:
        """The user's rights, and its name when a look-up was needed anyway."""
        if not self._authorizer.needs_groups(uid):
            return self._authorizer.rights(uid), None
        peer = await self._names.lookup(uid, gid)
        return self._authorizer.rights(uid, peer.groups), peer.name

    async def _not_allowed(self, verb: str | None, pid: int, uid: int, gid: int,
                           name: str | None) -> bytes:
        if name is None:
            name = (await self._names.lookup(uid, gid)).name
        return self._refuse("not_authorised", NOT_AUTHORISED, not_allowed(uid, name, verb),
                            pid, uid, level="warning", extra={"uid": uid, "user": name})

    async def _admitted(self, reader: asyncio.StreamReader, pid: int, uid: int,
                        gid: int) -> bytes:
        rights, name = await self._rights(uid, gid)
        if not rights:                                # refused before reading anything
            return await self._not_allowed(None, pid, uid, gid, name)
        try:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), self._read_timeout)
        except asyncio.LimitOverrunError:
            return self._refuse("too_large", BAD_REQUEST,
                                f"request too large (more than {MAX_REQUEST} bytes)", pid, uid)
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:      # connected and went away (a liveness probe)
                return b""
            return self._refuse("bad_request", BAD_REQUEST,
                                "request not terminated by a newline", pid, uid)
        except TimeoutError:
            return self._refuse("timeout", BAD_REQUEST, "no complete request line within "
                                f"{self._read_timeout:g} s", pid, uid)
        try:
            verb, args = parse_request(line)
        except TooDeep as exc:
            return self._refuse("too_deep", exc.code, str(exc), pid, uid)
        except BadRequest as exc:
            return self._refuse("bad_request", exc.code, str(exc), pid, uid)
        if needed(verb) not in rights:
            return await self._not_allowed(verb, pid, uid, gid, name)
        return await self._dispatch(Request(verb, args, uid, gid, pid))

    async def _dispatch(self, request: Request) -> bytes:
        try:
            data = await self._handler(request)
            answer = encode({"ok": True, "data": data})
        except NotAuthorised as exc:
            return self._refuse("not_authorised", exc.code, str(exc), request.pid, request.uid)
        except RequestFailed as exc:
            self._counts["failed"] += 1
            return error_line(exc.code, str(exc))
        except Exception as exc:   # a bug in a handler must not take the server down
            self._counts["internal_errors"] += 1
            log.exception("control: request failed", verb=request.verb, pid=request.pid)
            return error_line(INTERNAL, f"internal error: {exc.__class__.__name__}: {exc}")
        self._counts["served"] += 1
        return answer

"""The control socket: how `hbctl` talks to a running hbd.

Protocol (described for operators in `docs/hbctl.md`): a unix stream socket,
`RUN_DIR/hbd.sock`. One request per connection: the client sends a single
JSON object on one line, `{"verb": "...", "args": {...}}` plus `\\n`, at most
`MAX_REQUEST` bytes; the server answers with one JSON line, either
`{"ok": true, "data": ...}` or `{"ok": false, "error": "...", "code": N}`,
and closes the connection.

Who may ask what: the server reads the peer's uid/gid with SO_PEERCRED and
asks an `Authorizer` built from ha.cf's `apiauth` lines. Root and the daemon's
own uid may do anything; read verbs are open to `apiauth hbctl` and
`apiauth cl_status` entries, change verbs to `apiauth hbctl` and
`apiauth hb_standby` entries. When apiauth names anyone else, the socket is
made world-connectable (0o666) and the peer credentials are the only check.

This module holds the server (`ControlServer`), the clients (`request`,
`request_sync`) and the helpers the daemon answers with (`handle_request`,
built on the pure `answer`, `query` and `parse_admin`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import grp
import json
import logging
import os
import pwd
import socket
import stat
import struct
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from hbd import __version__
from hbd.config.model import ApiAuth
from hbd.core.events import AdminRequested, AdminVerb, GroupSet
from hbd.core.status import ClusterStatus
from hbd.statusdoc import NotInDocument, read_answer, status_document

log = logging.getLogger(__name__)

DEFAULT_RUN_DIR = "/run/hbd"
SOCKET_NAME = "hbd.sock"
MAX_REQUEST = 64 * 1024             # bytes, newline included
MAX_RESPONSE = 16 * 1024 * 1024     # what a client accepts
READ_TIMEOUT = 5.0                  # seconds a client has to send its request line
MAX_CLIENTS = 32                    # connections served at once

READ_VERBS = ("status", "nodes", "resources", "node-status", "links", "link-status",
              "rscstatus", "hbstatus")
CHANGE_VERBS = ("standby", "takeover")
VERBS = READ_VERBS + CHANGE_VERBS
READ_CLIENTS = ("hbctl", "cl_status")      # apiauth client names that may read
CHANGE_CLIENTS = ("hbctl", "hb_standby")   # ... and that may change things

# The `code` of an ok=false answer (hbctl's exit status follows it).
FAILED, BAD_REQUEST, NOT_AUTHORISED, INTERNAL = 1, 2, 4, 5

_UCRED = struct.Struct("=iII")      # struct ucred: pid_t pid; uid_t uid; gid_t gid


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


class SocketInUse(Exception):
    """The socket path is taken: another hbd answers on it, or it is not a socket."""


class ControlError(Exception):
    """Client side: the exchange with hbd failed (no answer, garbled answer, ...)."""


class NotRunning(ControlError):
    """Client side: no hbd listens on the socket (ENOENT, ECONNREFUSED)."""


class PermissionDenied(ControlError):
    """Client side: the file system refused the connection (EACCES, EPERM)."""


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


def parse_request(line: bytes) -> tuple[str, dict[str, Any]]:
    """`(verb, args)` from a request line; BadRequest says what is wrong."""
    try:
        obj = json.loads(line)
    except ValueError as exc:        # includes UnicodeDecodeError
        raise BadRequest(f"request is not JSON: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("verb"), str):
        raise BadRequest('request must be a JSON object like {"verb": "status", "args": {}}')
    args = {} if obj.get("args") is None else obj["args"]
    if not isinstance(args, dict):
        raise BadRequest("request 'args' must be a JSON object")
    if obj["verb"] not in VERBS:
        raise BadRequest(f"unknown verb {obj['verb']!r}: hbd knows {', '.join(VERBS)}")
    return obj["verb"], args


# --- who may ask what ---------------------------------------------------------------

def _user_name(uid: int) -> str | None:
    with contextlib.suppress(KeyError):
        return pwd.getpwuid(uid).pw_name
    return None


def _user_id(name: str) -> int | None:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name).pw_uid
    return None


def _group_id(name: str) -> int | None:
    with contextlib.suppress(KeyError):
        return grp.getgrnam(name).gr_gid
    return None


def _groups_of(uid: int, gid: int) -> Iterable[int]:
    name = _user_name(uid)
    return os.getgrouplist(name, gid) if name is not None else (gid,)


@dataclass(frozen=True)
class Accounts:
    """Name service look-ups the Authorizer needs (tests pass fakes)."""

    user_name: Callable[[int], str | None] = _user_name
    user_id: Callable[[str], int | None] = _user_id
    group_id: Callable[[str], int | None] = _group_id
    groups_of: Callable[[int, int], Iterable[int]] = _groups_of   # (uid, primary gid)


@dataclass
class _Grant:
    uids: set[int] = field(default_factory=set)
    gids: set[int] = field(default_factory=set)


class Authorizer:
    """Decides from peer credentials and ha.cf's `apiauth` lines; see the module doc.

    Names in apiauth are resolved once, here; `unresolved` lists the ones
    that name no user or group, for the daemon to warn about.
    """

    def __init__(self, apiauth: Iterable[ApiAuth] = (), *, daemon_uid: int | None = None,
                 accounts: Accounts = Accounts()) -> None:
        self.daemon_uid = os.getuid() if daemon_uid is None else daemon_uid
        self._accounts = accounts
        self._read, self._change = _Grant(), _Grant()
        self.unresolved: list[str] = []
        for entry in apiauth:
            grants = [grant for clients, grant in ((READ_CLIENTS, self._read),
                                                   (CHANGE_CLIENTS, self._change))
                      if entry.client in clients]
            uids = self._resolve(entry, "user", entry.uids, accounts.user_id)
            gids = self._resolve(entry, "group", entry.gids, accounts.group_id)
            for grant in grants:
                grant.uids |= uids
                grant.gids |= gids

    def _resolve(self, entry: ApiAuth, kind: str, names: Iterable[str],
                 lookup: Callable[[str], int | None]) -> set[int]:
        found = set()
        for name in names:
            number = int(name) if name.isdigit() else lookup(name)
            if number is None:
                self.unresolved.append(f"apiauth {entry.client}: no {kind} named '{name}'")
            else:
                found.add(number)
        return found

    @property
    def socket_mode(self) -> int:
        """0o666 when apiauth lets anyone but root and the daemon in, else 0o600."""
        others = {self.daemon_uid, 0}
        grants = (self._read, self._change)
        return 0o666 if any(g.gids or g.uids - others for g in grants) else 0o600

    def allows(self, verb: str, uid: int, gid: int) -> bool:
        """Whether a peer with this uid and primary gid may use `verb`."""
        if uid in (0, self.daemon_uid):
            return True
        grant = self._change if verb in CHANGE_VERBS else self._read if verb in READ_VERBS else None
        if grant is None:
            return False
        if uid in grant.uids:
            return True
        if not grant.gids:
            return False
        return not grant.gids.isdisjoint({gid, *self._accounts.groups_of(uid, gid)})

    def check(self, verb: str, uid: int, gid: int) -> None:
        """Raise NotAuthorised, with the ha.cf line that would allow it, unless allowed."""
        if self.allows(verb, uid, gid):
            return
        name = self._accounts.user_name(uid)
        who = f"user {uid} ({name})" if name else f"user {uid}"
        raise NotAuthorised(f"{who} is not allowed to '{verb}': add it to an "
                            f"'apiauth hbctl uid={name or uid}' line in ha.cf")


# --- the server ---------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Any]]


def peer_credentials(sock: Any) -> tuple[int, int, int]:
    """`(pid, uid, gid)` of the process at the other end, from SO_PEERCRED."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return _UCRED.unpack(raw)


def _error(code: int, message: str) -> bytes:
    return encode({"ok": False, "error": message, "code": code})


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
        log.info("removing stale control socket %s", path)
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
    """Serves control requests on a unix socket, one per connection.

    `handler(request)` is called only for well-formed, authorised requests;
    its return value becomes `data`. RequestFailed from it becomes an ok=false
    answer with its code; any other exception is logged and answered as
    "internal error: ..." (code INTERNAL) and the server carries on.
    `mode=None` takes the mode from `authorizer.socket_mode`.
    """

    def __init__(self, path: str, handler: Handler, *, authorizer: Authorizer,
                 mode: int | None = None, read_timeout: float = READ_TIMEOUT,
                 max_clients: int = MAX_CLIENTS) -> None:
        self.path = path
        self.mode = authorizer.socket_mode if mode is None else mode
        self._handler = handler
        self._authorizer = authorizer
        self._read_timeout = read_timeout
        self._max_clients = max_clients
        self._server: asyncio.AbstractServer | None = None
        self._identity: tuple[int, int] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

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
        self._unlink()

    @property
    def connections(self) -> int:
        """How many connections are being served right now."""
        return len(self._tasks)

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
            log.debug("control client went away: %r", exc)
        except Exception:       # never let one connection take the server down
            log.exception("control: connection failed")
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _respond(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        """The answer line for one connection (b"" when there is nobody to answer)."""
        if len(self._tasks) > self._max_clients:
            return _error(FAILED, "hbd is busy: too many control connections, try again")
        pid, uid, gid = peer_credentials(writer.get_extra_info("socket"))
        try:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), self._read_timeout)
        except asyncio.LimitOverrunError:
            return _error(BAD_REQUEST, f"request too large (more than {MAX_REQUEST} bytes)")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:      # connected and went away (a liveness probe)
                return b""
            return _error(BAD_REQUEST, "request not terminated by a newline")
        except TimeoutError:
            log.info("control client pid %d uid %d sent no request in %g s", pid, uid,
                     self._read_timeout)
            return _error(BAD_REQUEST, f"no complete request line within {self._read_timeout:g} s")
        return await self._dispatch(line, uid, gid, pid)

    async def _dispatch(self, line: bytes, uid: int, gid: int, pid: int) -> bytes:
        verb = "?"
        try:
            verb, args = parse_request(line)
            self._authorizer.check(verb, uid, gid)
            data = await self._handler(Request(verb, args, uid, gid, pid))
            return encode({"ok": True, "data": data})
        except NotAuthorised as exc:
            log.warning("control: refused '%s' from pid %d uid %d", verb, pid, uid)
            return _error(exc.code, str(exc))
        except RequestFailed as exc:
            return _error(exc.code, str(exc))
        except Exception as exc:   # a bug in a handler must not take the server down
            log.exception("control: '%s' from pid %d failed", verb, pid)
            return _error(INTERNAL, f"internal error: {exc.__class__.__name__}: {exc}")


# --- clients ------------------------------------------------------------------------

def _connect_error(path: str, exc: OSError) -> ControlError:
    if exc.errno == errno.ENOENT:
        return NotRunning(f"hbd is not running (no socket at {path})")
    if exc.errno == errno.ECONNREFUSED:
        return NotRunning(f"hbd is not running (socket {path} refuses connections)")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PermissionDenied(f"permission denied on {path}: run as root, or ask for an "
                                "'apiauth hbctl uid=...' line in ha.cf")
    return ControlError(f"cannot connect to {path}: {exc.strerror or exc}")


def decode_response(line: bytes) -> dict[str, Any]:
    """Check an answer line's shape; ControlError when it is not a valid answer."""
    try:
        obj = json.loads(line)
    except ValueError:
        raise ControlError(f"hbd sent an answer that is not JSON: {line[:80]!r}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("ok"), bool):
        raise ControlError(f"hbd sent an unexpected answer: {line[:80]!r}")
    if not obj["ok"]:
        obj["error"] = str(obj.get("error") or "request failed")
        obj["code"] = obj["code"] if isinstance(obj.get("code"), int) else FAILED
    return obj


async def request(path: str, verb: str, args: dict[str, Any] | None = None, *,
                  timeout: float = 5.0) -> dict[str, Any]:
    """Send one request, return the decoded answer (ok or not).

    Raises NotRunning, PermissionDenied or ControlError.
    """
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
        raise ControlError(f"hbd did not answer within {timeout:g} s") from None
    except (asyncio.IncompleteReadError, ConnectionError):
        raise ControlError("hbd closed the connection without answering") from None
    except asyncio.LimitOverrunError:
        raise ControlError("hbd's answer is too large") from None
    return decode_response(line)


def request_sync(path: str, verb: str, args: dict[str, Any] | None = None, *,
                 timeout: float = 5.0) -> dict[str, Any]:
    """Blocking `request`, for hbctl (no event loop). `timeout` bounds each wait."""
    payload = encode({"verb": verb, "args": args or {}})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except TimeoutError:
            raise ControlError(f"hbd did not accept the connection within {timeout:g} s") from None
        except OSError as exc:
            raise _connect_error(path, exc) from None
        try:
            with contextlib.suppress(ConnectionError):      # it may have answered already
                sock.sendall(payload)
            with sock.makefile("rb") as stream:
                line = stream.readline(MAX_RESPONSE + 1)
        except TimeoutError:
            raise ControlError(f"hbd did not answer within {timeout:g} s") from None
        except ConnectionError:
            line = b""
    if not line.endswith(b"\n"):
        raise ControlError("hbd's answer is too large" if len(line) > MAX_RESPONSE
                           else "hbd closed the connection without answering")
    return decode_response(line)


# --- answering (pure; for the runtime's handler) ---------------------------------------

def query(request: Request, document: Mapping[str, Any]) -> Any:
    """The `data` for a read verb, from a status document (`status_document`)."""
    if request.verb not in READ_VERBS:
        raise BadRequest(f"'{request.verb}' is not a read verb")
    try:
        return read_answer(request.verb, request.args, document)
    except NotInDocument as exc:
        raise BadRequest(str(exc)) from None


def parse_admin(request: Request) -> AdminRequested:
    """The core event for `standby`/`takeover`; args `{"which": all|local|foreign|failback}`."""
    try:
        verb = AdminVerb(request.verb)
    except ValueError:
        raise BadRequest(f"'{request.verb}' is not a change verb") from None
    word = request.args.get("which", "all")
    try:
        which = GroupSet.parse(word) if isinstance(word, str) else None
    except ValueError:
        which = None
    if which is None:
        raise BadRequest(f"unknown group set {word!r}: use all, local, foreign or failback")
    return AdminRequested(verb, which)


def answer(request: Request, status: ClusterStatus, *,
           extra: Mapping[str, Any] = MappingProxyType({})) -> Any:
    """What the runtime's handler needs: an AdminRequested to feed for change
    verbs, else the `data` for the read verb."""
    if request.verb in CHANGE_VERBS:
        return parse_admin(request)
    return query(request, status_document(status, extra=extra))


def handle_request(request: Request, daemon: Any) -> Any:
    """The daemon's whole answer, for `hbd.service.Service`.

    `daemon.runtime` gives `status()` and takes `feed(event)`;
    `daemon.daemon_info()` gives the document's `daemon` part (the version is
    added here). Change verbs are fed to the core and answered at once.
    """
    runtime = daemon.runtime
    if runtime is None:
        raise RequestFailed("hbd is still starting: try again in a moment")
    extra = {"version": __version__, **daemon.daemon_info()}
    result = answer(request, runtime.status(), extra=extra)
    if not isinstance(result, AdminRequested):
        return result
    runtime.feed(result)
    which = result.which.value
    return {"verb": request.verb, "which": which,
            "message": f"{request.verb} {which} requested: follow it with 'hbctl resources'"}

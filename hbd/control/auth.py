"""Who may ask what on the control socket.

The server reads the peer's uid/gid with SO_PEERCRED and asks an `Authorizer`
built from ha.cf's `apiauth` lines. Root and the daemon's own uid may do
anything; read verbs are open to `apiauth hbctl` and `apiauth cl_status`
entries, change verbs to `apiauth hbctl` and `apiauth hb_standby` entries.
When apiauth names anyone else, the socket is made world-connectable (0o666)
and the peer credentials are the only check.

`Authorizer.rights()` is pure: the groups of a user come from a `NameCache`,
which asks the name service (getpwuid, getgrouplist) in its own worker
threads, never on the event loop, and keeps each answer for `ttl` seconds.
Names in apiauth are resolved once, when the Authorizer is built (the service
builds it in a thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import grp
import os
import pwd
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from hbd.config.model import ApiAuth
from hbd.control.protocol import CHANGE_VERBS, READ_VERBS, NotAuthorised, not_allowed

READ_CLIENTS = ("hbctl", "cl_status")      # apiauth client names that may read
CHANGE_CLIENTS = ("hbctl", "hb_standby")   # ... and that may change things
LOOKUP_TTL = 60.0                          # seconds a user's name and groups are kept
LOOKUP_TIMEOUT = 5.0                       # seconds a connection waits for the name service
MAX_CACHED = 1024                          # users remembered
MAX_PENDING = 64                           # distinct users being looked up at once


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


class Rights(enum.Flag):
    NONE = 0
    READ = enum.auto()
    CHANGE = enum.auto()
    PRIVILEGED = enum.auto()       # root and the daemon's uid: also verbs hbd does not know
    ALL = READ | CHANGE | PRIVILEGED


def needed(verb: str) -> Rights:
    """The right a verb needs (PRIVILEGED for a verb hbd does not know)."""
    if verb in CHANGE_VERBS:
        return Rights.CHANGE
    return Rights.READ if verb in READ_VERBS else Rights.PRIVILEGED


@dataclass
class _Grant:
    uids: set[int] = field(default_factory=set)
    gids: set[int] = field(default_factory=set)


class Authorizer:
    """Decides from peer credentials and ha.cf's `apiauth` lines; see the module doc.

    `unresolved` lists the names in apiauth that name no user or group, for
    the daemon to warn about.
    """

    def __init__(self, apiauth: Iterable[ApiAuth] = (), *, daemon_uid: int | None = None,
                 accounts: Accounts = Accounts()) -> None:
        self.daemon_uid = os.getuid() if daemon_uid is None else daemon_uid
        self.accounts = accounts
        self._grants = {Rights.READ: _Grant(), Rights.CHANGE: _Grant()}
        self.unresolved: list[str] = []
        for entry in apiauth:
            grants = [grant for clients, grant in ((READ_CLIENTS, self._grants[Rights.READ]),
                                                   (CHANGE_CLIENTS, self._grants[Rights.CHANGE]))
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
        return 0o666 if any(g.gids or g.uids - others for g in self._grants.values()) else 0o600

    def privileged(self, uid: int) -> bool:
        return uid in (0, self.daemon_uid)

    def needs_groups(self, uid: int) -> bool:
        """Whether `rights(uid, ...)` depends on the user's groups (a name-service look-up)."""
        if self.privileged(uid):
            return False
        return any(uid not in g.uids and g.gids for g in self._grants.values())

    def rights(self, uid: int, groups: Collection[int] = ()) -> Rights:
        """What a user in `groups` (primary and supplementary gids) may do."""
        if self.privileged(uid):
            return Rights.ALL
        rights = Rights.NONE
        for right, grant in self._grants.items():
            if uid in grant.uids or not grant.gids.isdisjoint(groups):
                rights |= right
        return rights

    def allows(self, verb: str, uid: int, gid: int) -> bool:
        """Whether a peer with this uid and primary gid may use `verb` (blocking look-ups)."""
        if self.privileged(uid):
            return True
        groups = {gid, *self.accounts.groups_of(uid, gid)} if self.needs_groups(uid) else ()
        return needed(verb) in self.rights(uid, groups)

    def check(self, verb: str, uid: int, gid: int) -> None:
        """Raise NotAuthorised, with the ha.cf line that would allow it, unless allowed."""
        if not self.allows(verb, uid, gid):
            raise NotAuthorised(not_allowed(uid, self.accounts.user_name(uid), verb))


# --- name service look-ups off the event loop ---------------------------------------------

@dataclass(frozen=True)
class Peer:
    """What the name service says about a connecting user."""

    name: str | None
    groups: frozenset[int]


class LookupBusy(Exception):
    """The name service is slow or swamped: the connection is refused, try again."""


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if not future.done():
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class _Workers:
    """A few daemon threads for blocking look-ups. (A ThreadPoolExecutor's threads
    are joined at exit: a name service that hangs would hang the daemon's exit.)"""

    def __init__(self, count: int, name: str) -> None:
        self._count, self._name = count, name
        self._jobs: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._threads:
            self._threads = [threading.Thread(target=self._run, name=f"{self._name}-{n}",
                                              daemon=True) for n in range(self._count)]
            for thread in self._threads:
                thread.start()
        self._jobs.put((loop, future, fn, args))
        return future

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn, args = job
            try:
                outcome: tuple[bool, Any] = (True, fn(*args))
            except BaseException as exc:   # handed to the waiting coroutine
                outcome = (False, exc)
            with contextlib.suppress(RuntimeError):      # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, future, *outcome)

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        self._threads = []


class NameCache:
    """`await lookup(uid, gid)`: the user's name and groups, from worker threads.

    One look-up per (uid, gid) at a time (later askers share it), answers
    kept `ttl` seconds, at most `max_entries` users remembered and
    `max_pending` looked up at once. A look-up slower than `timeout` raises
    LookupBusy (the thread finishes on its own and fills the cache)."""

    def __init__(self, accounts: Accounts = Accounts(), *, ttl: float = LOOKUP_TTL,
                 timeout: float = LOOKUP_TIMEOUT, max_entries: int = MAX_CACHED,
                 max_pending: int = MAX_PENDING, workers: int = 2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.accounts = accounts
        self._ttl, self._timeout, self._clock = ttl, timeout, clock
        self._max_entries, self._max_pending = max_entries, max_pending
        self._cache: dict[tuple[int, int], tuple[float, Peer]] = {}
        self._pending: dict[tuple[int, int], asyncio.Future[Peer]] = {}
        self._workers = _Workers(workers, "hbd-names")
        self.lookups = 0

    def _ask(self, uid: int, gid: int) -> Peer:       # in a worker thread
        try:
            name = self.accounts.user_name(uid)
            return Peer(name, frozenset({gid, *self.accounts.groups_of(uid, gid)}))
        except Exception:    # a broken name service grants nothing beyond the primary gid
            return Peer(None, frozenset({gid}))

    def cached(self, uid: int, gid: int) -> Peer | None:
        entry = self._cache.get((uid, gid))
        if entry is None or self._clock() - entry[0] > self._ttl:
            return None
        return entry[1]

    def _store(self, key: tuple[int, int], future: asyncio.Future[Peer]) -> None:
        self._pending.pop(key, None)
        if future.cancelled() or future.exception() is not None:
            return
        self._cache.pop(key, None)
        while len(self._cache) >= self._max_entries:
            del self._cache[next(iter(self._cache))]
        self._cache[key] = (self._clock(), future.result())

    async def lookup(self, uid: int, gid: int) -> Peer:
        peer = self.cached(uid, gid)
        if peer is not None:
            return peer
        key = (uid, gid)
        future = self._pending.get(key)
        if future is None:
            if len(self._pending) >= self._max_pending:
                raise LookupBusy("too many name-service look-ups under way")
            future = self._workers.submit(self._ask, uid, gid)
            self._pending[key] = future
            future.add_done_callback(lambda done: self._store(key, done))
            self.lookups += 1
        try:
            return await asyncio.wait_for(asyncio.shield(future), self._timeout)
        except TimeoutError:
            raise LookupBusy(f"the name service did not answer within {self._timeout:g} s") \
                from None

    def close(self) -> None:
        self._workers.close()

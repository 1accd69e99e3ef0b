"""The one module of hbd that talks rtnetlink (pyroute2); everything else sees values.

`Netlink` is a thin asynchronous wrapper around pyroute2's `AsyncIPRoute`:

* The socket is opened at the first call, inside the running event loop and
  the calling process's network namespace (never at import time), and closed
  by `close()`. `open()` opens it ahead of time (the daemon does so at
  start-up, so the first move does not pay for it).
* Nothing raises. A query returns its data or a `NetFailure`; a change returns
  None or a `NetFailure`. A `NetFailure` keeps the kernel's errno in `.code`
  and words an operator can act on in `.detail` ("eth9: no such interface").
* Changes are idempotent in the manner of pyroute2's `ensure()`: adding what
  is already there (EEXIST) succeeds, and deleting what is already gone
  (ENOENT, EADDRNOTAVAIL, ESRCH for routes) succeeds.
* `batch()` sends several changes on the one socket without waiting for each
  answer: the requests go out in order and the kernel carries out each
  request of a socket before it reads the next, so the order holds; then the
  answers are collected. `snapshot()` reads links, addresses and routes with
  one interface dump.
* `LinkEvents` is a second socket subscribed to link changes (RTMGRP_LINK),
  for the carrier watch (`carrier.py`).

Links, addresses and routes come back as the records of `netdata.py`. Only
IPv4 addresses and IPv4 routes of the main table are modelled: that is what
the identity resources move.

pyroute2 is imported through `lean_import.py`: only the modules used here are
loaded, not the whole library its package `__init__` pulls in.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from hbd.resources.lean_import import import_submodules
from hbd.resources.netdata import (
    IFF_LOWER_UP,
    IFF_UP,
    Address,
    Change,
    Link,
    NetFailure,
    Route,
    Snapshot,
    errname,
)

if import_submodules("pyroute2", ("pyroute2.iproute.linux", "pyroute2.netlink.exceptions")):
    from pyroute2.iproute.linux import AsyncIPRoute
    from pyroute2.netlink.exceptions import NetlinkDumpInterrupted, NetlinkError
else:  # another pyroute2 layout: the ordinary (heavier) import
    from pyroute2 import AsyncIPRoute, NetlinkError
    from pyroute2.netlink.exceptions import NetlinkDumpInterrupted

__all__ = [
    "PROTO_KERNEL",
    "Address",
    "Link",
    "LinkEvents",
    "NetFailure",
    "Netlink",
    "Route",
    "Snapshot",
    "errname",
]

T = TypeVar("T")

MAIN_TABLE = 254
PROTO_KERNEL = 2
RTN_UNICAST = 1
RTMGRP_LINK = 0x1
RTM_NEWLINK = 16
RTM_DELLINK = 17
GONE = (errno.ENOENT, errno.EADDRNOTAVAIL, errno.ESRCH, errno.ENODEV)
DUMP_ATTEMPTS = 3
VERBS = {"add": "adding", "replace": "replacing", "del": "deleting"}


def _failure(what: str, exc: BaseException) -> NetFailure:
    if isinstance(exc, NetlinkError):
        code = exc.code if isinstance(exc.code, int) and exc.code > 0 else None
        reason = os.strerror(code) if code else str(exc)
    elif isinstance(exc, OSError):
        code, reason = exc.errno, exc.strerror or str(exc)
    else:
        code, reason = None, str(exc) or type(exc).__name__
    return NetFailure(code, f"{what}: {reason} ({errname(code)})" if code else f"{what}: {reason}")


def _link(msg: Any) -> Link:
    flags = msg["flags"]
    return Link(msg["index"], msg.get("ifname"), (msg.get("address") or "").lower(),
                bool(flags & IFF_UP), bool(flags & IFF_LOWER_UP))


class Netlink:
    """Async rtnetlink calls that return values; see the module docstring."""

    def __init__(self) -> None:
        self._ipr: AsyncIPRoute | None = None

    async def open(self) -> NetFailure | None:
        """Open the socket now; None when it is ready."""
        found = await self.links()
        return found if isinstance(found, NetFailure) else None

    async def close(self) -> None:
        if self._ipr is not None:
            ipr, self._ipr = self._ipr, None
            ipr.close()

    async def _query(self, what: str,
                     call: Callable[[AsyncIPRoute], Awaitable[T]]) -> T | NetFailure:
        interrupted: BaseException = NetlinkDumpInterrupted()
        for _ in range(DUMP_ATTEMPTS):
            try:
                if self._ipr is None:
                    self._ipr = AsyncIPRoute()
                return await call(self._ipr)
            except NetlinkDumpInterrupted as exc:  # the table changed mid-dump: read again
                interrupted = exc
            except (NetlinkError, OSError) as exc:
                return _failure(what, exc)
        return _failure(what, interrupted)

    async def _change(self, what: str, call: Callable[[AsyncIPRoute], Awaitable[Any]],
                      ok_codes: tuple[int, ...] = ()) -> NetFailure | None:
        result = await self._query(what, call)
        if isinstance(result, NetFailure):
            return None if result.code in ok_codes else result
        return None

    # --- reading -----------------------------------------------------------------
    async def links(self) -> list[Link] | NetFailure:
        async def dump(ipr: AsyncIPRoute) -> list[Link]:
            return [_link(m) async for m in await ipr.link("dump")]
        return await self._query("listing interfaces", dump)

    async def link(self, name: str) -> Link | NetFailure:
        found = await self.links()
        if isinstance(found, NetFailure):
            return found
        for link in found:
            if link.name == name:
                return link
        return NetFailure(errno.ENODEV, f"{name}: no such interface")

    async def addresses(self, links: Sequence[Link] | None = None) -> list[Address] | NetFailure:
        if links is None:
            found = await self.links()
            if isinstance(found, NetFailure):
                return found
            links = found
        names = {link.index: link.name for link in links}

        async def dump(ipr: AsyncIPRoute) -> list[Address]:
            return [Address(names.get(m["index"], str(m["index"])), m.get("address"),
                            m["prefixlen"], m.get("broadcast"))
                    async for m in await ipr.addr("dump", family=socket.AF_INET)]
        return await self._query("listing addresses", dump)

    async def routes(self, links: Sequence[Link] | None = None) -> list[Route] | NetFailure:
        """IPv4 unicast routes of the main table (single next hop only)."""
        if links is None:
            found = await self.links()
            if isinstance(found, NetFailure):
                return found
            links = found
        names = {link.index: link.name for link in links}

        async def dump(ipr: AsyncIPRoute) -> list[Route]:
            return [Route(m.get("dst"), m["dst_len"], m.get("gateway"),
                          names.get(m.get("oif")), m.get("priority") or 0, m["proto"],
                          m["scope"], m.get("prefsrc"))
                    async for m in await ipr.route("dump", family=socket.AF_INET)
                    if m.get("table") == MAIN_TABLE and m["type"] == RTN_UNICAST
                    and not m.get("multipath")]
        return await self._query("listing routes", dump)

    async def snapshot(self, *, routes: bool = False) -> Snapshot | NetFailure:
        """Links and addresses (and routes if asked) with one interface dump."""
        links = await self.links()
        if isinstance(links, NetFailure):
            return links
        addresses = await self.addresses(links)
        if isinstance(addresses, NetFailure):
            return addresses
        found: list[Route] | NetFailure | None = await self.routes(links) if routes else None
        if isinstance(found, NetFailure):
            return found
        return Snapshot(tuple(links), tuple(addresses), tuple(found) if found is not None else None)

    # --- links -----------------------------------------------------------------------
    async def set_mac(self, link: Link, mac: str) -> NetFailure | None:
        return await self._change(f"setting MAC {mac} on {link.name}",
                                  lambda ipr: ipr.link("set", index=link.index, address=mac))

    async def set_up(self, link: Link, up: bool) -> NetFailure | None:
        state = "up" if up else "down"
        return await self._change(f"bringing {link.name} {state}",
                                  lambda ipr: ipr.link("set", index=link.index, state=state))

    # --- addresses and routes, one at a time -------------------------------------------
    async def add_address(self, link: Link, addr: Address) -> NetFailure | None:
        return (await self.batch([Change("add-address", address=addr, link=link)]))[0]

    async def del_address(self, link: Link, addr: Address) -> NetFailure | None:
        return (await self.batch([Change("del-address", address=addr, link=link)]))[0]

    async def add_route(self, route: Route) -> NetFailure | None:
        return (await self.batch([Change("add-route", route=route)]))[0]

    async def replace_route(self, route: Route) -> NetFailure | None:
        return (await self.batch([Change("replace-route", route=route)]))[0]

    async def del_route(self, route: Route) -> NetFailure | None:
        return (await self.batch([Change("del-route", route=route)]))[0]

    # --- batches ---------------------------------------------------------------------------
    async def batch(self, changes: Sequence[Change],
                    links: Sequence[Link] | None = None) -> list[NetFailure | None]:
        """Carry out `changes` in order, all sent before any answer is awaited;
        one result per change (None: done). `links` (a recent read) saves the
        interface dump that routes naming an interface need otherwise."""
        if not changes:
            return []
        indexes: dict[str, int] | NetFailure = {}
        if any(c.route is not None and c.route.ifname for c in changes):
            found = list(links) if links is not None else await self.links()
            indexes = found if isinstance(found, NetFailure) else {
                link.name: link.index for link in found}
        if self._ipr is None:
            opened = await self.open()
            if opened is not None:
                return [opened] * len(changes)
        ipr = self._ipr
        assert ipr is not None
        await ipr.setup_endpoint()    # so that no request waits for it: sends stay in order
        calls = [self._request(ipr, change, indexes) for change in changes]
        return list(await asyncio.gather(*calls))

    async def _request(self, ipr: AsyncIPRoute, change: Change,
                       indexes: dict[str, int] | NetFailure) -> NetFailure | None:
        verb = change.verb.partition("-")[0]
        ok_codes = (errno.EEXIST,) if verb == "add" else GONE if verb == "del" else ()
        if change.address is not None and change.link is not None:
            addr, link = change.address, change.link
            text = f"{VERBS[verb]} {addr.address}/{addr.prefixlen} {'to' if verb == 'add' else 'from'} {link.name}"
            spec: dict[str, Any] = {"index": link.index, "address": addr.address,
                                    "prefixlen": addr.prefixlen}
            if verb == "add" and addr.broadcast:
                spec["broadcast"] = addr.broadcast
            call = ipr.addr(verb, **spec)
        elif change.route is not None:
            route = change.route
            text = f"{VERBS[verb]} route {route.describe()}"
            route_spec = _route_spec(verb, route, indexes)
            if isinstance(route_spec, NetFailure):
                return route_spec
            call = ipr.route(verb, **route_spec)
        else:
            return NetFailure(None, f"{change.verb}: nothing to change")
        try:
            await call
        except (NetlinkError, OSError) as exc:
            failure = _failure(text, exc)
            return None if failure.code in ok_codes else failure
        return None


def _route_spec(verb: str, route: Route,
                indexes: dict[str, int] | NetFailure) -> dict[str, Any] | NetFailure:
    spec: dict[str, Any] = {"dst": f"{route.dst or '0.0.0.0'}/{route.dst_len}",
                            "table": MAIN_TABLE, "priority": route.priority}
    if route.gateway:
        spec["gateway"] = route.gateway
    if route.ifname:
        if isinstance(indexes, NetFailure):
            return indexes
        if route.ifname not in indexes:
            return NetFailure(errno.ENODEV, f"{route.ifname}: no such interface")
        spec["oif"] = indexes[route.ifname]
    if verb != "del":
        spec.update(proto=route.proto, scope=route.scope)
        if route.prefsrc:
            spec["prefsrc"] = route.prefsrc
    return spec


class LinkEvents:
    """Link state as the kernel announces it: the links now, then every change.

    `await events.open()` subscribes to link changes first (so none is missed)
    and returns the current links; `async for link in events.changes()` then
    yields each link the kernel reports changed (RTM_NEWLINK). A removed
    interface comes as a `Link` with `index=-1`, down, no carrier. The
    iteration ends when the object is closed; a socket error ends it with the
    exception (the caller opens a new one).
    """

    def __init__(self) -> None:
        self._ipr: AsyncIPRoute | None = None

    async def open(self) -> list[Link]:
        self._ipr = ipr = AsyncIPRoute()
        await ipr.bind(groups=RTMGRP_LINK)
        return [_link(m) async for m in await ipr.link("dump")]

    @property
    def closed(self) -> bool:
        return self._ipr is None

    async def changes(self) -> AsyncIterator[Link]:
        while (ipr := self._ipr) is not None:
            got = False
            async for msg in ipr.get():
                got = True
                event = msg.get("header", {}).get("type")
                if event == RTM_DELLINK:
                    yield Link(-1, msg.get("ifname"), "", False, False)
                elif event == RTM_NEWLINK:
                    yield _link(msg)
            if not got:          # closed: pyroute2 hands out an empty read
                return

    def close(self) -> None:
        if self._ipr is not None:
            ipr, self._ipr = self._ipr, None
            ipr.close()

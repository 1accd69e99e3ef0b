"""The one module of hbd that talks rtnetlink (pyroute2); everything else sees values.

`Netlink` is a thin asynchronous wrapper around pyroute2's `AsyncIPRoute`:

* The socket is opened at the first call, inside the running event loop and
  the calling process's network namespace (never at import time), and closed
  by `close()`.
* Nothing raises. A query returns its data or a `NetFailure`; a change returns
  None or a `NetFailure`. A `NetFailure` keeps the kernel's errno in `.code`
  and words an operator can act on in `.detail` ("eth9: no such interface").
* Changes are idempotent in the manner of pyroute2's `ensure()`: adding what
  is already there (EEXIST) succeeds, and deleting what is already gone
  (ENOENT, EADDRNOTAVAIL, ESRCH for routes) succeeds.
* Links, addresses and routes come back as small frozen dataclasses, so the
  callers never handle pyroute2 messages. Only IPv4 addresses and IPv4 routes
  of the main table are modelled: that is what the identity resources move.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import os
import socket
import sys
import types
from dataclasses import asdict, dataclass
from typing import Any, Awaitable, Callable, TypeVar



def _lean_import() -> None:
    """Let `pyroute2.iproute` load without the package's `__init__`.

    pyroute2/__init__.py imports every part of the library (NDB with sqlite3,
    multiprocessing, unittest, nftables, ...): about 6 MB of RSS on every node
    for nothing hbd uses. An empty package module with the real search path
    makes `import pyroute2.iproute.linux` load only what it needs. If that ever
    fails (another pyroute2 layout), the ordinary import is used.
    """
    if "pyroute2" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or not spec.submodule_search_locations:
        return
    shell = types.ModuleType("pyroute2")
    shell.__path__ = list(spec.submodule_search_locations)
    shell.__spec__ = spec
    shell.__file__ = spec.origin
    sys.modules["pyroute2"] = shell
    try:
        importlib.import_module("pyroute2.iproute.linux")
    except ImportError:
        for name in [n for n in sys.modules if n == "pyroute2" or n.startswith("pyroute2.")]:
            del sys.modules[name]


_lean_import()
try:
    from pyroute2.iproute.linux import AsyncIPRoute
    from pyroute2.netlink.exceptions import NetlinkDumpInterrupted, NetlinkError
except ImportError:  # the lean import did not take: the ordinary one
    from pyroute2 import AsyncIPRoute, NetlinkError
    from pyroute2.netlink.exceptions import NetlinkDumpInterrupted

T = TypeVar("T")

MAIN_TABLE = 254
PROTO_KERNEL = 2
RTN_UNICAST = 1
IFF_UP = 0x1
GONE = (errno.ENOENT, errno.EADDRNOTAVAIL, errno.ESRCH, errno.ENODEV)
DUMP_ATTEMPTS = 3


@dataclass(frozen=True)
class NetFailure:
    """A refused or failed netlink request; `code` is the errno when there was one."""

    code: int | None
    detail: str

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    mac: str
    up: bool


@dataclass(frozen=True)
class Address:
    """One IPv4 address on an interface."""

    ifname: str
    address: str
    prefixlen: int
    broadcast: str | None = None


@dataclass(frozen=True)
class Route:
    """One IPv4 route of the main table; `dst=None` is the default route."""

    dst: str | None
    dst_len: int
    gateway: str | None = None
    ifname: str | None = None
    priority: int = 0
    proto: int = 4          # RTPROT_STATIC, what `ip route add` uses
    scope: int = 0
    prefsrc: str | None = None

    @property
    def is_default(self) -> bool:
        return self.dst is None and self.dst_len == 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Route":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def describe(self) -> str:
        text = "default" if self.is_default else f"{self.dst}/{self.dst_len}"
        text += f" via {self.gateway}" if self.gateway else ""
        text += f" dev {self.ifname}" if self.ifname else ""
        return text + (f" metric {self.priority}" if self.priority else "")


def errname(code: int | None) -> str:
    return errno.errorcode.get(code or 0, str(code))


def _failure(what: str, exc: NetlinkError | OSError) -> NetFailure:
    if isinstance(exc, NetlinkError):
        code = exc.code if isinstance(exc.code, int) and exc.code > 0 else None
        reason = os.strerror(code) if code else str(exc)
    else:
        code, reason = exc.errno, exc.strerror or str(exc)  # type: ignore[attr-defined]
    return NetFailure(code, f"{what}: {reason} ({errname(code)})" if code else f"{what}: {reason}")


class Netlink:
    """Async rtnetlink calls that return values; see the module docstring."""

    def __init__(self) -> None:
        self._ipr: AsyncIPRoute | None = None

    async def close(self) -> None:
        if self._ipr is not None:
            ipr, self._ipr = self._ipr, None
            ipr.close()

    async def _query(self, what: str,
                     call: Callable[[AsyncIPRoute], Awaitable[T]]) -> T | NetFailure:
        interrupted = NetlinkDumpInterrupted()
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

    # --- links -----------------------------------------------------------------
    async def links(self) -> list[Link] | NetFailure:
        async def dump(ipr: AsyncIPRoute) -> list[Link]:
            return [Link(m["index"], m.get("ifname"), (m.get("address") or "").lower(),
                         bool(m["flags"] & IFF_UP))
                    async for m in await ipr.link("dump")]
        return await self._query("listing interfaces", dump)

    async def link(self, name: str) -> Link | NetFailure:
        found = await self.links()
        if isinstance(found, NetFailure):
            return found
        for link in found:
            if link.name == name:
                return link
        return NetFailure(errno.ENODEV, f"{name}: no such interface")

    async def set_mac(self, link: Link, mac: str) -> NetFailure | None:
        return await self._change(f"setting MAC {mac} on {link.name}",
                                lambda ipr: ipr.link("set", index=link.index, address=mac))

    async def set_up(self, link: Link, up: bool) -> NetFailure | None:
        state = "up" if up else "down"
        return await self._change(f"bringing {link.name} {state}",
                                lambda ipr: ipr.link("set", index=link.index, state=state))

    # --- addresses -----------------------------------------------------------------
    async def addresses(self) -> list[Address] | NetFailure:
        names = await self._names()
        if isinstance(names, NetFailure):
            return names

        async def dump(ipr: AsyncIPRoute) -> list[Address]:
            return [Address(names.get(m["index"], str(m["index"])), m.get("address"),
                            m["prefixlen"], m.get("broadcast"))
                    async for m in await ipr.addr("dump", family=socket.AF_INET)]
        return await self._query("listing addresses", dump)

    async def add_address(self, link: Link, addr: Address) -> NetFailure | None:
        extra = {"broadcast": addr.broadcast} if addr.broadcast else {}
        return await self._change(
            f"adding {addr.address}/{addr.prefixlen} to {link.name}",
            lambda ipr: ipr.addr("add", index=link.index, address=addr.address,
                                 prefixlen=addr.prefixlen, **extra),
            ok_codes=(errno.EEXIST,))

    async def del_address(self, link: Link, addr: Address) -> NetFailure | None:
        return await self._change(
            f"deleting {addr.address}/{addr.prefixlen} from {link.name}",
            lambda ipr: ipr.addr("del", index=link.index, address=addr.address,
                                 prefixlen=addr.prefixlen),
            ok_codes=GONE)

    # --- routes ------------------------------------------------------------------
    async def routes(self) -> list[Route] | NetFailure:
        """IPv4 unicast routes of the main table (single next hop only)."""
        names = await self._names()
        if isinstance(names, NetFailure):
            return names

        async def dump(ipr: AsyncIPRoute) -> list[Route]:
            return [Route(m.get("dst"), m["dst_len"], m.get("gateway"),
                          names.get(m.get("oif")), m.get("priority") or 0, m["proto"],
                          m["scope"], m.get("prefsrc"))
                    async for m in await ipr.route("dump", family=socket.AF_INET)
                    if m.get("table") == MAIN_TABLE and m["type"] == RTN_UNICAST
                    and not m.get("multipath")]
        return await self._query("listing routes", dump)

    async def add_route(self, route: Route) -> NetFailure | None:
        return await self._route("add", route, ok_codes=(errno.EEXIST,))

    async def replace_route(self, route: Route) -> NetFailure | None:
        return await self._route("replace", route)

    async def del_route(self, route: Route) -> NetFailure | None:
        return await self._route("del", route, ok_codes=GONE)

    async def _route(self, command: str, route: Route,
                     ok_codes: tuple[int, ...] = ()) -> NetFailure | None:
        spec: dict[str, Any] = {"dst": f"{route.dst or '0.0.0.0'}/{route.dst_len}",
                                "table": MAIN_TABLE, "priority": route.priority}
        if route.gateway:
            spec["gateway"] = route.gateway
        if route.ifname:
            link = await self.link(route.ifname)
            if isinstance(link, NetFailure):
                return link
            spec["oif"] = link.index
        if command != "del":
            spec.update(proto=route.proto, scope=route.scope)
            if route.prefsrc:
                spec["prefsrc"] = route.prefsrc
        verb = {"add": "adding", "replace": "replacing", "del": "deleting"}[command]
        return await self._change(f"{verb} route {route.describe()}",
                                lambda ipr: ipr.route(command, **spec), ok_codes)

    async def _names(self) -> dict[int, str] | NetFailure:
        links = await self.links()
        if isinstance(links, NetFailure):
            return links
        return {link.index: link.name for link in links}

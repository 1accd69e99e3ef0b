"""The stacked settings: the MAC of an interface, the hostname, the default routes.

Each MacAddr, Hostname or DefaultRoute resource pushes its value on the
setting's stack in the journal (`journal.Stack`); the setting shows the top;
releasing a resource removes its push and shows what is then on top, and
releasing the last push restores the original. This module says, for each
kind, what a resource wants (`wanted`), how the live value is read, compared
and shown, and how a value is put in place (`Appliers`):

* **MAC**: tried live; if the driver refuses (EBUSY), or when
  `mac_link_down=True`, the link is taken down, changed and brought up, and
  the routes through it that the kernel flushed are added back. The journal
  records, before the link goes down, what must be put back if the change is
  interrupted (`Stack.changing`); `finish_flap` completes such a change after
  a crash.
* **hostname**: `sethostname(2)`.
* **default routes**: made exactly the wanted ones: replace (atomic), then
  delete the rest.

Announcing a MAC change (gratuitous ARP) is the caller's business, except in
`Appliers.mac(..., announce=True)` used by recovery.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hbd.config.model import Resource
from hbd.resources.addressing import (
    route_changes,
    route_matches,
    routes_cover,
    routes_of,
    show_routes,
)
from hbd.resources.garp import Announcer
from hbd.resources.journal import Stack
from hbd.resources.ledger import Failed, Gone, Ledger, joined, need, need_ok
from hbd.resources.netdata import Change, Link, NetFailure, Route, Snapshot
from hbd.resources.netlink import PROTO_KERNEL, Netlink

SETTING_KINDS = {"MacAddr": "mac", "Hostname": "hostname", "DefaultRoute": "route"}


@dataclass(frozen=True)
class Wanted:
    """The setting a resource changes (`kind`, `key`) and the value it wants there."""

    kind: str
    key: str
    value: Any


def wanted(resource: Resource) -> Wanted:
    kind = SETTING_KINDS[resource.name]
    if kind == "mac":
        return Wanted(kind, resource.args[0], resource.args[1].lower())
    if kind == "hostname":
        return Wanted(kind, "", resource.args[0])
    return Wanted(kind, "default", [Route(None, 0, gateway=resource.args[0]).to_json()])


def show(kind: str, key: str, value: Any) -> str:
    if kind == "mac":
        return f"{key} MAC {value}"
    if kind == "hostname":
        return f"hostname {value}"
    return show_routes(routes_of(value))


def same(kind: str, live: Any, value: Any) -> bool:
    """The live value is what `value` asks for (every wanted default route is there)."""
    if kind == "route":
        return routes_cover(routes_of(live), routes_of(value))
    return bool(live == value)


def live_value(kind: str, key: str, snap: Snapshot) -> Any:
    """The setting as it is now (routes: `snap` must hold them); Gone for a missing link."""
    if kind == "mac":
        link = snap.link(key)
        if link is None:
            raise Gone(f"{key}: no such interface")
        return link.mac
    if kind == "hostname":
        return socket.gethostname()
    return [r.to_json() for r in snap.routes or () if r.is_default]


class Appliers:
    """Puts a setting's value in place (module docstring)."""

    def __init__(self, nl: Netlink, garp: Announcer, ledger: Ledger, *,
                 mac_link_down: bool = False) -> None:
        self.nl = nl
        self.garp = garp
        self.ledger = ledger
        self.mac_link_down = mac_link_down

    async def apply(self, kind: str, key: str, value: Any, *, announce: bool = False) -> str:
        if kind == "mac":
            return await self.mac(key, value, announce=announce)
        if kind == "hostname":
            return self.hostname(value)
        return await self.routes(routes_of(value))

    async def read(self, kind: str, key: str) -> Any:
        snap = need(await self.nl.snapshot(routes=kind == "route"))
        return live_value(kind, key, snap)

    # --- hostname and default routes ------------------------------------------------------
    def hostname(self, name: str) -> str:
        try:
            if socket.gethostname() != name:
                socket.sethostname(name)
        except OSError as exc:
            raise Failed(f"cannot set the hostname to {name}: {exc.strerror}") from exc
        return ""

    async def routes(self, wanted_routes: Sequence[Route], snap: Snapshot | None = None) -> str:
        """Make the default routes exactly `wanted_routes` (`snap`: a recent read with routes)."""
        if snap is None or snap.routes is None:
            snap = need(await self.nl.snapshot(routes=True))
        live = [r for r in snap.routes or () if r.is_default]
        replace, delete = route_changes(live, wanted_routes)
        changes = ([Change("replace-route", route=r) for r in replace]
                   + [Change("del-route", route=r) for r in delete])
        for failure in await self.nl.batch(changes, snap.links):
            need_ok(failure)
        return ""

    # --- MAC ------------------------------------------------------------------------------
    async def link(self, ifname: str) -> Link:
        link = await self.nl.link(ifname)
        if isinstance(link, NetFailure):
            raise (Gone if link.code == errno.ENODEV else Failed)(link.detail)
        return link

    async def mac(self, ifname: str, mac: str, *, announce: bool = False,
                  link: Link | None = None) -> str:
        """Set the MAC (live, else with a link flap); with `announce`, gratuitous ARP
        for the interface's addresses from the new MAC."""
        link = link or await self.link(ifname)
        if link.mac == mac:
            return ""
        failure = None if self.mac_link_down else await self.nl.set_mac(link, mac)
        if self.mac_link_down or (failure is not None and failure.code == errno.EBUSY):
            note = await self.flap(link, mac)
        elif failure is not None:
            raise Gone(failure.detail) if failure.code == errno.ENODEV else Failed(failure.detail)
        else:
            note = ""
        return joined(note, await self.announce_iface(ifname) if announce else None)

    async def flap(self, link: Link, mac: str) -> str:
        """Down, set, up; then add back the routes the kernel flushed with the link."""
        routes = [r for r in need(await self.nl.routes())
                  if r.ifname == link.name and r.proto != PROTO_KERNEL]
        await self._mark_changing(link, {"up": link.up, "routes": [r.to_json() for r in routes]})
        down = await self.nl.set_up(link, False)
        changed = await self.nl.set_mac(link, mac) if down is None else None
        up = await self.nl.set_up(link, True) if link.up else None
        readded = await self.restore_routes(routes)
        if up is None and all(f is None for f in readded):
            await self._mark_changing(link, None)
        problems = [f.detail for f in (down, changed, up, *readded) if f is not None]
        if problems:
            raise Failed("; ".join(problems))
        return f"{link.name} went down and up for the change"

    async def _mark_changing(self, link: Link, changing: dict[str, Any] | None) -> None:
        draft = self.ledger.current().copy()
        draft.open_stack("mac", link.name, link.mac).changing = changing
        await self.ledger.commit(draft)

    async def restore_routes(self, before: Sequence[Route]) -> list[NetFailure | None]:
        """Add back the routes of `before` that are gone: on-link ones first, then via gateways."""
        now = need(await self.nl.routes())
        missing = [r for r in before if not any(route_matches(n, r) for n in now)]
        missing.sort(key=lambda r: r.gateway is not None)
        results: list[NetFailure | None] = []
        for route in missing:     # one at a time: a gateway route needs its on-link route
            results.append(await self.nl.add_route(route))
        return results

    async def finish_flap(self, stack: Stack) -> str:
        """A previous run died between link down and up: bring it up, add routes back."""
        changing, link = stack.changing or {}, await self.link(stack.key)
        if changing.get("up") and not link.up:
            need_ok(await self.nl.set_up(link, True))
        failures = [f.detail for f in await self.restore_routes(routes_of(changing.get("routes")))
                    if f is not None]
        if failures:
            raise Failed("; ".join(failures))
        return f"finished an interrupted MAC change on {stack.key}"

    async def announce_iface(self, ifname: str) -> str | None:
        snap = need(await self.nl.snapshot())
        return self.garp.announce(ifname, snap.on(ifname))

"""Native network-identity resources: IPaddr/IPaddr2, MacAddr, Hostname, DefaultRoute.

One `Identity` object carries out start, stop and status for these resources
on this node, and at daemon start-up undoes what a previous run left behind
(`recover`). Its rules:

* **Journal first.** Before anything is changed, `journal.py` durably records
  the original state and what is about to change; a successful release removes
  the record. A failed start undoes its change and removes its record; if the
  undo fails too, the record stays and `recover()` finishes it later.
* **Addresses** (`IPaddr::IP[/PREFIX[/IFACE[/BROADCAST]]]`; a digit-leading
  third part is the broadcast, as heartbeat reads it). Without IFACE the
  interface is the one with an address whose subnet contains IP (heartbeat's
  findif), and the prefix defaults to that subnet's. An address already present
  is not ours: start succeeds and stop leaves it.
* **Settings** (the MAC of an interface, the hostname, the default routes) are
  stacks: each resource pushes its value, the setting shows the top, releasing
  a resource removes its push and shows what is then on top, and releasing the
  last push restores the original. So two groups may each take over a MAC.
* **Holders.** start/stop take an optional `group=`: the same spec held by two
  groups (both scenario groups hold `DefaultRoute::192.168.32.254`) stays until
  both release it, while a retried start by the same group counts once.
* **MAC changes** are tried live; if the driver refuses (EBUSY), or when
  `mac_link_down=True`, the link is taken down, changed and brought up, and the
  routes through it that the kernel flushed are added back.
* **Gratuitous ARP** follows every new address and every MAC change: the first
  round before the operation returns, the rest in the background (`garp.py`).
* Nothing raises out of the public methods: failures are `OpResult(False,
  detail)` with the resource spec and the reason ("eth9: no such interface").
  Operations are serialised by one lock, so the journal has one writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence, TypeVar

import structlog

from hbd.config.haresources import NATIVE_RESOURCES
from hbd.config.model import Resource
from hbd.resources.garp import Announcer
from hbd.resources.journal import Claim, Journal, JournalFile, Stack
from hbd.resources.netlink import PROTO_KERNEL, Address, Link, Netlink, NetFailure, Route
from hbd.resources.outcome import OpResult

log = structlog.get_logger("hbd.resources")
T = TypeVar("T")
IP_RESOURCES = ("IPaddr", "IPaddr2")
SETTING_KINDS = {"MacAddr": "mac", "Hostname": "hostname", "DefaultRoute": "route"}


class _Failed(Exception):
    """Ends an operation; the message becomes the OpResult detail."""


class _Gone(_Failed):
    """The interface is not there (any more): nothing on it to restore."""


def _need(value: T | NetFailure) -> T:
    if isinstance(value, NetFailure):
        raise _Failed(value.detail)
    return value


# --- pure helpers: the IPaddr argument and heartbeat's findif --------------------------

@dataclass(frozen=True)
class IpSpec:
    address: str
    prefixlen: int | None = None
    ifname: str | None = None
    broadcast: str | None = None


def parse_ip_arg(arg: str) -> IpSpec:
    """`IP[/PREFIX[/IFACE[/BROADCAST]]]`, or heartbeat's `IP/PREFIX/BROADCAST`."""
    problem = NATIVE_RESOURCES["IPaddr"]((arg,))
    if problem:
        raise ValueError(problem)
    parts = arg.split("/") + [""] * 3
    ip, prefix, third, fourth = parts[:4]
    if third[:1].isdigit():
        third, fourth = "", third
    return IpSpec(ip, int(prefix) if prefix else None, third or None, fourth or None)


def find_subnet(ip: str, addresses: Sequence[Address], ifname: str | None = None
                ) -> Address | None:
    """The address whose subnet contains `ip` (on `ifname` if given); others' first."""
    target = ipaddress.IPv4Address(ip)
    found = [a for a in addresses if (ifname is None or a.ifname == ifname)
             and target in ipaddress.IPv4Interface(f"{a.address}/{a.prefixlen}").network]
    found.sort(key=lambda a: (a.address == ip, -a.prefixlen))
    return found[0] if found else None


def broadcast_for(ip: str, prefixlen: int) -> str | None:
    network = ipaddress.IPv4Interface(f"{ip}/{prefixlen}").network
    return str(network.broadcast_address) if prefixlen <= 30 else None


def resolve_address(spec: IpSpec, addresses: Sequence[Address]) -> Address:
    """The address to add: interface, prefix and broadcast filled in; ValueError if unknown."""
    subnet = find_subnet(spec.address, addresses, spec.ifname)
    if spec.ifname is None and subnet is None:
        raise ValueError(f"no interface has an address in a subnet containing {spec.address}; "
                         "name one: IPaddr::IP/PREFIX/IFACE")
    ifname = spec.ifname or subnet.ifname
    prefixlen = spec.prefixlen if spec.prefixlen is not None else (
        subnet.prefixlen if subnet else None)
    if prefixlen is None:
        raise ValueError(f"no address on {ifname} has a subnet containing {spec.address}, "
                         f"so the prefix is unknown; write {spec.address}/PREFIX/{ifname}")
    return Address(ifname, spec.address, prefixlen,
                   spec.broadcast or broadcast_for(spec.address, prefixlen))


def route_matches(live: Route, wanted: Route) -> bool:
    """`live` is `wanted`, where an unset interface in `wanted` matches any."""
    return ((live.dst, live.dst_len, live.gateway, live.priority)
            == (wanted.dst, wanted.dst_len, wanted.gateway, wanted.priority)
            and wanted.ifname in (None, live.ifname))


def show_routes(routes: Sequence[Route]) -> str:
    return ", ".join(r.describe() for r in routes) or "no default route"


@dataclass(frozen=True)
class _Holder:
    """Who takes a resource: its spec and its group (journal.py)."""

    spec: str
    group: str


@dataclass(frozen=True)
class _Setting:
    """How one stacked setting is read, changed and shown."""

    kind: str
    key: str
    read: Callable[[], Awaitable[Any]]
    apply: Callable[[Any], Awaitable[str]]
    same: Callable[[Any, Any], bool]
    show: Callable[[Any], str]


class Identity:
    """Start, stop, status and crash recovery for the identity resources (module doc)."""

    def __init__(self, state_dir: str, *, garp_count: int = 5, garp_interval: float = 0.2,
                 mac_link_down: bool = False) -> None:
        self._file = JournalFile(state_dir)
        self._journal: Journal | None = None
        self._notes: list[str] = []
        self._nl = Netlink()
        self._garp = Announcer(garp_count, garp_interval)
        self._lock = asyncio.Lock()
        self._mac_link_down = mac_link_down

    # --- public API ------------------------------------------------------------
    async def start(self, resource: Resource, *, group: str = "") -> OpResult:
        """Take the resource for `group` (the holder; see journal.py)."""
        return await self._guarded("start", resource, group)

    async def stop(self, resource: Resource, *, group: str = "") -> OpResult:
        """Release what `group` holds; the original comes back with the last holder."""
        return await self._guarded("stop", resource, group)

    async def status(self, resource: Resource, *, group: str = "") -> OpResult:
        return await self._guarded("status", resource, group)

    async def reannounce(self, resources: Sequence[Resource]) -> None:
        async with self._lock:
            for resource in resources:
                try:
                    await self._reannounce_one(resource)
                except Exception as exc:  # noqa: BLE001 - announcing again is best effort
                    log.warning("cannot announce again", resource=resource.spec, error=str(exc))

    async def recover(self) -> list[str]:
        """Call once at start-up, before any start: restores what the journal records."""
        async with self._lock:
            journal, lines = self._file.load()
            lines, self._notes = self._notes + lines, []
            self._journal = journal
            for step in (self._recover_claims, self._recover_macs,
                         self._recover_routes, self._recover_hostname):
                try:
                    lines += await step()
                except Exception as exc:  # a bug; recovery goes on with the next kind
                    log.exception("identity recovery failed", step=step.__name__)
                    lines.append(f"internal error in hbd while recovering: {exc!r}")
            return lines

    def journaled(self) -> list[str]:
        return self._load().specs()

    async def close(self) -> None:
        await self._garp.close()
        with contextlib.suppress(OSError):
            await self._nl.close()

    # --- dispatch --------------------------------------------------------------
    async def _guarded(self, op: str, resource: Resource, group: str) -> OpResult:
        try:
            async with self._lock:
                return await self._dispatch(op, resource, group)
        except _Failed as exc:
            return OpResult(False, f"{resource.spec}: {exc}")
        except Exception as exc:  # a bug; the executor still gets a value
            log.exception("identity resource failed", resource=resource.spec, op=op)
            return OpResult(False, f"{resource.spec}: internal error in hbd: {exc!r}")

    async def _dispatch(self, op: str, resource: Resource, group: str) -> OpResult:
        check = NATIVE_RESOURCES.get(resource.name)
        if check is None or (resource.name not in IP_RESOURCES
                             and resource.name not in SETTING_KINDS):
            raise _Failed(f"{resource.name} is not an identity resource")
        problem = check(resource.args)
        if problem:
            raise _Failed(f"{resource.name} {problem}")
        holder = _Holder(resource.spec, group)
        if resource.name in IP_RESOURCES:
            return await getattr(self, f"_{op}_ip")(resource, holder)
        setting, value = self._setting(resource)
        return await getattr(self, f"_{op}_setting")(holder, setting, value)

    def _load(self) -> Journal:
        if self._journal is None:
            self._journal, notes = self._file.load()
            self._notes += notes
            for note in notes:
                log.warning("identity journal", problem=note)
        return self._journal

    async def _commit(self, draft: Journal) -> None:
        draft.drop_empty_stacks()
        previous, self._journal = self._journal, draft  # the disk follows even if cancelled
        try:
            await asyncio.to_thread(self._file.save, draft)
        except OSError as exc:
            self._journal = previous
            raise _Failed(f"cannot write the journal {self._file.path}: {exc}") from exc

    # --- addresses ---------------------------------------------------------------
    async def _locate(self, resource: Resource, holder: _Holder
                      ) -> tuple[Address, list[Address]]:
        claim = self._load().claim(holder.spec, holder.group)
        addresses = _need(await self._nl.addresses())
        if claim is not None:
            return Address(claim.ifname, claim.address, claim.prefixlen, claim.broadcast), addresses
        spec = parse_ip_arg(resource.args[0])
        if spec.ifname is not None:
            _need(await self._nl.link(spec.ifname))
        try:
            return resolve_address(spec, addresses), addresses
        except ValueError as exc:
            raise _Failed(str(exc)) from exc

    async def _start_ip(self, resource: Resource, holder: _Holder) -> OpResult:
        journal = self._load()
        addr, addresses = await self._locate(resource, holder)
        link = _need(await self._nl.link(addr.ifname))
        present = any((a.ifname, a.address) == (addr.ifname, addr.address) for a in addresses)
        if present and journal.claim(holder.spec, holder.group):
            return OpResult(True, f"{addr.address} is already on {addr.ifname}")
        ours = not present or any(c.added and (c.ifname, c.address) == (addr.ifname, addr.address)
                                  for c in journal.claims)
        draft = journal.copy()
        draft.add_claim(Claim(holder.spec, addr.ifname, addr.address, addr.prefixlen,
                              addr.broadcast, added=ours, group=holder.group))
        await self._commit(draft)
        if not present:
            failure = await self._nl.add_address(link, addr)
            if failure is not None:
                await self._forget_claim(holder)
                raise _Failed(failure.detail)
        brd = f" brd {addr.broadcast}" if addr.broadcast else ""
        detail = (f"added {addr.address}/{addr.prefixlen}{brd} to {addr.ifname}" if not present
                  else f"{addr.address} was already on {addr.ifname}; release will leave it")
        return OpResult(True, _joined(detail, self._garp.announce(addr.ifname, [addr.address])))

    async def _forget_claim(self, holder: _Holder) -> None:
        draft = self._load().copy()
        draft.drop_claim(holder.spec, holder.group)
        await self._commit(draft)

    async def _stop_ip(self, resource: Resource, holder: _Holder) -> OpResult:
        journal = self._load()
        claim = journal.claim(holder.spec, holder.group)
        if claim is None:
            return OpResult(True, "not held by hbd here; nothing to release")
        detail = f"left {claim.address} on {claim.ifname} (it was there before)"
        if journal.shared(claim):
            detail = f"released; {claim.address} stays (another resource holds it)"
        elif claim.added:
            self._garp.forget(claim.ifname, claim.address)
            detail = await self._delete_claimed(claim)
        await self._forget_claim(holder)
        return OpResult(True, detail)

    async def _delete_claimed(self, claim: Claim) -> str:
        try:
            link = await self._link(claim.ifname)
        except _Gone:
            return f"{claim.ifname} is gone, and {claim.address} with it"
        addr = Address(claim.ifname, claim.address, claim.prefixlen, claim.broadcast)
        failure = await self._nl.del_address(link, addr)
        if failure is not None:
            raise _Failed(failure.detail)
        return f"deleted {claim.address}/{claim.prefixlen} from {claim.ifname}"

    async def _status_ip(self, resource: Resource, holder: _Holder) -> OpResult:
        addr, addresses = await self._locate(resource, holder)
        if any((a.ifname, a.address) == (addr.ifname, addr.address) for a in addresses):
            return OpResult(True, f"{addr.address} is on {addr.ifname}")
        return OpResult(False, f"{addr.address} is not on {addr.ifname}")

    # --- stacked settings --------------------------------------------------------------
    def _setting(self, resource: Resource) -> tuple[_Setting, Any]:
        kind = SETTING_KINDS[resource.name]
        if kind == "mac":
            ifname, mac = resource.args[0], resource.args[1].lower()
            return _Setting(kind, ifname, lambda: self._read_mac(ifname),
                            lambda v: self._apply_mac(ifname, v), str.__eq__,
                            lambda v: f"{ifname} MAC {v}"), mac
        if kind == "hostname":
            return _Setting(kind, "", self._read_hostname, self._apply_hostname, str.__eq__,
                            lambda v: f"hostname {v}"), resource.args[0]
        wanted = [Route(None, 0, gateway=resource.args[0]).to_json()]
        return _Setting(kind, "default", self._read_routes, self._apply_routes,
                        _routes_cover, lambda v: show_routes(_routes(v))), wanted

    async def _start_setting(self, holder: _Holder, setting: _Setting, value: Any) -> OpResult:
        journal = self._load()
        live = await setting.read()
        stack = journal.stack(setting.kind, setting.key)
        if stack and stack.holds(holder.spec, holder.group) and stack.top() == value \
                and setting.same(live, value):
            return OpResult(True, f"{setting.show(value)} already held")
        draft = journal.copy()
        stack = draft.open_stack(setting.kind, setting.key, live)
        draft.push(stack, holder.spec, value, holder.group)
        await self._commit(draft)
        try:
            note = await setting.apply(value)
        except _Failed as exc:
            raise _Failed(f"{exc}{await self._undo_push(holder, setting)}") from None
        return OpResult(True, _joined(f"{setting.show(live)} -> {setting.show(value)}", note))

    async def _undo_push(self, holder: _Holder, setting: _Setting) -> str:
        """After a failed start: show the previous top again and drop the push."""
        stack = self._load().stack(setting.kind, setting.key)
        try:
            if stack is not None:
                await setting.apply(stack.after_pop(holder.spec, holder.group)[1])
        except _Failed as exc:
            return f"; undoing it failed too ({exc}); hbd will restore it at its next start"
        await self._pop(holder, setting)
        return ""

    async def _pop(self, holder: _Holder, setting: _Setting) -> None:
        draft = self._load().copy()
        if (stack := draft.stack(setting.kind, setting.key)) is not None:
            stack.pop(holder.spec, holder.group)
        await self._commit(draft)

    async def _stop_setting(self, holder: _Holder, setting: _Setting, value: Any) -> OpResult:
        stack = self._load().stack(setting.kind, setting.key)
        if stack is None or not stack.holds(holder.spec, holder.group):
            return OpResult(True, "not held by hbd here; nothing to release")
        change, shown = stack.after_pop(holder.spec, holder.group)
        try:
            note = await setting.apply(shown) if change else ""
        except _Gone as exc:
            change, note = False, f"{exc}; nothing to restore"
        await self._pop(holder, setting)
        detail = f"back to {setting.show(shown)}"
        if len(stack.pushes) > 1 and not change:
            detail = f"released; {setting.show(shown)} stays (another resource holds it)"
        return OpResult(True, _joined(detail, note))

    async def _status_setting(self, holder: _Holder, setting: _Setting, value: Any) -> OpResult:
        live = await setting.read()
        if setting.same(live, value):
            return OpResult(True, f"{setting.show(value)} is in place")
        return OpResult(False, f"{setting.show(live)}, not {setting.show(value)}")

    # --- hostname and default routes ----------------------------------------------------
    async def _read_hostname(self) -> str:
        return socket.gethostname()

    async def _apply_hostname(self, name: str) -> str:
        try:
            socket.sethostname(name)
        except OSError as exc:
            raise _Failed(f"cannot set the hostname to {name}: {exc.strerror}") from exc
        return ""

    async def _read_routes(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in _need(await self._nl.routes()) if r.is_default]

    async def _apply_routes(self, wanted_json: list[dict[str, Any]]) -> str:
        """Make the default routes exactly `wanted`: replace (atomic), then delete the rest."""
        wanted = _routes(wanted_json)
        live = _routes(await self._read_routes())
        for route in wanted:
            if not any(route_matches(r, route) for r in live):
                failure = await self._nl.replace_route(route)
                if failure is not None:
                    raise _Failed(failure.detail)
        for route in _routes(await self._read_routes()):
            if not any(route_matches(route, w) for w in wanted):
                failure = await self._nl.del_route(route)
                if failure is not None:
                    raise _Failed(failure.detail)
        return ""

    # --- MAC ------------------------------------------------------------------------------
    async def _link(self, ifname: str) -> Link:
        link = await self._nl.link(ifname)
        if isinstance(link, NetFailure):
            raise (_Gone if link.code == errno.ENODEV else _Failed)(link.detail)
        return link

    async def _read_mac(self, ifname: str) -> str:
        return (await self._link(ifname)).mac

    async def _apply_mac(self, ifname: str, mac: str) -> str:
        link = await self._link(ifname)
        if link.mac == mac:
            return ""
        failure = None if self._mac_link_down else await self._nl.set_mac(link, mac)
        if self._mac_link_down or (failure is not None and failure.code == errno.EBUSY):
            note = await self._flap_mac(link, mac)
        elif failure is not None:
            raise _Failed(failure.detail)
        else:
            note = ""
        return _joined(note, await self._announce_iface(ifname))

    async def _flap_mac(self, link: Link, mac: str) -> str:
        """Down, set, up; then add back the routes the kernel flushed with the link."""
        routes = [r for r in _need(await self._nl.routes())
                  if r.ifname == link.name and r.proto != PROTO_KERNEL]
        await self._mark_changing(link, {"up": link.up, "routes": [r.to_json() for r in routes]})
        down = await self._nl.set_up(link, False)
        changed = await self._nl.set_mac(link, mac) if down is None else None
        up = await self._nl.set_up(link, True) if link.up else None
        readded = await self._restore_routes(routes)
        restored = up is None and all(f is None for f in readded)
        if restored:
            await self._mark_changing(link, None)
        problems = [f.detail for f in (down, changed, up, *readded) if f is not None]
        if problems:
            raise _Failed("; ".join(problems))
        return f"{link.name} went down and up for the change"

    async def _mark_changing(self, link: Link, changing: dict[str, Any] | None) -> None:
        draft = self._load().copy()
        draft.open_stack("mac", link.name, link.mac).changing = changing
        await self._commit(draft)

    async def _restore_routes(self, before: Sequence[Route]) -> list[NetFailure | None]:
        """Add back the routes of `before` that are gone: on-link ones first, then via gateways."""
        now = _need(await self._nl.routes())
        missing = [r for r in before if not any(route_matches(n, r) for n in now)]
        missing.sort(key=lambda r: r.gateway is not None)
        return [await self._nl.add_route(route) for route in missing]

    async def _announce_iface(self, ifname: str) -> str | None:
        addresses = _need(await self._nl.addresses())
        return self._garp.announce(ifname, [a.address for a in addresses if a.ifname == ifname])

    async def _reannounce_one(self, resource: Resource) -> None:
        """Announce again what `resource` holds here, for whichever group holds it."""
        journal = self._load()
        for claim in [c for c in journal.claims if c.spec == resource.spec][:1]:
            self._garp.announce(claim.ifname, [claim.address])
        stack = journal.stack("mac", resource.args[0]) if resource.name == "MacAddr" else None
        if stack is not None and any(p.spec == resource.spec for p in stack.pushes):
            await self._announce_iface(resource.args[0])

    # --- recovery (the journal of a previous run) ------------------------------------------
    async def _recover_claims(self) -> list[str]:
        lines = []
        for claim in reversed(self._load().claims):
            lines.append(await self._recover_step(claim.spec, self._recover_claim(claim)))
        return lines

    async def _recover_claim(self, claim: Claim) -> str:
        detail = f"left {claim.address} on {claim.ifname} (it was there before)"
        if claim.added:
            detail = await self._delete_claimed(claim)
        await self._forget_claim(_Holder(claim.spec, claim.group))
        return detail

    async def _recover_macs(self) -> list[str]:
        stacks = [s for s in self._load().stacks if s.kind == "mac"]
        return [await self._recover_step(f"MAC of {s.key}", self._recover_mac(s)) for s in stacks]

    async def _recover_mac(self, stack: Stack) -> str:
        try:
            notes = [await self._finish_flap(stack)] if stack.changing is not None else []
            notes.append(await self._apply_mac(stack.key, stack.original))
            detail = f"{stack.key} MAC back to {stack.original}"
        except _Gone as exc:
            notes, detail = [], f"{exc}; nothing to restore"
        await self._drop_stack(stack)
        return _joined(detail, *notes)

    async def _finish_flap(self, stack: Stack) -> str:
        """A previous run died between link down and up: bring it up, add routes back."""
        changing, link = stack.changing or {}, await self._link(stack.key)
        if changing.get("up") and not link.up:
            _need_ok(await self._nl.set_up(link, True))
        routes = _routes(changing.get("routes"))
        failures = [f.detail for f in await self._restore_routes(routes) if f is not None]
        if failures:
            raise _Failed("; ".join(failures))
        return f"finished an interrupted MAC change on {stack.key}"

    async def _recover_routes(self) -> list[str]:
        stack = self._load().stack("route", "default")
        if stack is None:
            return []
        return [await self._recover_step("default route", self._recover_setting(
            stack, self._apply_routes, show_routes(_routes(stack.original))))]

    async def _recover_hostname(self) -> list[str]:
        stack = self._load().stack("hostname", "")
        if stack is None:
            return []
        return [await self._recover_step("hostname", self._recover_setting(
            stack, self._apply_hostname, str(stack.original)))]

    async def _recover_setting(self, stack: Stack, apply: Callable[[Any], Awaitable[str]],
                               shown: str) -> str:
        note = await apply(stack.original)
        await self._drop_stack(stack)
        return _joined(f"back to {shown}", note)

    async def _drop_stack(self, stack: Stack) -> None:
        draft = self._load().copy()
        draft.stacks = [s for s in draft.stacks if (s.kind, s.key) != (stack.kind, stack.key)]
        await self._commit(draft)

    async def _recover_step(self, what: str, step: Awaitable[str]) -> str:
        try:
            return f"recovered {what}: {await step}"
        except _Failed as exc:
            return (f"could not recover {what}: {exc}; it stays in the journal "
                    f"{self._file.path} for the next start")


def _need_ok(failure: NetFailure | None) -> None:
    if failure is not None:
        raise _Failed(failure.detail)


def _routes(values: Sequence[dict[str, Any]] | None) -> list[Route]:
    return [Route.from_json(v) for v in values or ()]


def _routes_cover(live: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> bool:
    """Every wanted default route is in place (status of DefaultRoute)."""
    return all(any(route_matches(r, w) for r in _routes(live)) for w in _routes(wanted))


def _joined(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)

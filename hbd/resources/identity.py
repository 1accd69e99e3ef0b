"""Native network-identity resources: IPaddr/IPaddr2, MacAddr, Hostname, DefaultRoute.

One `Identity` object carries out start, stop and status for these resources
on this node, one resource at a time or a group's whole identity as one move
(`start_block` / `stop_block` / `status_block`), and at daemon start-up undoes
what a previous run left behind (`recover`). Its rules:

* **Journal first.** Before anything is changed, the journal (`journal.py`,
  held by `ledger.py`) durably records the original state and what is about
  to change; a successful release removes the record. A failed start undoes
  its change and removes its record; if the undo fails too, the record stays
  and `recover()` finishes it later (`recovery.py`).
* **Addresses** are claims (`claims.py`): heartbeat's findif, an address that
  was already there is not ours, a shared address stays until its last holder
  lets go.
* **Settings** (the MAC of an interface, the hostname, the default routes) are
  stacks (`settings.py`), so two groups may each take over a MAC.
* **Holders.** Every call takes an optional `group=`: the same spec held by
  two groups stays until both release it; a retried start counts once.
* **One move** (`move.py`): a block is applied in the order a client needs
  (hostname and MAC, then addresses and routes in one netlink batch, then
  gratuitous ARP from the current MAC; on release the addresses first),
  whatever order it is listed in. A single resource is a block of one.
* Nothing raises out of the public methods: failures are `OpResult(False,
  detail)` with the resource spec and the reason ("eth9: no such interface").
  Operations are serialised by one lock, so the journal has one writer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import structlog

from hbd.config.haresources import NATIVE_RESOURCES
from hbd.config.model import Resource
from hbd.resources import claims
from hbd.resources.arp_probe import DEFAULT_WAIT, ProbeResult, probe
from hbd.resources.claims import Holder
from hbd.resources.garp import Announcer
from hbd.resources.ledger import Failed, Ledger, need
from hbd.resources.move import Mover, Part, PartFailed, PartResult
from hbd.resources.netdata import Address
from hbd.resources.netlink import Netlink
from hbd.resources.outcome import OpResult
from hbd.resources.recovery import Recoverer, Recovery
from hbd.resources.settings import SETTING_KINDS, Appliers, wanted

log = structlog.get_logger("hbd.resources")
IP_RESOURCES = ("IPaddr", "IPaddr2")
IDENTITY_RESOURCES = IP_RESOURCES + tuple(SETTING_KINDS)
Engine = Callable[[Sequence[Part]], Awaitable[list[PartResult]]]


def part_of(resource: Resource, group: str) -> Part:
    """The resource as a part of a move; Failed if it is not a valid identity resource."""
    check = NATIVE_RESOURCES.get(resource.name)
    if check is None or resource.name not in IDENTITY_RESOURCES:
        raise Failed(f"{resource.name} is not an identity resource")
    problem = check(resource.args)
    if problem:
        raise Failed(f"{resource.name} {problem}")
    setting = None if resource.name in IP_RESOURCES else wanted(resource)
    return Part(resource, Holder(resource.spec, group), setting)


class Identity:
    """Start, stop, status and crash recovery for the identity resources (module doc)."""

    def __init__(self, state_dir: str, *, garp_count: int = 5, garp_interval: float = 0.2,
                 mac_link_down: bool = False) -> None:
        self._ledger = Ledger(state_dir)
        self._nl = Netlink()
        self._garp = Announcer(garp_count, garp_interval)
        self._appliers = Appliers(self._nl, self._garp, self._ledger,
                                  mac_link_down=mac_link_down)
        self._mover = Mover(self._nl, self._garp, self._ledger, self._appliers)
        self._lock = asyncio.Lock()

    # --- one resource ------------------------------------------------------------------
    async def start(self, resource: Resource, *, group: str = "") -> OpResult:
        """Take the resource for `group` (the holder; see journal.py)."""
        return await self._run(self._mover.start, [resource], group)

    async def stop(self, resource: Resource, *, group: str = "") -> OpResult:
        """Release what `group` holds; the original comes back with the last holder."""
        return await self._run(self._mover.stop, [resource], group)

    async def status(self, resource: Resource, *, group: str = "") -> OpResult:
        return await self._run(self._mover.status, [resource], group)

    # --- a block: one move ----------------------------------------------------------------
    async def start_block(self, resources: Sequence[Resource], *, group: str = "") -> OpResult:
        """Take the group's identity resources as one move (module docstring);
        all or nothing: a failure undoes what the block did."""
        return await self._run(self._mover.start, resources, group)

    async def stop_block(self, resources: Sequence[Resource], *, group: str = "") -> OpResult:
        """Release the block: addresses first, then routes, MAC, hostname, then announce."""
        return await self._run(self._mover.stop, resources, group)

    async def status_block(self, resources: Sequence[Resource], *, group: str = "") -> OpResult:
        """ok when every resource of the block is in place."""
        return await self._run(self._mover.status, resources, group)

    # --- the rest ---------------------------------------------------------------------------
    async def reannounce(self, resources: Sequence[Resource]) -> None:
        """Gratuitous ARP again for what `resources` hold here (any group)."""
        async with self._lock:
            for resource in resources:
                try:
                    await self._reannounce_one(resource)
                except Exception as exc:  # noqa: BLE001 - announcing again is best effort
                    log.warning("cannot announce again", resource=resource.spec, error=str(exc))

    async def address_of(self, resource: Resource, *, group: str = "") -> Address | str:
        """Where an IPaddr/IPaddr2 resource's address is (or would be) configured here:
        the journaled claim, else heartbeat's findif on the live addresses; a reason
        (str) when it cannot be found. For the ARP probe and the carrier watch."""
        if resource.name not in IP_RESOURCES:
            return f"{resource.spec}: not an address resource"
        try:
            part = part_of(resource, group)
            async with self._lock:      # one netlink dump at a time on the socket
                snap = need(await self._nl.snapshot())
                address, _ = claims.locate(self._ledger.current(), part.holder,
                                           resource.args[0], snap)
        except Failed as exc:
            return f"{resource.spec}: {exc}"
        return address

    async def probe(self, resource: Resource, wait: float = DEFAULT_WAIT, *,
                    group: str = "") -> ProbeResult:
        """RFC 5227 probe for an address resource (`arp_probe.probe`) on its interface."""
        address = await self.address_of(resource, group=group)
        if isinstance(address, str):
            return ProbeResult(False, None, address)
        return await probe(address.address, address.ifname, wait)

    async def recover(self) -> Recovery:
        """Call once at start-up, before any start: restores what the journal records.
        `Recovery.ok` is False when something could not be restored (it stays journaled)."""
        async with self._lock:
            recovery = await Recoverer(self._nl, self._ledger, self._appliers).run()
            await self._nl.open()      # start-up: the first move need not open the socket
            return recovery

    def journaled(self) -> list[str]:
        return self._ledger.current().specs()

    async def open(self) -> None:
        """Open the netlink socket now, so that the first move does not wait for it."""
        await self._nl.open()

    async def close(self) -> None:
        await self._garp.close()
        with contextlib.suppress(OSError):
            await self._nl.close()

    # --- internals ----------------------------------------------------------------------------
    async def _run(self, engine: Engine, resources: Sequence[Resource], group: str) -> OpResult:
        if not resources:
            return OpResult(True, "nothing to do")
        parts = []
        for resource in resources:
            try:
                parts.append(part_of(resource, group))
            except Failed as exc:
                return OpResult(False, f"{resource.spec}: {exc}")
        try:
            async with self._lock:
                results = await engine(parts)
        except PartFailed as exc:
            return OpResult(False, f"{exc.part.resource.spec}: {exc.reason}")
        except Failed as exc:
            return OpResult(False, f"{resources[0].spec}: {exc}")
        except Exception as exc:
            log.exception("identity resource failed", resource=resources[0].spec)
            return OpResult(False, f"{resources[0].spec}: internal error in hbd: {exc!r}")
        return _worded(parts, results)

    async def _reannounce_one(self, resource: Resource) -> None:
        """Announce again what `resource` holds here, for whichever group holds it."""
        journal = self._ledger.current()
        for claim in [c for c in journal.claims if c.spec == resource.spec][:1]:
            self._garp.announce(claim.ifname, [claim.address])
        stack = journal.stack("mac", resource.args[0]) if resource.name == "MacAddr" else None
        if stack is not None and any(p.spec == resource.spec for p in stack.pushes):
            await self._appliers.announce_iface(resource.args[0])


def _worded(parts: Sequence[Part], results: Sequence[PartResult]) -> OpResult:
    """One result: a single resource's words as they are; a block's, each with its spec."""
    ok = all(r.ok for r in results)
    if len(parts) == 1:
        result = results[0]
        detail = f"{parts[0].resource.spec}: {result.detail}" if result.error else result.detail
        return OpResult(ok, detail)
    return OpResult(ok, "; ".join(f"{p.resource.spec}: {r.detail}"
                                  for p, r in zip(parts, results, strict=False)))

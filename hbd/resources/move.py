"""One identity move: a group's identity resources taken or released as one step.

A *block* is a list of identity resources (IPaddr/IPaddr2, MacAddr, Hostname,
DefaultRoute) of one group; a single resource is a block of one. Whatever
order the block lists them in, a move applies them in the order a client
needs, so that the address never answers with the wrong MAC or hostname:

* **start**: read links, addresses (and routes if a DefaultRoute is in the
  block) once; plan every part on a draft of the journal; write the journal
  once (durably, before anything changes); then the hostname and the MAC
  (link down/up only when the driver refuses a live change), then every
  address and the default routes in one netlink batch (sent together, in
  that order, answers collected after), then gratuitous ARP from the
  interface's current MAC for the new addresses (all of the interface's
  addresses when its MAC changed).
* **stop**: the addresses go first (one batch), then the default routes, the
  MAC and the hostname go back to what is under the block's pushes (the
  original when nobody else holds them), the journal records go in one
  write, then gratuitous ARP announces the interface's own MAC again.

A start that fails part-way undoes what the block did (a release of the
block's holders) and reports the part that failed; if the undo fails too,
the journal keeps the records and recovery finishes it at the next start. A
stop releases all it can; what failed stays journaled, and a retried stop
finishes it. Results are per part (`PartResult`); `identity.py` words them
into one `OpResult`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hbd.config.model import Resource
from hbd.resources import claims
from hbd.resources.addressing import route_changes, routes_of
from hbd.resources.claims import Holder, Take
from hbd.resources.garp import Announcer
from hbd.resources.journal import Journal
from hbd.resources.ledger import Failed, Gone, Ledger, joined, need
from hbd.resources.netdata import Change, Snapshot
from hbd.resources.netlink import Netlink
from hbd.resources.settings import Appliers, Wanted, live_value, same, show

APPLY_ORDER = {"hostname": 0, "mac": 1}           # before the addresses, in this order
RESTORE_ORDER = {"route": 0, "mac": 1, "hostname": 2}  # after the addresses


@dataclass(frozen=True, eq=False)
class Part:
    """One resource of a block: who holds it, and the setting it changes (None: an address).
    Parts compare (and hash) by identity: two equal resources in a block are two parts."""

    resource: Resource
    holder: Holder
    setting: Wanted | None


@dataclass(frozen=True)
class PartResult:
    ok: bool
    detail: str
    error: bool = False       # the detail is a failure's reason (worded with the spec)


class PartFailed(Exception):
    def __init__(self, part: Part, reason: str) -> None:
        super().__init__(reason)
        self.part = part
        self.reason = reason


@dataclass
class _Push:
    part: Part
    live: Any
    already: bool


class Mover:
    """Start, stop and status of a block (module docstring)."""

    def __init__(self, nl: Netlink, garp: Announcer, ledger: Ledger, appliers: Appliers) -> None:
        self.nl = nl
        self.garp = garp
        self.ledger = ledger
        self.appliers = appliers

    # --- start ---------------------------------------------------------------------------
    async def start(self, parts: Sequence[Part]) -> list[PartResult]:
        """Take the block; PartFailed (after the undo) if a part cannot be taken."""
        journal = self.ledger.current()
        try:
            snap = need(await self.nl.snapshot(routes=_has(parts, "route")))
        except Failed as exc:
            raise PartFailed(parts[0], str(exc)) from None
        draft = journal.copy()
        plans: dict[Part, Take | _Push] = {}
        for part in parts:
            try:
                plans[part] = self._plan(draft, part, snap)
            except Failed as exc:
                raise PartFailed(part, str(exc)) from None
        if draft != journal:
            try:
                await self.ledger.commit(draft)
            except Failed as exc:
                raise PartFailed(parts[0], str(exc)) from None
        try:
            notes = await self._apply(parts, plans, draft, snap)
        except PartFailed as exc:
            raise PartFailed(exc.part, exc.reason + await self._undo(parts)) from None
        return [PartResult(True, joined(_started(plans[p]), notes.get(p))) for p in parts]

    def _plan(self, draft: Journal, part: Part, snap: Snapshot) -> Take | _Push:
        if part.setting is None:
            return claims.plan_take(draft, part.holder, part.resource.args[0], snap)
        w, holder = part.setting, part.holder
        live = live_value(w.kind, w.key, snap)
        stack = draft.stack(w.kind, w.key)
        if stack and stack.holds(holder.spec, holder.group) and stack.top() == w.value \
                and same(w.kind, live, w.value):
            return _Push(part, live, True)
        stack = draft.open_stack(w.kind, w.key, live)
        draft.push(stack, holder.spec, w.value, holder.group)
        return _Push(part, live, False)

    async def _apply(self, parts: Sequence[Part], plans: dict[Part, Take | _Push],
                     draft: Journal, snap: Snapshot) -> dict[Part, str]:
        notes: dict[Part, str] = {}
        pushes = sorted((p for p in parts if p.setting and not plans[p].already),
                        key=lambda p: APPLY_ORDER.get(p.setting.kind, 2) if p.setting else 0)
        changes: list[tuple[Part, Change]] = []
        macs: set[str] = set()
        for part in pushes:
            w, live = part.setting, plans[part]
            assert w is not None and isinstance(live, _Push)
            stack = draft.stack(w.kind, w.key)
            target = stack.top() if stack else w.value
            if same(w.kind, live.live, target):
                continue
            try:
                if w.kind == "hostname":
                    notes[part] = self.appliers.hostname(target)
                elif w.kind == "mac":
                    notes[part] = await self.appliers.mac(w.key, target, link=snap.link(w.key))
                    macs.add(w.key)
                else:
                    replace, delete = route_changes(routes_of(live.live), routes_of(target))
                    changes += [(part, Change("replace-route", route=r)) for r in replace]
                    changes += [(part, Change("del-route", route=r)) for r in delete]
            except Failed as exc:
                raise PartFailed(part, str(exc)) from None
        takes = [(p, t) for p, t in plans.items() if isinstance(t, Take) and not t.already]
        changes = [(p, Change("add-address", address=t.address, link=t.link))
                   for p, t in takes if not t.present] + changes
        for (part, _), failure in zip(changes, await self.nl.batch([c for _, c in changes],
                                                                         snap.links), strict=False):
            if failure is not None:
                raise PartFailed(part, failure.detail)
        self._announce(takes, macs, snap, notes, pushes)
        return notes

    def _announce(self, takes: list[tuple[Part, Take]], macs: set[str], snap: Snapshot,
                  notes: dict[Part, str], pushes: Sequence[Part]) -> None:
        """Gratuitous ARP from each interface's current MAC, once per interface."""
        added: dict[str, list[str]] = {}
        for _, take in takes:
            added.setdefault(take.address.ifname, []).append(take.address.address)
        for ifname in sorted(set(added) | macs):
            addresses = list(dict.fromkeys(
                (snap.on(ifname) if ifname in macs else []) + added.get(ifname, [])))
            error = self.garp.announce(ifname, addresses)
            if error:
                for part in [p for p, t in takes if t.address.ifname == ifname] + [
                        p for p in pushes if p.setting and (p.setting.kind, p.setting.key)
                        == ("mac", ifname)]:
                    notes[part] = joined(notes.get(part), error)

    async def _undo(self, parts: Sequence[Part]) -> str:
        """After a failed start: release what the block holds; a note if that fails too."""
        try:
            results = await self.stop(parts)
        except Failed as exc:
            problems = [str(exc)]
        else:
            problems = [r.detail for r in results if not r.ok]
        if not problems:
            return ""
        return (f"; undoing it failed too ({'; '.join(problems)}); "
                "hbd will restore it at its next start")

    # --- stop ----------------------------------------------------------------------------
    async def stop(self, parts: Sequence[Part]) -> list[PartResult]:
        """Release the block: addresses, then settings, one journal write, then announce."""
        journal = self.ledger.current()
        held = [p for p in parts if _holds(journal, p)]
        results = {p: PartResult(True, "not held by hbd here; nothing to release")
                   for p in parts if p not in held}
        if not held:
            return [results[p] for p in parts]
        snap = need(await self.nl.snapshot(routes=_has(held, "route")))
        draft = journal.copy()
        releasing = {p.holder for p in held}
        deleted = await self._release_addresses(journal, draft, held, releasing, snap, results)
        if deleted and _has(held, "route"):     # deleting an address may flush routes
            snap = need(await self.nl.snapshot(routes=True))
        announce: set[str] = set()
        stacks = sorted({(p.setting.kind, p.setting.key) for p in held if p.setting},
                        key=lambda s: RESTORE_ORDER[s[0]])
        for kind, key in stacks:
            mine = [p for p in held if p.setting and (p.setting.kind, p.setting.key) == (kind, key)]
            changed = await self._restore(journal, draft, kind, key, mine, snap, results)
            if changed and kind == "mac":
                announce.add(key)
        await self.ledger.commit(draft)
        for ifname in sorted(announce):
            self.garp.announce(ifname, [a for a in snap.on(ifname) if (ifname, a) not in deleted])
        return [results[p] for p in parts]

    async def _release_addresses(self, journal: Journal, draft: Journal, held: Sequence[Part],
                                 releasing: set[Holder], snap: Snapshot,
                                 results: dict[Part, PartResult]) -> set[tuple[str, str]]:
        plans = {p: claims.plan_release(journal, p.holder, releasing)
                 for p in held if p.setting is None}
        deletes: list[tuple[Part, Change]] = []
        for part, plan in plans.items():
            link = snap.link(plan.address.ifname) if plan.delete else None
            if plan.delete and link is not None:
                deletes.append((part, Change("del-address", address=plan.address, link=link)))
                continue
            detail = plan.detail if link is not None or not plan.delete else \
                f"{plan.address.ifname} is gone, and {plan.address.address} with it"
            results[part] = PartResult(True, detail)
            draft.drop_claim(part.holder.spec, part.holder.group)
        deleted: set[tuple[str, str]] = set()
        failures = await self.nl.batch([c for _, c in deletes], snap.links)
        for (part, change), failure in zip(deletes, failures, strict=False):
            address = change.address
            assert address is not None
            if failure is not None:
                results[part] = PartResult(False, failure.detail, error=True)
                continue
            self.garp.forget(address.ifname, address.address)
            deleted.add((address.ifname, address.address))
            draft.drop_claim(part.holder.spec, part.holder.group)
            results[part] = PartResult(True, plans[part].detail)
        return deleted

    async def _restore(self, journal: Journal, draft: Journal, kind: str, key: str,
                       mine: list[Part], snap: Snapshot,
                       results: dict[Part, PartResult]) -> bool:
        """Show what is under the block's pushes; True if the setting changed."""
        stack = journal.stack(kind, key)
        assert stack is not None
        holders = {p.holder for p in mine}
        rest = [p for p in stack.pushes if Holder(p.spec, p.group) not in holders]
        shown = rest[-1].value if rest else stack.original
        change = bool(shown != stack.top())
        try:
            note = await self._put(kind, key, shown, snap) if change else ""
        except Gone as exc:
            change, note = False, f"{exc}; nothing to restore"
        except Failed as exc:
            for part in mine:
                results[part] = PartResult(False, str(exc), error=True)
            return False
        target = draft.stack(kind, key)
        for part in mine:
            if target is not None:
                target.pop(part.holder.spec, part.holder.group)
            detail = f"back to {show(kind, key, shown)}"
            if rest and not change:
                detail = f"released; {show(kind, key, shown)} stays (another resource holds it)"
            results[part] = PartResult(True, joined(detail, note))
        return change

    async def _put(self, kind: str, key: str, value: Any, snap: Snapshot) -> str:
        if kind == "mac":
            link = snap.link(key)
            if link is None:
                raise Gone(f"{key}: no such interface")
            return await self.appliers.mac(key, value, link=link)
        if kind == "hostname":
            return self.appliers.hostname(value)
        return await self.appliers.routes(routes_of(value), snap)

    # --- status --------------------------------------------------------------------------
    async def status(self, parts: Sequence[Part]) -> list[PartResult]:
        snap = need(await self.nl.snapshot(routes=_has(parts, "route")))
        journal = self.ledger.current()
        return [self._status(journal, part, snap) for part in parts]

    def _status(self, journal: Journal, part: Part, snap: Snapshot) -> PartResult:
        try:
            if part.setting is None:
                address, _ = claims.locate(journal, part.holder, part.resource.args[0], snap)
                if claims.present(snap, address):
                    return PartResult(True, f"{address.address} is on {address.ifname}")
                return PartResult(False, f"{address.address} is not on {address.ifname}")
            w = part.setting
            live = live_value(w.kind, w.key, snap)
        except Failed as exc:
            return PartResult(False, str(exc), error=True)
        if same(w.kind, live, w.value):
            return PartResult(True, f"{show(w.kind, w.key, w.value)} is in place")
        return PartResult(False, f"{show(w.kind, w.key, live)}, not {show(w.kind, w.key, w.value)}")


def _has(parts: Sequence[Part], kind: str) -> bool:
    return any(p.setting is not None and p.setting.kind == kind for p in parts)


def _holds(journal: Journal, part: Part) -> bool:
    h = part.holder
    if part.setting is None:
        return journal.claim(h.spec, h.group) is not None
    stack = journal.stack(part.setting.kind, part.setting.key)
    return stack is not None and stack.holds(h.spec, h.group)


def _started(plan: Take | _Push) -> str:
    if isinstance(plan, Take):
        return plan.detail()
    w = plan.part.setting
    assert w is not None
    if plan.already:
        return f"{show(w.kind, w.key, w.value)} already held"
    return f"{show(w.kind, w.key, plan.live)} -> {show(w.kind, w.key, w.value)}"

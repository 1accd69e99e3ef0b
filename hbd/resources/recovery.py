"""Undo what a previous run left changed, from the journal, before the node joins.

Run once at daemon start-up (and by `hbd restore`, and on the way out of a
daemon that fails): every journaled change is put back, whoever held it:

1. claims, newest first: an address hbd added is deleted (an interface that
   is gone took it with it), one that was there before is left;
2. MACs: a link flap that was interrupted (`Stack.changing`) is finished
   (link up, flushed routes added back), then the original MAC is set and
   announced (gratuitous ARP of the interface's addresses);
3. the default routes, then the hostname, back to their originals.

Each record leaves the journal when it is undone. One that cannot be undone
stays for the next start and is reported; the result says so (`ok=False`), so
that start-up can refuse to join with another node's identity still in
place. A journal that could not be read was moved aside (`journal.py`); that
is reported too, but there is nothing left to undo, so it is not a failure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import structlog

from hbd.resources.journal import Claim, Stack
from hbd.resources.ledger import Failed, Gone, Ledger, joined, need_ok
from hbd.resources.netdata import Address
from hbd.resources.netlink import Netlink
from hbd.resources.settings import Appliers, show

log = structlog.get_logger("hbd.resources")


@dataclass(frozen=True)
class Recovery:
    """What recovery did, one line per record, and whether everything was undone."""

    lines: tuple[str, ...] = ()
    ok: bool = True

    def __iter__(self) -> Iterator[str]:
        return iter(self.lines)


class Recoverer:
    """Carries out the recovery of one journal (module docstring)."""

    def __init__(self, nl: Netlink, ledger: Ledger, appliers: Appliers) -> None:
        self.nl = nl
        self.ledger = ledger
        self.appliers = appliers

    async def run(self) -> Recovery:
        notes = self.ledger.reload()
        lines: list[str] = list(notes)
        ok = True
        for step in (self._claims, self._macs, self._setting("route", "default", "default route"),
                     self._setting("hostname", "", "hostname")):
            try:
                done, step_ok = await step()
            except Exception as exc:
                log.exception("identity recovery failed")
                done, step_ok = [f"internal error in hbd while recovering: {exc!r}"], False
            lines += done
            ok = ok and step_ok
        return Recovery(tuple(lines), ok)

    async def _claims(self) -> tuple[list[str], bool]:
        results = [await self._step(claim.spec, self._claim(claim))
                   for claim in reversed(self.ledger.current().claims)]
        return [line for line, _ in results], all(ok for _, ok in results)

    async def _claim(self, claim: Claim) -> str:
        detail = f"left {claim.address} on {claim.ifname} (it was there before)"
        if claim.added:
            detail = await delete_claimed(self.nl, self.appliers, claim)
        draft = self.ledger.current().copy()
        draft.drop_claim(claim.spec, claim.group)
        await self.ledger.commit(draft)
        return detail

    async def _macs(self) -> tuple[list[str], bool]:
        stacks = [s for s in self.ledger.current().stacks if s.kind == "mac"]
        results = [await self._step(f"MAC of {s.key}", self._mac(s)) for s in stacks]
        return [line for line, _ in results], all(ok for _, ok in results)

    async def _mac(self, stack: Stack) -> str:
        try:
            notes = [await self.appliers.finish_flap(stack)] if stack.changing is not None else []
            notes.append(await self.appliers.mac(stack.key, stack.original, announce=True))
            detail = f"{stack.key} MAC back to {stack.original}"
        except Gone as exc:
            notes, detail = [], f"{exc}; nothing to restore"
        await self._drop(stack)
        return joined(detail, *notes)

    def _setting(self, kind: str, key: str, what: str
                 ) -> Callable[[], Awaitable[tuple[list[str], bool]]]:
        async def step() -> tuple[list[str], bool]:
            stack = self.ledger.current().stack(kind, key)
            if stack is None:
                return [], True
            line, ok = await self._step(what, self._restore(stack))
            return [line], ok
        return step

    async def _restore(self, stack: Stack) -> str:
        note = await self.appliers.apply(stack.kind, stack.key, stack.original)
        await self._drop(stack)
        return joined(f"back to {show(stack.kind, stack.key, stack.original)}", note)

    async def _drop(self, stack: Stack) -> None:
        draft = self.ledger.current().copy()
        draft.stacks = [s for s in draft.stacks if (s.kind, s.key) != (stack.kind, stack.key)]
        await self.ledger.commit(draft)

    async def _step(self, what: str, step: Awaitable[str]) -> tuple[str, bool]:
        try:
            return f"recovered {what}: {await step}", True
        except Failed as exc:
            line = (f"could not recover {what}: {exc}; it stays in the journal "
                    f"{self.ledger.path} for the next start")
            return line, False


async def delete_claimed(nl: Netlink, appliers: Appliers, claim: Claim) -> str:
    """Delete an address hbd added; an interface that is gone took it with it."""
    try:
        link = await appliers.link(claim.ifname)
    except Gone:
        return f"{claim.ifname} is gone, and {claim.address} with it"
    address = Address(claim.ifname, claim.address, claim.prefixlen, claim.broadcast)
    need_ok(await nl.del_address(link, address))
    return f"deleted {claim.address}/{claim.prefixlen} from {claim.ifname}"

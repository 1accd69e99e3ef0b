"""Address claims: what taking and releasing an IPaddr/IPaddr2 resource means.

A claim (`journal.Claim`) records an IPv4 address a resource holds on an
interface, and whether hbd added it. The rules:

* Without IFACE the interface is found as heartbeat's findif does
  (`addressing.resolve_address`); a journaled claim keeps the interface and
  prefix it was taken with.
* An address already present when it is taken is not ours: taking succeeds,
  and releasing leaves it. An address another claim of ours added stays ours.
* The same address held by two claims (two groups, or two specs) stays until
  the last one is released.

The functions here only plan, on a journal draft and a `Snapshot`; `move.py`
sends the changes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from hbd.resources.addressing import parse_ip_arg, resolve_address
from hbd.resources.journal import Claim, Journal
from hbd.resources.ledger import Failed
from hbd.resources.netdata import Address, Link, Snapshot


@dataclass(frozen=True)
class Holder:
    """Who takes a resource: its spec and its group (journal.py)."""

    spec: str
    group: str


@dataclass(frozen=True)
class Take:
    """The plan for taking one address."""

    address: Address
    link: Link
    present: bool        # on the interface already
    already: bool        # and held by this holder already: nothing to do

    def detail(self) -> str:
        a = self.address
        if self.already:
            return f"{a.address} is already on {a.ifname}"
        if self.present:
            return f"{a.address} was already on {a.ifname}; release will leave it"
        brd = f" brd {a.broadcast}" if a.broadcast else ""
        return f"added {a.address}/{a.prefixlen}{brd} to {a.ifname}"


def _of(claim: Claim) -> Address:
    return Address(claim.ifname, claim.address, claim.prefixlen, claim.broadcast)


def locate(journal: Journal, holder: Holder, arg: str, snap: Snapshot) -> tuple[Address, Link]:
    """The address `holder` takes (or holds) and its link; Failed if there is none."""
    claim = journal.claim(holder.spec, holder.group)
    if claim is not None:
        address = _of(claim)
    else:
        spec = parse_ip_arg(arg)
        if spec.ifname is not None and snap.link(spec.ifname) is None:
            raise Failed(f"{spec.ifname}: no such interface")
        try:
            address = resolve_address(spec, snap.addresses)
        except ValueError as exc:
            raise Failed(str(exc)) from exc
    link = snap.link(address.ifname)
    if link is None:
        raise Failed(f"{address.ifname}: no such interface")
    return address, link


def present(snap: Snapshot, address: Address) -> bool:
    return any((a.ifname, a.address) == (address.ifname, address.address)
               for a in snap.addresses)


def plan_take(draft: Journal, holder: Holder, arg: str, snap: Snapshot) -> Take:
    """Record the claim in `draft` (unless already held) and say what to do."""
    address, link = locate(draft, holder, arg, snap)
    there = present(snap, address)
    if there and draft.claim(holder.spec, holder.group):
        return Take(address, link, True, True)
    ours = not there or any(c.added and (c.ifname, c.address) == (address.ifname, address.address)
                            for c in draft.claims)
    draft.add_claim(Claim(holder.spec, address.ifname, address.address, address.prefixlen,
                          address.broadcast, added=ours, group=holder.group))
    return Take(address, link, there, False)


@dataclass(frozen=True)
class Release:
    """The plan for releasing one claim: `delete` the address, or only forget the claim."""

    claim: Claim | None
    delete: bool
    detail: str

    @property
    def address(self) -> Address:
        assert self.claim is not None
        return _of(self.claim)


def plan_release(journal: Journal, holder: Holder, releasing: Collection[Holder]) -> Release:
    """What releasing `holder`'s claim does, when every holder in `releasing` lets go
    at the same time."""
    claim = journal.claim(holder.spec, holder.group)
    if claim is None:
        return Release(None, False, "not held by hbd here; nothing to release")
    others = [c for c in journal.claims if Holder(c.spec, c.group) not in releasing
              and (c.ifname, c.address) == (claim.ifname, claim.address)]
    if others:
        return Release(claim, False, f"released; {claim.address} stays (another resource holds it)")
    if not claim.added:
        return Release(claim, False, f"left {claim.address} on {claim.ifname} (it was there before)")
    first = next(c for c in journal.claims if Holder(c.spec, c.group) in releasing
                 and (c.ifname, c.address) == (claim.ifname, claim.address))
    if first is not claim:     # two claims of the block on one address: delete it once
        return Release(claim, False, f"released; {claim.address} goes with {first.spec}")
    return Release(claim, True, f"deleted {claim.address}/{claim.prefixlen} from {claim.ifname}")

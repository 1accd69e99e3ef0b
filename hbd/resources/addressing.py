"""Pure helpers of the identity resources: the IPaddr argument, findif, routes.

* `parse_ip_arg`: `IP[/PREFIX[/IFACE[/BROADCAST]]]`; a digit-leading third part
  is the broadcast, as heartbeat reads it.
* `resolve_address`: heartbeat's findif: without IFACE the interface is the one
  with an address whose subnet contains IP, and the prefix defaults to that
  subnet's; the broadcast is the subnet's for prefixes up to /30.
* Route matching and the plan that makes the default routes exactly the wanted
  ones (`route_changes`).

No I/O here; the records come from `netdata.py`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hbd.config.haresources import NATIVE_RESOURCES
from hbd.resources.netdata import Address, Route


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
    ifname = spec.ifname or (subnet.ifname if subnet else "")
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


def routes_of(values: Sequence[dict[str, Any]] | None) -> list[Route]:
    """Routes from their journal form (a list of `Route.to_json()`)."""
    return [Route.from_json(v) for v in values or ()]


def routes_cover(live: Sequence[Route], wanted: Sequence[Route]) -> bool:
    """Every wanted route is in place."""
    return all(any(route_matches(r, w) for r in live) for w in wanted)


def route_changes(live: Sequence[Route], wanted: Sequence[Route]
                  ) -> tuple[list[Route], list[Route]]:
    """(routes to replace, routes to delete) so that the live default routes are
    exactly `wanted`. A replace swaps a route of the same destination and metric
    atomically; a delete of a route a replace already swapped is answered "gone",
    which counts as done."""
    replace = [w for w in wanted if not any(route_matches(r, w) for r in live)]
    delete = [r for r in live if not any(route_matches(r, w) for w in wanted)]
    return replace, delete

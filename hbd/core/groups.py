"""What the core needs to know about a group's resources (pure, from config).

* `ip_resources`: the group's native address resources (`IPaddr`,
  `IPaddr2`): what an ARP probe asks the service LAN about.
* `interfaces`: the interfaces the group's native resources name explicitly
  (`IPaddr::IP/PREFIX/IFACE`, `MacAddr::IFACE::MAC`). A group whose interface
  lost carrier cannot be served from this node. An address written without
  its interface is placed by the shell (as heartbeat's findif does) and is
  not watched here: write the interface to get the carrier rule.
"""

from __future__ import annotations

from hbd.config.model import Resource, ResourceGroup

IP_RESOURCES = ("IPaddr", "IPaddr2")


def ip_resources(group: ResourceGroup) -> tuple[Resource, ...]:
    return tuple(r for r in group.resources if r.name in IP_RESOURCES)


def interfaces(group: ResourceGroup) -> frozenset[str]:
    out: set[str] = set()
    for r in group.resources:
        if r.name in IP_RESOURCES and r.args:
            parts = r.args[0].split("/")
            if len(parts) > 2 and parts[2]:
                out.add(parts[2])
        elif r.name == "MacAddr" and r.args and r.args[0]:
            out.add(r.args[0])
    return frozenset(out)

"""What the identity code knows of the network: small frozen values, no I/O.

`netlink.py` turns pyroute2's messages into these records, and everything else
in `hbd/resources/` works on them: interfaces (`Link`), IPv4 addresses
(`Address`), IPv4 routes of the main table (`Route`), one read of all three
(`Snapshot`), a refused request (`NetFailure`), and the changes a move sends
to the kernel in one batch (`Change`).
"""

from __future__ import annotations

import errno
from dataclasses import asdict, dataclass
from typing import Any

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000


def errname(code: int | None) -> str:
    return errno.errorcode.get(code or 0, str(code))


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
    carrier: bool = False      # IFF_LOWER_UP: the driver reports a link (cable, peer up)


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
    def from_json(cls, data: dict[str, Any]) -> Route:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def describe(self) -> str:
        text = "default" if self.is_default else f"{self.dst}/{self.dst_len}"
        text += f" via {self.gateway}" if self.gateway else ""
        text += f" dev {self.ifname}" if self.ifname else ""
        return text + (f" metric {self.priority}" if self.priority else "")


@dataclass(frozen=True)
class Snapshot:
    """Interfaces, addresses and (when asked for) routes, read together."""

    links: tuple[Link, ...]
    addresses: tuple[Address, ...]
    routes: tuple[Route, ...] | None = None

    def link(self, name: str) -> Link | None:
        return next((link for link in self.links if link.name == name), None)

    def on(self, ifname: str) -> list[str]:
        """The IPv4 addresses on `ifname`."""
        return [a.address for a in self.addresses if a.ifname == ifname]


@dataclass(frozen=True)
class Change:
    """One request of a batch: `verb` is add-address, del-address, replace-route,
    add-route or del-route; `link` names the interface of an address change."""

    verb: str
    address: Address | None = None
    route: Route | None = None
    link: Link | None = None

    def describe(self) -> str:
        if self.address is not None:
            return f"{self.verb} {self.address.address}/{self.address.prefixlen}"
        return f"{self.verb} {self.route.describe() if self.route else '?'}"

"""This host's IPv4 addresses, per interface, with their networks (libc getifaddrs).

`SIOCGIFADDR` sees one address per interface; getifaddrs(3) sees them all,
secondaries included (glibc asks netlink). Read through ctypes so that
transport/ needs neither pyroute2 (resources/netlink.py is its only user) nor
a subprocess. Addresses and masks are returned as 32-bit ints, which is what
the receive path compares (admission.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import socket
from dataclasses import dataclass

AF_INET = socket.AF_INET


class _SockaddrIn(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("port", ctypes.c_uint16),
                ("addr", ctypes.c_ubyte * 4), ("zero", ctypes.c_ubyte * 8)]


class _Ifaddrs(ctypes.Structure):
    pass


_Ifaddrs._fields_ = [("next", ctypes.POINTER(_Ifaddrs)), ("name", ctypes.c_char_p),
                     ("flags", ctypes.c_uint), ("addr", ctypes.POINTER(_SockaddrIn)),
                     ("netmask", ctypes.POINTER(_SockaddrIn)),
                     ("ifu", ctypes.POINTER(_SockaddrIn)), ("data", ctypes.c_void_p)]

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.getifaddrs.argtypes = [ctypes.POINTER(ctypes.POINTER(_Ifaddrs))]
_libc.freeifaddrs.argtypes = [ctypes.POINTER(_Ifaddrs)]


@dataclass(frozen=True)
class Address:
    iface: str
    address: int
    netmask: int

    @property
    def network(self) -> int:
        return self.address & self.netmask


def ip_to_int(text: str) -> int | None:
    """Dotted quad -> int, None when it is not one."""
    try:
        return int.from_bytes(socket.inet_aton(text), "big") if text.count(".") == 3 else None
    except OSError:
        return None


def _int(sockaddr: ctypes._Pointer) -> int | None:  # type: ignore[type-arg]
    if not sockaddr or sockaddr.contents.family != AF_INET:
        return None
    return int.from_bytes(bytes(sockaddr.contents.addr), "big")


def ipv4_addresses() -> list[Address]:
    """Every IPv4 address of every interface; [] when getifaddrs fails."""
    head = ctypes.POINTER(_Ifaddrs)()
    if _libc.getifaddrs(ctypes.byref(head)) != 0:
        return []
    found: list[Address] = []
    try:
        node = head
        while node:
            entry = node.contents
            address, netmask = _int(entry.addr), _int(entry.netmask)
            if address is not None and entry.name:
                found.append(Address(entry.name.decode(errors="replace"), address,
                                     netmask if netmask is not None else 0xFFFFFFFF))
            node = entry.next
    finally:
        _libc.freeifaddrs(head)
    return found

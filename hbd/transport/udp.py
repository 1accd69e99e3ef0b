"""UDP sockets for the three ha.cf media: bcast, ucast and mcast.

One non-blocking IPv4 socket per ha.cf medium line, bound to the udp port
(the mcast line's own port for mcast) with SO_REUSEADDR, so that several
media may share a port, and SO_BINDTODEVICE, so that each socket sends and
receives only on its interface. `open_medium()` returns the socket and the
addresses a datagram is sent to:

* `bcast IFACE`: the interface's IPv4 broadcast address (SIOCGIFBRDADDR).
* `ucast IFACE PEER`: the peer, unless the peer is one of this node's own
  addresses (the same ha.cf is copied to every node, so it usually names
  this node too). Own is decided by a route lookup: a throwaway UDP socket
  is connected to the peer (no packet leaves) and, when the kernel chooses
  the peer itself as our source address, the peer is local. That sees
  secondary addresses, which SIOCGIFADDR does not, and unlike a trial
  bind() it is not fooled by `net.ipv4.ip_nonlocal_bind=1`.
* `mcast IFACE GROUP PORT TTL LOOP`: the group on the line's port, after
  joining it on the interface (ip_mreqn with the interface index).

Every socket sets IP_MULTICAST_ALL to 0, so that it receives only the groups
it joined itself. Failures raise `SetupError` with the cause in words;
`media.py` prefixes the medium. Nothing here imports pyroute2.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct
from dataclasses import dataclass

from hbd.config.model import Bcast, Mcast, Medium, Ucast

SIOCGIFBRDADDR = 0x8919
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)
IFNAMSIZ = 16


class SetupError(Exception):
    """A medium could not be opened; the message is the cause, in words."""


@dataclass
class Endpoint:
    """An open socket and the addresses each datagram goes to."""

    sock: socket.socket
    targets: tuple[tuple[str, int], ...]
    own: tuple[tuple[str, int], ...] = ()   # ucast peers skipped as our own


def describe(exc: OSError, *, port: int) -> str:
    """The cause of a socket failure in ha.cf terms."""
    match exc.errno:
        case errno.ENODEV:
            return "no such interface"
        case errno.EADDRINUSE:
            return f"udp port {port} is already in use"
        case errno.EACCES | errno.EPERM:
            return "permission denied (binding to a device needs root or CAP_NET_RAW)"
        case None:
            return str(exc)
        case code:
            return os.strerror(code).lower()


def iface_index(iface: str) -> int:
    try:
        return socket.if_nametoindex(iface)
    except OSError:
        raise SetupError("no such interface") from None


def _ioctl_ipv4(iface: str, request: int) -> str | None:
    """The IPv4 address an interface ioctl returns, or None if it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        ifreq = struct.pack(f"{IFNAMSIZ}s24x", iface.encode()[:IFNAMSIZ - 1])  # struct ifreq
        try:
            result = fcntl.ioctl(probe.fileno(), request, ifreq)
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                raise SetupError("no such interface") from None
            return None
    return socket.inet_ntoa(result[IFNAMSIZ + 4:IFNAMSIZ + 8])


def broadcast_address(iface: str) -> str:
    address = _ioctl_ipv4(iface, SIOCGIFBRDADDR)
    if address is None or address == "0.0.0.0":
        raise SetupError("interface has no IPv4 broadcast address")
    return address


def is_own_address(peer: str, *, bind_address: str = "") -> bool:
    """True when the kernel would send to `peer` from `peer` itself: it is us."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            if bind_address:
                probe.bind((bind_address, 0))
            probe.connect((peer, 9))
        except OSError:
            return False          # no route: certainly not a local address
        return probe.getsockname()[0] == peer


def bound_socket(iface: str, port: int, bind_address: str = "") -> socket.socket:
    """A non-blocking UDP socket bound to (bind_address, port) on `iface`."""
    iface_index(iface)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
        sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
        sock.bind((bind_address, port))
    except OSError as exc:
        sock.close()
        raise SetupError(describe(exc, port=port)) from None
    return sock


def _configure(sock: socket.socket, options: list[tuple[int, int, int | bytes]],
               port: int) -> None:
    try:
        for level, option, value in options:
            sock.setsockopt(level, option, value)
    except OSError as exc:
        sock.close()
        raise SetupError(describe(exc, port=port)) from None


def open_bcast(medium: Bcast, port: int, bind_address: str = "") -> Endpoint:
    target = broadcast_address(medium.iface)
    sock = bound_socket(medium.iface, port, bind_address)
    _configure(sock, [(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)], port)
    return Endpoint(sock, ((target, port),))


def open_ucast(medium: Ucast, port: int, bind_address: str = "") -> Endpoint:
    try:
        socket.inet_aton(medium.peer)
    except OSError:
        raise SetupError(f"peer {medium.peer} is not an IPv4 address") from None
    sock = bound_socket(medium.iface, port, bind_address)
    target = (medium.peer, port)
    if is_own_address(medium.peer, bind_address=bind_address):
        return Endpoint(sock, (), own=(target,))
    return Endpoint(sock, (target,))


def open_mcast(medium: Mcast, bind_address: str = "") -> Endpoint:
    index = iface_index(medium.iface)
    try:
        group = socket.inet_aton(medium.group)
    except OSError:
        raise SetupError(f"group {medium.group} is not an IPv4 address") from None
    mreqn = group + socket.inet_aton("0.0.0.0") + struct.pack("@i", index)
    sock = bound_socket(medium.iface, medium.port, bind_address)
    _configure(sock, [
        (socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn),
        (socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn),
        (socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, medium.ttl),
        (socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(medium.loop)),
    ], medium.port)
    return Endpoint(sock, ((medium.group, medium.port),))


def open_medium(medium: Medium, *, port: int, bind_address: str = "") -> Endpoint:
    """Open one medium; raises SetupError with the cause."""
    match medium:
        case Bcast():
            return open_bcast(medium, port, bind_address)
        case Ucast():
            return open_ucast(medium, port, bind_address)
        case Mcast():
            return open_mcast(medium, bind_address)
    raise TypeError(f"not a medium: {medium!r}")

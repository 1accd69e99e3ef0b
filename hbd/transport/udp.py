"""UDP sockets for the three ha.cf media: bcast, ucast and mcast.

Media share sockets where the kernel would make them share datagrams anyway.
All the bcast and ucast lines of one interface use one socket (a "link
socket") bound to ('', udpport) with SO_BINDTODEVICE: a broadcast reaches
every socket bound to its port, so one socket per line would hand each
broadcast up once per line, while a unicast datagram reaches only one of
them. Each mcast line has its own socket, bound to (GROUP, PORT) on the
interface, so it hears only its group. Every socket sets SO_REUSEADDR (so
that the mcast line may use the udpport too) and IP_MULTICAST_ALL=0 (so that
it hears only groups it joined itself). Each asks for a receive buffer of
RCVBUF bytes (SO_RCVBUFFORCE as root, else SO_RCVBUF within the system's
rmem_max), so that a flood arriving while the loop is busy elsewhere fills
the kernel's buffer more slowly than a heartbeat interval.

Where a line sends (`targets()`):

* `bcast IFACE`: the interface's IPv4 broadcast address (SIOCGIFBRDADDR),
  or, when none is configured, the directed broadcast of its primary address
  (heartbeat refuses such an interface; hbd does not need to).
* `ucast IFACE PEER`: the peer, unless the peer is one of this node's own
  addresses (the same ha.cf is copied to every node, so it usually names
  this node too). Own is decided by a route lookup: a throwaway UDP socket
  is connected to the peer (no packet leaves) and, when the kernel chooses
  the peer itself as our source address, the peer is local. That sees
  secondary addresses, which SIOCGIFADDR does not, and unlike a trial
  bind() it is not fooled by `net.ipv4.ip_nonlocal_bind=1`.
* `mcast IFACE GROUP PORT TTL LOOP`: the group on the line's port; the
  socket joins the group on the interface (ip_mreqn with its index).

Failures raise `SetupError` with the cause in words; `media.py` prefixes
the medium. Nothing here imports pyroute2.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass

from hbd.config.model import Bcast, Mcast, Medium, Ucast

RCVBUF = 4 * 1024 * 1024          # bytes of datagrams the kernel may hold for us
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SIOCGIFADDR = 0x8915
SIOCGIFBRDADDR = 0x8919
SIOCGIFNETMASK = 0x891B
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)
IFNAMSIZ = 16


class SetupError(Exception):
    """A medium could not be opened; the message is the cause, in words."""


@dataclass(frozen=True)
class Targets:
    """Where one medium line sends, and the ucast peers skipped as our own."""

    send_to: tuple[tuple[str, int], ...]
    own: tuple[tuple[str, int], ...] = ()


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
    """The interface's broadcast address; if none is configured (`ip addr add`
    without `brd +`), the directed broadcast of its primary address, for which
    the kernel keeps a broadcast route anyway."""
    configured = _ioctl_ipv4(iface, SIOCGIFBRDADDR)
    if configured not in (None, "0.0.0.0"):
        return configured
    address = _ioctl_ipv4(iface, SIOCGIFADDR)
    netmask = _ioctl_ipv4(iface, SIOCGIFNETMASK)
    if address is None or netmask is None:
        raise SetupError("interface has no IPv4 address")
    network = ipaddress.IPv4Network(f"{address}/{netmask}", strict=False)
    if network.prefixlen >= 31:
        raise SetupError(f"interface has no IPv4 broadcast address ({network.with_prefixlen})")
    return str(network.broadcast_address)


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
        _large_receive_buffer(sock)
        sock.bind((bind_address, port))
    except OSError as exc:
        sock.close()
        raise SetupError(describe(exc, port=port)) from None
    return sock


def _large_receive_buffer(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
    except OSError:                      # not root: as much as rmem_max allows
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)


def _configure(sock: socket.socket, options: list[tuple[int, int, int | bytes]],
               port: int) -> socket.socket:
    try:
        for level, option, value in options:
            sock.setsockopt(level, option, value)
    except OSError as exc:
        sock.close()
        raise SetupError(describe(exc, port=port)) from None
    return sock


def _check_ipv4(address: str, what: str) -> bytes:
    try:
        return socket.inet_aton(address)
    except OSError:
        raise SetupError(f"{what} {address} is not an IPv4 address") from None


def targets(medium: Medium, *, port: int, bind_address: str = "") -> Targets:
    """Where `medium` sends (checking that its interface exists)."""
    iface_index(medium.iface)
    match medium:
        case Bcast():
            return Targets(((broadcast_address(medium.iface), port),))
        case Ucast():
            _check_ipv4(medium.peer, "peer")
            if is_own_address(medium.peer, bind_address=bind_address):
                return Targets((), own=((medium.peer, port),))
            return Targets(((medium.peer, port),))
        case Mcast():
            _check_ipv4(medium.group, "group")
            return Targets(((medium.group, medium.port),))
    raise TypeError(f"not a medium: {medium!r}")


def socket_key(medium: Medium, *, port: int) -> tuple:
    """Media with equal keys share one socket."""
    if isinstance(medium, Mcast):
        return ("mcast", medium.iface, medium.group, medium.port, medium.ttl, medium.loop)
    return ("link", medium.iface, port)


def open_socket(medium: Medium, *, port: int, bind_address: str = "") -> socket.socket:
    """The socket for `medium` (a link socket for bcast and ucast)."""
    if not isinstance(medium, Mcast):
        sock = bound_socket(medium.iface, port, bind_address)
        return _configure(sock, [(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)], port)
    group = _check_ipv4(medium.group, "group")
    mreqn = group + socket.inet_aton("0.0.0.0") + struct.pack("@i", iface_index(medium.iface))
    sock = bound_socket(medium.iface, medium.port, medium.group)
    return _configure(sock, [
        (socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn),
        (socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn),
        (socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, medium.ttl),
        (socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(medium.loop)),
    ], medium.port)

"""Gratuitous ARP: tell the segment which MAC now answers for an IPv4 address.

After an address moves to this node, or an interface's MAC changes, two kinds
of memory on the segment are out of date: the other hosts' ARP caches (which
MAC has the IP) and the switches' forwarding tables (which port has the MAC).
A gratuitous ARP fixes both at once when it is sent *from the interface's
current MAC*: the ARP payload teaches the caches, and the Ethernet source
address teaches every switch on the way the port behind which that MAC now
lives (no waiting for the old entry to age out). So each round sends, per
address, an ARP request and an ARP reply (hosts differ in which they honour),
both broadcast, sender and target protocol address the announced IP, sender
hardware address and Ethernet source the interface's MAC at that moment
(read with SIOCGIFHWADDR just before sending, so a round scheduled before a
MAC change announces the new MAC).

The frames are built by pure functions (`arp_frame`, and `parse_arp` for the
listeners). They go out through one AF_PACKET socket kept open for the
announcer's life, created with protocol 0: it receives nothing (no packet hook
in the kernel) and names the interface in each `sendto`. Opening and closing a
packet socket per round would cost a kernel RCU grace period (10-20 ms) on
every close, on the takeover path.

`Announcer` sends the first round at once and the remaining `count - 1` rounds
in background tasks, one per (interface, address), `interval` apart;
announcing an address again replaces its pending task, `forget()` cancels it
(the address was released), and `close()` cancels them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import structlog

log = structlog.get_logger("hbd.resources")

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARP_REQUEST = 1
ARP_REPLY = 2
BROADCAST = b"\xff" * 6
ZERO_MAC = b"\x00" * 6
SIOCGIFHWADDR = 0x8927
_ARP = struct.Struct("!6s6sHHHBBH6s4s6s4s")   # Ethernet header + ARP for IPv4


@dataclass(frozen=True)
class Arp:
    """An ARP packet for IPv4 over Ethernet, as read off the wire."""

    op: int
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str
    source_mac: str = ""        # the Ethernet source address of the frame

    @property
    def gratuitous(self) -> bool:
        return self.sender_ip == self.target_ip


def mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def arp_packet(op: int, src_mac: bytes, sender_ip: str, target_ip: str,
               target_mac: bytes = ZERO_MAC, dst_mac: bytes = BROADCAST) -> bytes:
    """An Ethernet frame carrying one ARP packet for IPv4."""
    return _ARP.pack(dst_mac, src_mac, ETH_P_ARP, 1, ETH_P_IP, 6, 4, op,
                     src_mac, ipaddress.IPv4Address(sender_ip).packed,
                     target_mac, ipaddress.IPv4Address(target_ip).packed)


def arp_frame(mac: bytes, ip: str, op: int = ARP_REQUEST) -> bytes:
    """A broadcast gratuitous ARP frame announcing that `ip` is at `mac`."""
    return arp_packet(op, mac, ip, ip, ZERO_MAC if op == ARP_REQUEST else mac)


def parse_arp(frame: bytes) -> Arp | None:
    """The ARP packet in an Ethernet frame, or None if it is not IPv4-over-Ethernet ARP."""
    if len(frame) < _ARP.size:
        return None
    (_dst, src, ethertype, htype, ptype, hlen, plen, op,
     sha, spa, tha, tpa) = _ARP.unpack_from(frame)
    if (ethertype, htype, ptype, hlen, plen) != (ETH_P_ARP, 1, ETH_P_IP, 6, 4):
        return None
    return Arp(op, mac_text(sha), str(ipaddress.IPv4Address(spa)), mac_text(tha),
               str(ipaddress.IPv4Address(tpa)), mac_text(src))


def current_mac(sock: socket.socket, ifname: str) -> bytes:
    """The interface's hardware address now (SIOCGIFHWADDR); OSError if it is gone."""
    raw = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, struct.pack("256s", ifname.encode()[:15]))
    return raw[18:24]


def send_socket() -> socket.socket:
    """An AF_PACKET socket that sends raw frames and receives none (protocol 0)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.setblocking(False)
    return sock


def send_round(sock: socket.socket, ifname: str, addresses: Iterable[str]) -> str | None:
    """One request and one reply per address on `ifname`; an error text, or None."""
    try:
        mac = current_mac(sock, ifname)
        for ip in addresses:
            for op in (ARP_REQUEST, ARP_REPLY):
                sock.sendto(arp_frame(mac, ip, op), (ifname, ETH_P_ARP))
    except OSError as exc:
        return f"gratuitous ARP on {ifname} failed: {exc.strerror or exc}"
    return None


class Announcer:
    """Repeats gratuitous ARP rounds in the background; see the module docstring."""

    def __init__(self, count: int = 5, interval: float = 0.2) -> None:
        self.count = max(1, count)
        self.interval = interval
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._sock: socket.socket | None = None

    def _socket(self) -> socket.socket:
        if self._sock is None:
            self._sock = send_socket()
        return self._sock

    def send_now(self, ifname: str, addresses: Iterable[str]) -> str | None:
        """One round, now, without repeats; the error text or None."""
        try:
            sock = self._socket()
        except OSError as exc:
            return f"gratuitous ARP on {ifname} failed: {exc.strerror or exc}"
        return send_round(sock, ifname, addresses)

    def announce(self, ifname: str, addresses: Iterable[str]) -> str | None:
        """Send the first round now and schedule the rest; the first round's error."""
        addresses = list(addresses)
        if not addresses:
            return None
        error = self.send_now(ifname, addresses)
        for ip in addresses:
            self.forget(ifname, ip)
            if self.count > 1:
                task = asyncio.get_running_loop().create_task(self._repeat(ifname, ip))
                self._tasks[(ifname, ip)] = task
        return error

    def forget(self, ifname: str, ip: str | None = None) -> None:
        """Stop announcing `ip` (or every address) on `ifname`."""
        for key in [k for k in self._tasks if k[0] == ifname and ip in (None, k[1])]:
            self._tasks.pop(key).cancel()

    def pending(self) -> list[tuple[str, str]]:
        return sorted(self._tasks)

    async def _repeat(self, ifname: str, ip: str) -> None:
        try:
            for _ in range(self.count - 1):
                await asyncio.sleep(self.interval)
                error = self.send_now(ifname, [ip])
                if error:
                    log.warning("gratuitous ARP failed", iface=ifname, address=ip, error=error)
        finally:
            if self._tasks.get((ifname, ip)) is asyncio.current_task():
                del self._tasks[(ifname, ip)]

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()

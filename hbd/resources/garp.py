"""Gratuitous ARP: tell the segment which MAC now answers for an IPv4 address.

After an address moves to this node, or an interface's MAC changes, the other
hosts' ARP caches still point at the old MAC. A gratuitous ARP (sender and
target protocol address both the announced IP, sent to the Ethernet broadcast
address) makes them update. Each round sends two frames per address, an ARP
request and an ARP reply, because hosts differ in which of the two they honour.

The frames are built by pure functions (`arp_frame`, and `parse_arp` for the
listeners in tests) and sent over an AF_PACKET socket bound to the interface.
The socket is opened afresh for every round and the source MAC is read from it
at that moment (`getsockname()` reports the interface's current hardware
address), so a round scheduled before a MAC change announces the new MAC.

`Announcer` sends the first round at once and the remaining `count - 1` rounds
in background tasks, one per (interface, address); announcing an address again
replaces its pending task, `forget()` cancels it (the address was released), and
`close()` cancels them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Iterable

import structlog

log = structlog.get_logger("hbd.resources")

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARP_REQUEST = 1
ARP_REPLY = 2
BROADCAST = b"\xff" * 6
ZERO_MAC = b"\x00" * 6
_ARP = struct.Struct("!6s6sHHHBBH6s4s6s4s")   # Ethernet header + ARP for IPv4


@dataclass(frozen=True)
class Arp:
    """An ARP packet for IPv4 over Ethernet, as read off the wire."""

    op: int
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str

    @property
    def gratuitous(self) -> bool:
        return self.sender_ip == self.target_ip


def mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def arp_frame(mac: bytes, ip: str, op: int = ARP_REQUEST) -> bytes:
    """A broadcast gratuitous ARP frame announcing that `ip` is at `mac`."""
    addr = ipaddress.IPv4Address(ip).packed
    target_mac = ZERO_MAC if op == ARP_REQUEST else mac
    return _ARP.pack(BROADCAST, mac, ETH_P_ARP, 1, ETH_P_IP, 6, 4, op,
                     mac, addr, target_mac, addr)


def parse_arp(frame: bytes) -> Arp | None:
    """The ARP packet in an Ethernet frame, or None if it is not IPv4-over-Ethernet ARP."""
    if len(frame) < _ARP.size:
        return None
    (_dst, _src, ethertype, htype, ptype, hlen, plen, op,
     sha, spa, tha, tpa) = _ARP.unpack_from(frame)
    if (ethertype, htype, ptype, hlen, plen) != (ETH_P_ARP, 1, ETH_P_IP, 6, 4):
        return None
    return Arp(op, mac_text(sha), str(ipaddress.IPv4Address(spa)), mac_text(tha),
               str(ipaddress.IPv4Address(tpa)))


def send_round(ifname: str, addresses: Iterable[str]) -> str | None:
    """One request and one reply per address on `ifname`; an error text, or None."""
    try:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as sock:
            sock.setblocking(False)
            sock.bind((ifname, ETH_P_ARP))
            mac = sock.getsockname()[4]
            for ip in addresses:
                for op in (ARP_REQUEST, ARP_REPLY):
                    sock.send(arp_frame(mac, ip, op))
    except OSError as exc:
        return f"gratuitous ARP on {ifname} failed: {exc.strerror or exc}"
    return None


class Announcer:
    """Repeats gratuitous ARP rounds in the background; see the module docstring."""

    def __init__(self, count: int = 5, interval: float = 0.2) -> None:
        self.count = max(1, count)
        self.interval = interval
        self._tasks: dict[tuple[str, str], asyncio.Task] = {}

    def announce(self, ifname: str, addresses: Iterable[str]) -> str | None:
        """Send the first round now and schedule the rest; the first round's error."""
        addresses = list(addresses)
        if not addresses:
            return None
        error = send_round(ifname, addresses)
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
                error = send_round(ifname, [ip])
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

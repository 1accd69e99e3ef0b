"""RFC 5227 ARP probe: is an IPv4 address alive on the segment right now?

Before a node brings up a group's address after its peer was declared dead,
it asks the service LAN whether anyone still answers for it: an ARP request
whose sender protocol address is 0.0.0.0 (so that no ARP cache learns from
it), sender hardware address this interface's MAC, target protocol address
the address, broadcast. A host that has the address configured answers with
an ARP reply whatever MAC it carries (Linux answers probes from its kernel,
however hung its user space is), and the reply's sender hardware address is
the holder's current MAC (the virtual MAC if it carries the group's). Any
other ARP packet whose sender is the address (a gratuitous ARP from the
holder) counts as an answer too.

`probe()` sends the request `attempts` times spread over `wait` seconds
(default 5 ms, 3 sends: a lost frame is sent again) and listens until the
first answer or the end of `wait`. It opens a packet socket bound to the
interface for ARP only; closing a packet socket waits for a kernel RCU grace
period (10-20 ms), so the close runs in a worker thread after the answer is
known and never delays the caller. Nothing raises: an interface that is gone
or a socket that cannot be opened is `ProbeResult(False, None, error=...)`.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from hbd.resources.garp import ARP_REQUEST, ETH_P_ARP, arp_packet, current_mac, parse_arp

PACKET_OUTGOING = 4
DEFAULT_WAIT = 0.005
DEFAULT_ATTEMPTS = 3


@dataclass(frozen=True)
class ProbeResult:
    """`answered`: someone holds the address; `mac`: the MAC it answered from.
    `error`: the probe could not be sent (then `answered` is False and means nothing)."""

    answered: bool
    mac: str | None = None
    error: str | None = None


async def probe(address: str, iface: str, wait: float = DEFAULT_WAIT, *,
                attempts: int = DEFAULT_ATTEMPTS) -> ProbeResult:
    """Probe for `address` on `iface` for `wait` seconds (module docstring)."""
    loop = asyncio.get_running_loop()
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except OSError as exc:
        return ProbeResult(False, None, f"ARP probe on {iface}: {exc.strerror or exc}")
    try:
        sock.setblocking(False)
        sock.bind((iface, ETH_P_ARP))
        mac = current_mac(sock, iface)
        frame = arp_packet(ARP_REQUEST, mac, "0.0.0.0", address)
        return await _listen(loop, sock, iface, frame, address, wait, max(1, attempts))
    except OSError as exc:
        return ProbeResult(False, None, f"ARP probe on {iface}: {exc.strerror or exc}")
    finally:
        loop.run_in_executor(None, sock.close)   # the close's RCU wait off the caller's path


async def _listen(loop: asyncio.AbstractEventLoop, sock: socket.socket, iface: str,
                  frame: bytes, address: str, wait: float, attempts: int) -> ProbeResult:
    """Send `frame` `attempts` times over `wait`; the first packet from `address` that
    another host sent (not one of ours: the kernel marks those outgoing) answers."""
    start = loop.time()
    deadline = start + wait
    sends = [start + n * wait / attempts for n in range(attempts)]
    while True:
        now = loop.time()
        while sends and sends[0] <= now:
            sends.pop(0)
            sock.sendto(frame, (iface, ETH_P_ARP))
        if now >= deadline:
            return ProbeResult(False, None)
        until = min(deadline, sends[0]) if sends else deadline
        try:
            data, source = await asyncio.wait_for(loop.sock_recvfrom(sock, 2048), until - now)
        except TimeoutError:
            continue
        if source[2] == PACKET_OUTGOING:
            continue
        arp = parse_arp(data)
        if arp is not None and arp.sender_ip == address:
            return ProbeResult(True, arp.sender_mac)

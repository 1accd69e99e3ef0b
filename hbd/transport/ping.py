"""ICMP echo for ping nodes: does an address answer?

A `Pinger` sends an echo request to each of its addresses every `interval`
seconds and calls `on_reply(address)` for each echo reply that matches. It
judges nothing: the core decides when a ping node is dead (deadping).

One raw socket (SOCK_RAW/IPPROTO_ICMP: root or CAP_NET_RAW) per Pinger,
read with `loop.add_reader`. Requests carry an identifier unique to the
Pinger and a sequence number that grows by one each round (all addresses of
a round share it). A reply matches when it is an echo reply with our
identifier, a sequence number sent less than `timeout` seconds ago, and
comes from one of our addresses. Everything else the raw socket sees (echo
requests from others, replies to other pingers, errors, truncated or
corrupt packets) is counted as ignored; parsing never raises. The kernel is
asked (ICMP_FILTER) to pass only echo replies up, to spare the parsing.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import struct
from collections.abc import Callable, Sequence

import structlog

from hbd.transport.media import LogLimiter, MediaError
from hbd.transport.udp import describe

log = structlog.get_logger("hbd.transport")

ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8
SOL_RAW = 255
ICMP_FILTER = 1
READ_BURST = 64
MAX_OUTSTANDING = 64
PAYLOAD = b"hbd ping"
COUNTERS = ("sent", "send_errors", "received", "replies", "ignored", "late",
            "receive_errors")

_instances = itertools.count()


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, payload: bytes = PAYLOAD) -> bytes:
    """An ICMP echo request (no IP header: the kernel adds it)."""
    header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    sum_ = checksum(header + payload)
    return struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, sum_, ident, seq) + payload


def parse_echo_reply(packet: bytes) -> tuple[int, int] | None:
    """(identifier, sequence) of an IPv4 packet holding a valid echo reply, else None."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    header_len = (packet[0] & 0x0F) * 4
    if header_len < 20 or len(packet) < header_len + 8:
        return None
    icmp = packet[header_len:]
    if icmp[0] != ICMP_ECHO_REPLY or icmp[1] != 0 or checksum(icmp) != 0:
        return None
    ident, seq = struct.unpack("!HH", icmp[4:8])
    return ident, seq


class Pinger:
    """Echo requests to `addresses` every `interval` s; `on_reply(address)` per answer."""

    def __init__(self, addresses: Sequence[str], *, interval: float,
                 on_reply: Callable[[str], None], timeout: float | None = None,
                 ident: int | None = None) -> None:
        if interval <= 0:
            raise ValueError(f"interval {interval} must be positive")
        self._addresses = tuple(dict.fromkeys(addresses))
        self._interval = interval
        self._timeout = interval if timeout is None else timeout
        self._on_reply = on_reply
        self.ident = (os.getpid() + 7919 * next(_instances)) & 0xFFFF if ident is None else ident
        self._seq = 0
        self._outstanding: dict[int, float] = {}     # seq -> sent at (loop time)
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._per_address = {a: {"sent": 0, "replies": 0} for a in self._addresses}
        self._limiter = LogLimiter(log)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def open(self) -> None:
        """Open the raw socket and start pinging; raises MediaError."""
        if self._sock is not None:
            raise RuntimeError("Pinger.open() called twice")
        for address in self._addresses:
            try:
                socket.inet_aton(address)
            except OSError:
                raise MediaError(f"ping {address}: not an IPv4 address") from None
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except OSError as exc:
            names = " ".join(self._addresses)
            raise MediaError(f"ping {names}: {describe(exc, port=0)} "
                             "(ICMP needs root or CAP_NET_RAW)") from None
        sock.setblocking(False)
        # pass only echo replies up: the filter is a mask of ICMP types to drop
        sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("I", ~(1 << ICMP_ECHO_REPLY) & 0xFFFFFFFF))
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._on_readable)
        self._tick(self._loop.time())

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sock is not None and self._sock.fileno() >= 0:
            if self._loop is not None:
                self._loop.remove_reader(self._sock.fileno())
            self._sock.close()

    def counters(self) -> dict[str, int]:
        """Totals, plus `"sent[<address>]"` and `"replies[<address>]"`."""
        per = {f"{name}[{address}]": value for address, counts in self._per_address.items()
               for name, value in counts.items()}
        return {**self._counts, **per}

    # --- sending -------------------------------------------------------------------
    def _tick(self, due_at: float) -> None:
        assert self._loop is not None
        now = self._loop.time()
        self._send_round(now)
        next_at = due_at + self._interval
        if next_at <= now:                 # the loop was stalled: do not burst to catch up
            next_at = now + self._interval
        self._timer = self._loop.call_at(next_at, self._tick, next_at)

    def _send_round(self, now: float) -> None:
        self._seq = (self._seq + 1) & 0xFFFF
        self._outstanding = {seq: at for seq, at in self._outstanding.items()
                             if now - at <= self._timeout}
        while len(self._outstanding) >= MAX_OUTSTANDING:
            del self._outstanding[next(iter(self._outstanding))]
        self._outstanding[self._seq] = now
        packet = echo_request(self.ident, self._seq)
        for address in self._addresses:
            self._send(packet, address)

    def _send(self, packet: bytes, address: str) -> None:
        assert self._sock is not None
        try:
            self._sock.sendto(packet, (address, 0))
        except OSError as exc:
            self._counts["send_errors"] += 1
            self._limiter.log("warning", "ping failed", medium=f"ping {address}",
                              cause=describe(exc, port=0))
        else:
            self._counts["sent"] += 1
            self._per_address[address]["sent"] += 1

    # --- receiving -------------------------------------------------------------------
    def _on_readable(self) -> None:
        assert self._sock is not None
        for _ in range(READ_BURST):
            try:
                packet, source = self._sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._counts["receive_errors"] += 1
                self._limiter.log("warning", "ping receive failed", medium="ping",
                                  cause=describe(exc, port=0))
                return
            self._counts["received"] += 1
            self._accept(packet, source[0])

    def _accept(self, packet: bytes, source: str) -> None:
        parsed = parse_echo_reply(packet)
        if parsed is None or parsed[0] != self.ident or source not in self._per_address:
            self._counts["ignored"] += 1
            return
        sent_at = self._outstanding.get(parsed[1])
        assert self._loop is not None
        if sent_at is None or self._loop.time() - sent_at > self._timeout:
            self._counts["late"] += 1
            return
        self._counts["replies"] += 1
        self._per_address[source]["replies"] += 1
        self._on_reply(source)

"""Media: every ha.cf medium of this node, opened together; bytes in and out.

The runtime hands `Media` the media of ha.cf and gets back raw datagrams
through `on_datagram(payload, medium_name, source)`; it sends with
`send(data)`, which goes out on every medium. No protocol logic lives here:
own broadcasts that the kernel loops back are delivered like any other
datagram, and a datagram is delivered once per socket that hears it (once
per interface for bcast and ucast, once per mcast line), as heartbeat
delivers once per medium; the core drops its own messages and duplicates.

Sockets (see `udp.py`) are read with `loop.add_reader`, up to READ_BURST
datagrams per wake-up. The receive path is bounded twice over: a datagram
longer than `max_datagram` is dropped (it is read into a buffer of
`max_datagram + 1` bytes, so it is never held whole), and at most
`queue_limit` datagrams wait for delivery; the rest are dropped. Delivery
runs from `loop.call_soon`, DELIVER_BURST datagrams at a time, so that a
flood cannot starve the runtime's timer. Each drop is counted.

With a `screen` (the runtime's: authentication over the raw bytes, see
hbd/wire/preauth.py), each datagram is judged when it is read, before it can
take a place in the queue: source address, known-before-unknown buckets,
authentication, freshness (`admission.py`, one `LinkGate` per socket). Only
admitted datagrams are queued, so a flood from the heartbeat LAN costs a
read and a few dictionary look-ups per datagram and never displaces a peer's
heartbeat in the queue. Each drop is counted under its verdict's name
(`dropped_own`, `dropped_unknown_rate`, `dropped_unauthenticated`, ...);
unauthenticated datagrams are logged at a limited rate. Without a `screen`
(tests of the raw transport) every datagram is queued as before. Sockets ask
for a large receive buffer (`udp.RCVBUF`), so that a burst is absorbed while
the loop runs something else.

`send()` never raises for network reasons: a failure is counted and logged,
at most once per medium and cause every LOG_PERIOD seconds, with the number
of lines held back since the previous one.

The bcast and ucast lines of one interface share a socket (see `udp.py`), so
what is received cannot be told apart by line, only by link. `counters()`
therefore keys the send counters by the line as written in ha.cf
(`"sent[ucast eth2 10.160.100.31]"`) and the receive counters by the link
name that `on_datagram` gets (`"received[eth2]"`), plus totals under the
bare counter names and the current queue length under "queued".
"""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from hbd.config.model import Bcast, Mcast, Medium, Ucast, medium_name
from hbd.logs import LogLimiter
from hbd.transport import ifaddrs, udp
from hbd.transport.admission import LinkGate, Policy, Screen, SourceRule, Verdict, judge
from hbd.wire.errors import Rejected

log = structlog.get_logger("hbd.transport")

READ_BURST = 64
DELIVER_BURST = 64
MAX_UDP_PAYLOAD = 65507
SEND_COUNTERS = ("sent", "send_errors", "skipped_own")
ADMISSION_COUNTERS = tuple(v.value for v in Verdict if v is not Verdict.ADMITTED)
RECEIVE_COUNTERS = ("received", "delivered", "receive_errors", "dropped_oversize",
                    "dropped_queue_full", *ADMISSION_COUNTERS)
COUNTERS = SEND_COUNTERS + RECEIVE_COUNTERS

OnDatagram = Callable[[bytes, str, tuple[str, int]], None]


class MediaError(Exception):
    """A medium could not be opened: "bcast eth9: no such interface"."""


def medium_label(medium: Medium) -> str:
    """The medium as written in ha.cf, for messages and counters."""
    match medium:
        case Bcast(iface):
            return f"bcast {iface}"
        case Ucast(iface, peer):
            return f"ucast {iface} {peer}"
        case Mcast(iface, group, port, ttl, loop):
            return f"mcast {iface} {group} {port} {ttl} {int(loop)}"
    return repr(medium)


@dataclass(eq=False)
class _Line:
    """One ha.cf medium line: where it sends, and its send counters."""

    label: str
    medium: Medium
    targets: udp.Targets
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEND_COUNTERS, 0))


@dataclass(eq=False)
class _Channel:
    """One socket, the lines that send through it, and its receive counters."""

    name: str
    sock: socket.socket
    lines: list[_Line] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RECEIVE_COUNTERS, 0))
    gate: LinkGate | None = None


class Media:
    """The node's heartbeat media; see the module docstring."""

    def __init__(self, media: Sequence[Medium], *, port: int, on_datagram: OnDatagram,
                 max_datagram: int = MAX_UDP_PAYLOAD, queue_limit: int = 1024,
                 bind_address: str = "", screen: Screen | None = None,
                 admission: Policy | None = None) -> None:
        """`screen` authenticates a datagram without framing it (the runtime's
        `screen`, hbd.wire.preauth); with it, datagrams are admitted per
        `admission` (see the module docstring). `bind_address` is a hook for
        loopback tests only (several "nodes" on 127.0.0.x): bcast and ucast
        sockets bind to it instead of the wildcard (mcast sockets bind to their
        group), and it is this node's only own address."""
        if not 1 <= max_datagram <= MAX_UDP_PAYLOAD:
            raise ValueError(f"max_datagram {max_datagram} must be 1..{MAX_UDP_PAYLOAD}")
        if queue_limit < 1:
            raise ValueError(f"queue_limit {queue_limit} must be at least 1")
        self._media = tuple(media)
        self._port = port
        self._on_datagram = on_datagram
        self._max_datagram = max_datagram
        self._queue_limit = queue_limit
        self._bind_address = bind_address
        self._screen = screen
        self._policy = admission or Policy()
        self._limiter = LogLimiter(log)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._channels: list[_Channel] = []
        self._queue: collections.deque[tuple[_Channel, bytes, tuple[str, int]]] = (
            collections.deque())
        self._drain: asyncio.Handle | None = None
        self._closed = False

    # --- life cycle ------------------------------------------------------------
    async def open(self) -> None:
        """Open every medium, or none: raises MediaError naming the medium."""
        if self._channels or self._closed:
            raise RuntimeError("Media.open() called twice; make a new Media instead")
        loop = asyncio.get_running_loop()
        channels: dict[tuple, _Channel] = {}
        try:
            for medium in self._media:
                self._open_one(medium, channels)
        except MediaError:
            for channel in channels.values():
                channel.sock.close()
            raise
        self._loop = loop
        self._channels = list(channels.values())
        if self._screen is not None:
            for channel in self._channels:
                channel.gate = self._gate(channel)
        for channel in self._channels:
            loop.add_reader(channel.sock.fileno(), self._on_readable, channel)
            for line in channel.lines:
                log.info("medium open", medium=line.label,
                         send_to=[f"{h}:{p}" for h, p in line.targets.send_to],
                         not_to_self=[h for h, _ in line.targets.own])

    def _open_one(self, medium: Medium, channels: dict[tuple, _Channel]) -> None:
        label = medium_label(medium)
        port, bind = self._port, self._bind_address
        try:
            targets = udp.targets(medium, port=port, bind_address=bind)
            key = udp.socket_key(medium, port=port)
            if key not in channels:
                sock = udp.open_socket(medium, port=port, bind_address=bind)
                channels[key] = _Channel(medium_name(medium), sock)
        except udp.SetupError as exc:
            raise MediaError(f"{label}: {exc}") from None
        channels[key].lines.append(_Line(label, medium, targets))

    def _gate(self, channel: _Channel) -> LinkGate:
        lines = [line.medium for line in channel.lines]
        return LinkGate(channel.name, self._rule(lines), self._policy,
                        refresh=lambda: self._rule(lines))

    def _rule(self, lines: list[Medium]) -> SourceRule:
        """Who may send to a socket carrying these ha.cf lines (re-read on demand)."""
        found = ifaddrs.ipv4_addresses()
        bound = ifaddrs.ip_to_int(self._bind_address) if self._bind_address else None
        own = frozenset([bound] if bound is not None else [a.address for a in found])
        if all(isinstance(m, Ucast) for m in lines):
            peers = {ifaddrs.ip_to_int(m.peer) for m in lines if isinstance(m, Ucast)}
            return SourceRule(own, peers=frozenset(p for p in peers if p is not None) - own)
        if any(isinstance(m, Mcast) and m.ttl > 1 for m in lines):
            return SourceRule(own)            # routed multicast: senders may be anywhere
        iface = lines[0].iface
        ucast = [ifaddrs.ip_to_int(m.peer) for m in lines if isinstance(m, Ucast)]
        return SourceRule(own, networks=tuple(
            [(a.network, a.netmask) for a in found if a.iface == iface]
            + [(p, 0xFFFFFFFF) for p in ucast if p is not None]))   # a routed ucast peer

    async def close(self) -> None:
        """Close every socket; datagrams still queued are discarded."""
        self._closed = True
        if self._drain is not None:
            self._drain.cancel()
            self._drain = None
        self._queue.clear()
        for channel in self._channels:
            if self._loop is not None and channel.sock.fileno() >= 0:
                self._loop.remove_reader(channel.sock.fileno())
            channel.sock.close()

    # --- sending -----------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Send `data` on every open medium; failures are counted, never raised."""
        if self._closed:
            return
        for channel in self._channels:
            for line in channel.lines:
                line.counts["skipped_own"] += len(line.targets.own)
                for target in line.targets.send_to:
                    self._send(channel.sock, line, data, target)

    def _send(self, sock: socket.socket, line: _Line, data: bytes,
              target: tuple[str, int]) -> None:
        try:
            sock.sendto(data, target)
        except OSError as exc:
            line.counts["send_errors"] += 1
            self._limiter.log("warning", "send failed", medium=line.label,
                              cause=udp.describe(exc, port=target[1]),
                              target=f"{target[0]}:{target[1]}")
        else:
            line.counts["sent"] += 1

    # --- receiving -----------------------------------------------------------------
    def _on_readable(self, channel: _Channel) -> None:
        for _ in range(READ_BURST):
            try:
                data, source = channel.sock.recvfrom(self._max_datagram + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                channel.counts["receive_errors"] += 1
                self._limiter.log("warning", "receive failed", medium=channel.name,
                                  cause=udp.describe(exc, port=self._port))
                return
            self._accept(channel, data, source)

    def _accept(self, channel: _Channel, data: bytes, source: tuple[str, int]) -> None:
        channel.counts["received"] += 1
        if len(data) > self._max_datagram:
            channel.counts["dropped_oversize"] += 1
            self._limiter.log("debug", "datagram dropped", medium=channel.name,
                              cause=f"longer than {self._max_datagram} bytes",
                              source=source[0])
        elif channel.gate is not None and not self._admit(channel, channel.gate, data, source):
            return
        elif len(self._queue) >= self._queue_limit:
            channel.counts["dropped_queue_full"] += 1
            self._limiter.log("warning", "datagram dropped", medium=channel.name,
                              cause=f"{self._queue_limit} datagrams already waiting")
        else:
            self._queue.append((channel, data, source))
            self._schedule_drain()

    def _admit(self, channel: _Channel, gate: LinkGate, data: bytes,
               source: tuple[str, int]) -> bool:
        """Judge a datagram before it may wait in the queue; count and log a drop."""
        assert self._screen is not None and self._loop is not None
        verdict, screened = judge(gate, self._screen, data, ifaddrs.ip_to_int(source[0]),
                                  self._loop.time())
        if verdict is Verdict.ADMITTED:
            return True
        channel.counts[verdict.value] += 1
        if isinstance(screened, Rejected):
            self._limiter.log("warning", "dropped a datagram", medium=channel.name,
                              cause=screened.reason.value, source=source[0], detail=str(screened))
        else:
            self._limiter.log("debug", "datagram dropped", medium=channel.name,
                              cause=verdict.value, source=source[0])
        return False

    def _schedule_drain(self) -> None:
        if self._drain is None and not self._closed and self._loop is not None:
            self._drain = self._loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        self._drain = None
        batch = min(DELIVER_BURST, len(self._queue))
        if len(self._queue) > batch:
            self._schedule_drain()
        for _ in range(batch):
            if not self._queue:          # closed meanwhile
                return
            channel, data, source = self._queue.popleft()
            channel.counts["delivered"] += 1
            try:
                self._on_datagram(data, channel.name, source)
            except BaseException:
                if self._queue:
                    self._schedule_drain()
                raise

    # --- views -------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """Totals; `"<send counter>[<ha.cf line>]"`; `"<receive counter>[<link>]"`."""
        totals = dict.fromkeys(COUNTERS, 0)
        keyed: dict[str, int] = {}
        for channel in self._channels:
            for where, counts in [(channel.name, channel.counts),
                                  *((line.label, line.counts) for line in channel.lines)]:
                for name, value in counts.items():
                    totals[name] += value
                    keyed[f"{name}[{where}]"] = keyed.get(f"{name}[{where}]", 0) + value
        return {**totals, "queued": len(self._queue), **keyed}

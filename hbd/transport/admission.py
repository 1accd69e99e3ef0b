"""Admission on the receive path: what a datagram may cost before hbd knows who sent it.

Every datagram read from a heartbeat socket goes through one `LinkGate` (one
per socket) before it is queued for the codec and the core. In order, each
step cheaper than the next:

1. **Source address** (`SourceRule`): our own addresses are dropped; a socket
   that carries only ucast lines hears only the peers ha.cf names for it; a
   bcast socket (and an mcast one with TTL 1) only addresses inside the
   interface's own networks. ha.cf has no address list for bcast/mcast, so:
2. **Known before unknown.** A source becomes *known* on a link once a
   datagram from it authenticated there and was fresh (step 4). Known sources
   are screened without limit while their datagrams are small
   (`small_datagram`); larger ones share a per-link byte bucket. Unknown
   sources share a per-link bucket, each source also has a small bucket of its
   own (one flooding address cannot starve the rest), and a datagram from an
   unknown source larger than `small_datagram` is dropped unread.
3. **Authentication** (`hbd.wire.preauth.screen`, supplied by the caller): the
   authenticator is checked over the raw bytes; nothing is parsed first.
4. **Freshness.** From the authenticated header: per link and sender, a
   replay window over (generation, seq) — over (session, counter) for sealed
   datagrams. A datagram above the window's top, or a never-seen one inside
   the window (a retransmission filling a gap), is *fresh* and always goes on.
   An exact repeat inside the window is dropped: the core would drop it, and
   this link already counted the first copy (the exact bytes of the last
   `recent` authenticated datagrams are remembered by hash, so a replay of
   recent traffic is dropped before authentication). Everything else an authenticated
   sender sends that cannot be called fresh — an older generation, a seq below
   the window, a message without seq (`NS_*`) — goes on within a per-sender
   bucket, so replays of captured traffic cost at most that bucket's rate.
   While that bucket is empty, a datagram from the same address that merely
   *claims* (unauthenticated) a generation or seq below the window is dropped
   before authentication (`claims_stale`): authentic or not it could only be
   stale, and a long capture replayed in a flood then costs a few searches
   per datagram instead of a hash and a parse.

This is a cost filter, not the protocol's replay protection: every datagram it
lets through is still judged by the codec and the core, and everything it
drops is something the core would drop or can do without (retransmissions are
asked again). Tables are bounded (least recently used entries evicted).
Logic only, driven by the caller's clock (`now`); media.py does the I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from hbd.wire.errors import Rejected
from hbd.wire.preauth import Screened, claimed

Screen = Callable[[bytes], "Screened | Rejected"]

K = TypeVar("K")
V = TypeVar("V")


class Verdict(enum.Enum):
    """What happened to a datagram; the values are Media's counter names."""

    ADMITTED = "admitted"
    OWN = "dropped_own"                    # our own address (looped back or spoofed)
    FOREIGN = "dropped_foreign_source"     # not a configured ucast peer / outside the networks
    UNKNOWN_LARGE = "dropped_unknown_large"  # unknown source, above small_datagram
    UNKNOWN_RATE = "dropped_unknown_rate"  # unknown sources' bucket empty
    LARGE_RATE = "dropped_large_rate"      # known source, large datagrams' bucket empty
    UNAUTHENTICATED = "dropped_unauthenticated"
    DUPLICATE = "dropped_duplicate"        # seen on this link already
    STALE_RATE = "dropped_stale_rate"      # not fresh, and the sender's bucket is empty
    STALE_CLAIM = "dropped_stale_claim"    # claims to be older than its address's sender
                                           # is, while that sender's bucket is empty


@dataclass(frozen=True)
class Policy:
    small_datagram: int = 4096       # bytes; a 3.0.6 status is ~250, an hbd one ~400
    unknown_rate: float = 500.0      # per link: datagrams/s screened from unknown sources
    unknown_burst: float = 100.0
    source_rate: float = 20.0        # per unknown source
    source_burst: float = 20.0
    large_rate: float = 256e3        # per link: bytes/s of large datagrams from known sources
    large_burst: float = 256e3
    stale_rate: float = 100.0        # per sender: non-fresh authenticated datagrams/s
    stale_burst: float = 200.0
    window: int = 1024               # seqs (or counters) remembered below the top
    max_known: int = 256             # known sources per link
    max_unknown: int = 256           # unknown sources with a bucket, per link
    max_senders: int = 512           # replay windows and stale buckets, per link
    recent: int = 8192               # authenticated datagrams remembered (by hash) per link
    refresh_interval: float = 5.0    # at most one re-read of own addresses per this many s


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, burst, now

    def take(self, now: float, cost: float = 1.0) -> bool:
        if not self.has(now, cost):
            return False
        self.tokens -= cost
        return True

    def has(self, now: float, cost: float = 1.0) -> bool:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        return self.tokens >= cost


class Lru(Generic[K, V]):
    """A dict that forgets its least recently used entry beyond `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        value = self.items.pop(key, None)
        if value is not None:
            self.items[key] = value
        return value

    def put(self, key: K, value: V) -> None:
        self.items.pop(key, None)
        self.items[key] = value
        if len(self.items) > self.size:
            del self.items[next(iter(self.items))]

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def __len__(self) -> int:
        return len(self.items)


class Window:
    """A replay window: the top number seen in the current epoch and a bitmap below it."""

    __slots__ = ("epoch", "mask", "top")

    def __init__(self, epoch: int, number: int) -> None:
        self.epoch, self.top, self.mask = epoch, number, 1

    def older(self, epoch: int, number: int, size: int) -> bool:
        """Below the window (an older epoch, or `size` or more behind the top)?"""
        return epoch < self.epoch or (epoch == self.epoch and self.top - number >= size)

    def see(self, epoch: int, number: int, size: int) -> bool | None:
        """True: fresh (recorded). False: already seen. None: older than the window."""
        if epoch != self.epoch:
            if epoch < self.epoch:
                return None
            self.epoch, self.top, self.mask = epoch, number, 1
            return True
        if number > self.top:
            self.mask = ((self.mask << (number - self.top)) | 1) & ((1 << size) - 1)
            self.top = number
            return True
        behind = self.top - number
        if behind >= size:
            return None
        if self.mask >> behind & 1:
            return False
        self.mask |= 1 << behind
        return True


@dataclass(frozen=True)
class SourceRule:
    """Who may send to one socket (addresses as 32-bit ints)."""

    own: frozenset[int] = frozenset()
    peers: frozenset[int] | None = None                     # ucast-only socket: these, nothing else
    networks: tuple[tuple[int, int], ...] | None = None     # (network, mask); None: any address

    def judge(self, ip: int) -> Verdict | None:
        if ip in self.own:
            return Verdict.OWN
        if self.peers is not None:
            return None if ip in self.peers else Verdict.FOREIGN
        if self.networks is None or any(ip & mask == net for net, mask in self.networks):
            return None
        return Verdict.FOREIGN


@dataclass
class LinkGate:
    """Admission for one socket; see the module docstring."""

    name: str
    rule: SourceRule
    policy: Policy = field(default_factory=Policy)
    refresh: Callable[[], SourceRule] | None = None     # re-read own addresses and networks

    def __post_init__(self) -> None:
        p = self.policy
        self.known: Lru[int, bool] = Lru(p.max_known)
        self.unknown: Lru[int, TokenBucket] = Lru(p.max_unknown)
        self.windows: Lru[tuple[str, object], Window] = Lru(p.max_senders)
        self.stale: Lru[tuple[str, object], TokenBucket] = Lru(p.max_senders)
        self.recent: Lru[int, bool] = Lru(p.recent)
        self.by_address: Lru[int, tuple[str, object]] = Lru(p.max_known)  # last fresh sender
        self._unknown_bucket: TokenBucket | None = None
        self._large_bucket: TokenBucket | None = None
        self._refreshed_at: float | None = None

    # --- steps 1 and 2: before reading a byte ------------------------------------------------
    def check_source(self, ip: int | None, size: int, now: float,
                     digest: int | None = None) -> Verdict | None:
        """None: go on and authenticate. A Verdict: drop, for that reason.

        `digest` is `hash()` of the datagram: the exact bytes of a datagram that
        already authenticated on this link are a repeat, dropped unread.
        """
        if ip is None:
            return Verdict.FOREIGN
        verdict = self.rule.judge(ip)
        if verdict is Verdict.FOREIGN and self._may_refresh(now):
            assert self.refresh is not None
            self.rule = self.refresh()
            verdict = self.rule.judge(ip)
        if verdict is not None:
            return verdict
        if digest is not None and digest in self.recent:
            return Verdict.DUPLICATE
        if ip in self.known:
            return self._known(size, now)
        return self._unknown(ip, size, now)

    def _may_refresh(self, now: float) -> bool:
        if self.refresh is None:
            return False
        if self._refreshed_at is not None and now - self._refreshed_at < self.policy.refresh_interval:
            return False
        self._refreshed_at = now
        return True

    def _known(self, size: int, now: float) -> Verdict | None:
        p = self.policy
        if size <= p.small_datagram:
            return None
        if self._large_bucket is None:
            self._large_bucket = TokenBucket(p.large_rate, p.large_burst, now)
        return None if self._large_bucket.take(now, size) else Verdict.LARGE_RATE

    def _unknown(self, ip: int, size: int, now: float) -> Verdict | None:
        p = self.policy
        if size > p.small_datagram:
            return Verdict.UNKNOWN_LARGE
        bucket = self.unknown.get(ip)
        if bucket is None:
            bucket = TokenBucket(p.source_rate, p.source_burst, now)
            self.unknown.put(ip, bucket)
        if not bucket.take(now):
            return Verdict.UNKNOWN_RATE
        if self._unknown_bucket is None:
            self._unknown_bucket = TokenBucket(p.unknown_rate, p.unknown_burst, now)
        return None if self._unknown_bucket.take(now) else Verdict.UNKNOWN_RATE

    def claims_stale(self, ip: int, data: bytes, now: float) -> bool:
        """Drop unread: the datagram claims an older generation, or a seq below the
        window, than the sender last authenticated from this address has sent,
        and that sender's stale bucket is empty (a replay flood). Even if it were
        authentic it could only be stale; while the bucket has tokens such a
        datagram is authenticated and judged as usual."""
        sender = self.by_address.get(ip)
        claim = claimed(data) if sender is not None else None
        if sender is None or claim is None:
            return False
        session, epoch, number = claim
        if session is not None:
            sender = ("session", session)
        window = self.windows.get(sender)
        if window is None or not window.older(epoch, number, self.policy.window):
            return False
        bucket = self.stale.get(("src", sender[1]) if session is None else sender)
        return bucket is not None and not bucket.has(now)

    # --- steps 3 and 4: after authentication ----------------------------------------------------
    def check_screened(self, screened: Screened | Rejected, data: bytes, ip: int,
                       now: float) -> Verdict:
        if isinstance(screened, Rejected):
            return Verdict.UNAUTHENTICATED
        fresh = self._fresh(screened, data)
        if fresh is True:
            self.known.put(ip, True)
            if screened.session is not None:
                self.by_address.put(ip, ("session", screened.session))
            elif screened.source is not None:
                self.by_address.put(ip, ("src", screened.source))
            return Verdict.ADMITTED
        if fresh is False:
            return Verdict.DUPLICATE
        sender: tuple[str, object] = (
            ("session", screened.session) if screened.session is not None
            else ("src", screened.source))
        bucket = self.stale.get(sender)
        if bucket is None:
            bucket = TokenBucket(self.policy.stale_rate, self.policy.stale_burst, now)
            self.stale.put(sender, bucket)
        return Verdict.ADMITTED if bucket.take(now) else Verdict.STALE_RATE

    def _fresh(self, screened: Screened, data: bytes) -> bool | None:
        """True fresh, False a repeat, None neither (judged by the stale bucket)."""
        digest = hash(data)
        if digest in self.recent:
            return False
        self.recent.put(digest, True)
        if screened.session is not None and screened.counter is not None:
            return self._see(("session", screened.session), 0, screened.counter)
        if screened.seq is not None and screened.source is not None:
            return self._see(("src", screened.source), screened.generation or 0, screened.seq)
        return None

    def _see(self, sender: tuple[str, object], epoch: int, number: int) -> bool | None:
        window = self.windows.get(sender)
        if window is None:
            self.windows.put(sender, Window(epoch, number))
            return True
        return window.see(epoch, number, self.policy.window)


def judge(gate: LinkGate, screen: Screen, data: bytes, ip: int | None,
          now: float) -> tuple[Verdict, Screened | Rejected | None]:
    """The whole admission of one datagram (what Media does per datagram read)."""
    verdict = gate.check_source(ip, len(data), now, hash(data))
    if verdict is not None or ip is None:
        return verdict or Verdict.FOREIGN, None
    if gate.claims_stale(ip, data, now):
        return Verdict.STALE_CLAIM, None
    screened = screen(data)
    return gate.check_screened(screened, data, ip, now), screened

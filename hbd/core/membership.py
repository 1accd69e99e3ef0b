"""Who is alive: peers, links, ping nodes, and heartbeat's receive rules.

Rules (heartbeat 3.0.6, spec `heartbeat-wire.md` §7-8, `heartbeat-semantics.md` §4):

* A peer is heard through `status` messages. It is declared **dead** exactly
  `dt` seconds after its last status was received, where `dt` is the dead time
  the peer advertises (normally the shared `deadtime`). hbd arms a timer for that
  instant; heartbeat only notices on its next poll, up to a keepalive later.
* Until a peer has been heard once, `initdead` (counted from start) applies.
* A status arriving more than `warntime` after the previous one is a "late
  heartbeat" warning, per node and per medium, with the interval.
* A node is alive while any medium hears it. A link (node × medium) is `up`
  while packets arrive on it and `dead` after the node's dead time without any.
* Sequence numbers (per sender, hex) and generations (`hg`):
  a lower generation is a replay and is dropped; a higher generation on a
  `status` is a restart (sequence state reset); the same generation after the
  peer was declared dead is a return after partition (heartbeat restarts itself
  here; hbd just takes the node back). In-order and gap-filling messages are
  accepted; duplicates and old sequence numbers are dropped and counted. Gaps
  are recorded (at most 500, a gap over 250 resets) and asked for with
  `NS_rexmit`, first after a random 50-250 ms, then every `max_rexmit_delay`.
* ACKs: one random trigger digit per peer; an in-order message whose seq ends
  in that digit is acknowledged with `NS_ackmsg` (when no hole is open).
* Ping nodes: alive (`ping`) while echo replies arrive, `dead` after
  `deadping`. A ping group is alive while any of its addresses answers. Until
  its first reply a ping node counts as reachable. `ping_changed_at` records
  when this node's count last changed, so that the takeover logic can wait for
  the peers' counts to settle before acting on a loss (no ping-pong when the
  gateway itself dies and every node notices it a little apart).
* A stall (this process not run for a long time, e.g. a frozen machine) must not
  be mistaken for every peer dying: after a gap between calls longer than
  three keepalives, every live peer gets a short grace to be heard again.

This module decides and owns every peer's state (nothing else writes a
`Peer`); `cluster.py` turns its verdicts into messages and notices.

Size: about 490 lines, one concern (heartbeat's receive rules and liveness, the writer
of every peer record); split further, the sequence rules and the deadlines that share a
peer's state would read each other's fields.
"""

from __future__ import annotations

from collections.abc import Mapping

from hbd.config.model import ClusterConfig, medium_name
from hbd.core.announce import Announcement
from hbd.core.rng import Rng
from hbd.core.peers import (Arrival, Change, ChangeKind, DeathCause, Gap, Link, Peer,
                            PingTarget, Verdict)
from hbd.core.status import LinkStatus, NodeStatus

__all__ = ["Arrival", "Change", "ChangeKind", "DeathCause", "Gap", "Link", "Membership", "Peer",
           "PingTarget", "Verdict", "parse_hex"]

MAX_MISSING = 500
RESET_GAP = 250
REXMIT_FIRST = (0.05, 0.25)
REXMIT_GIVE_UP = 20
REVIVAL_LAG = 60.0           # a returning peer's ts may lag its last by this much
LOST_STATE_WINDOW = 60.0     # a lower generation stamped this close to our clock is a rebirth


class Membership:
    def __init__(self, config: ClusterConfig, *, now: float, rng: Rng,
                 known_generations: Mapping[str, int] | None = None) -> None:
        self.config = config
        self.me = config.node_name
        self.rng = rng
        self.started_at = now
        self.media = tuple(dict.fromkeys(medium_name(m) for m in config.hacf.media)) or ("net",)
        self.peers: dict[str, Peer] = {}
        for name in config.nodes:
            if name == self.me:
                continue
            self.peers[name] = Peer(
                name=name, dead_at=now + config.initdead, dt=config.deadtime,
                ack_trigger=rng.randrange(10),
                links={m: Link() for m in self.media},
                generation=(known_generations or {}).get(name))
        self.generations_dirty = False       # a peer's generation rose: save them
        self.pings: dict[str, PingTarget] = {
            p.name: PingTarget(p.name, p.addresses, dead_at=now + config.initdead)
            for p in config.ping_nodes}
        self.last_now = now
        self.ping_changed_at = now
        self.carrier: dict[str, bool] = {}       # iface -> link up, as the kernel says

    # --- carrier ------------------------------------------------------------------
    def set_carrier(self, iface: str, up: bool) -> bool:
        """Record an interface's carrier; True when it changed what was known."""
        known = self.carrier.get(iface, True)     # unknown counts as up
        self.carrier[iface] = up
        return known is not up

    def media_down(self) -> bool:
        """Every heartbeat medium's interface has lost carrier: this node is the
        one cut off (its peers cannot all have unplugged at once)."""
        return all(self.carrier.get(m) is False for m in self.media)

    def carrier_down(self, ifaces: frozenset[str]) -> frozenset[str]:
        return frozenset(i for i in ifaces if self.carrier.get(i) is False)

    def alive_count(self, now: float | None = None) -> int:
        """This node and the peers it hears; with `now`, only those heard in the last
        two keepalives: when a partition cuts this node off, its peers die one by
        one, microseconds apart, and the ones not yet declared dead must not count."""
        if now is None:
            return 1 + sum(1 for p in self.peers.values() if p.alive)
        since = now - 2 * self.config.keepalive
        return 1 + sum(1 for p in self.peers.values() if p.alive
                       and p.last_status_at is not None and p.last_status_at >= since)

    # --- views -------------------------------------------------------------
    def all_heard_or_dead(self) -> bool:
        return all(p.heard or p.status is NodeStatus.DEAD for p in self.peers.values())

    def ping_silent(self, now: float, quiet: float) -> bool:
        """No ping node that answered before has answered for `quiet` seconds: the
        count may be about to drop. (False before the first reply.)"""
        replies = [p.replied_at for p in self.pings.values() if p.replied_at is not None]
        return bool(replies) and now - max(replies) > quiet

    def ping_count(self) -> int:
        """Ping nodes not (yet) declared dead: one still unanswered at start counts."""
        return sum(1 for p in self.pings.values() if p.status is not NodeStatus.DEAD)

    def pings_lost(self) -> int:
        """This node's own ping nodes declared dead (what nodes with different ping
        lists compare)."""
        return len(self.pings) - self.ping_count()

    def next_deadline(self) -> float | None:
        times: list[float] = []
        for peer in self.peers.values():
            if peer.status is not NodeStatus.DEAD:
                times.append(peer.dead_at)
            times.extend(gap.ask_at for gap in peer.missing.values())
            for link in peer.links.values():
                if link.status is LinkStatus.UP and link.last_heard_at is not None:
                    times.append(link.last_heard_at + peer.dt)
        times.extend(p.dead_at for p in self.pings.values() if p.status is not NodeStatus.DEAD)
        return min(times) if times else None

    # --- stall guard -----------------------------------------------------------
    def observe_clock(self, now: float) -> bool:
        """Give live peers a grace after a long stall of this process."""
        gap = now - self.last_now
        self.last_now = now
        if gap <= 3 * self.config.keepalive:
            return False
        grace = min(2 * self.config.keepalive + 0.5, self.config.deadtime)
        for peer in self.peers.values():
            if peer.status is not NodeStatus.DEAD:
                peer.dead_at = max(peer.dead_at, now + grace)
                for link in peer.links.values():
                    if link.last_heard_at is not None:
                        link.last_heard_at = max(link.last_heard_at, now + grace - peer.dt)
        for ping in self.pings.values():
            if ping.status is not NodeStatus.DEAD:
                ping.dead_at = max(ping.dead_at, now + grace)
        return True

    # --- receive rules (§7.2) ----------------------------------------------------
    def current_generation(self, peer: Peer, hg_text: str | None) -> bool:
        """An unsequenced message of the generation we know for the sender (any, while
        we know none)."""
        gen = parse_hex(hg_text) if hg_text is not None else None
        return gen is not None and (peer.generation is None or gen == peer.generation)

    def sequence_check(self, peer: Peer, mtype: str, seq_text: str | None,
                       hg_text: str | None, now: float, *, ts_text: str | None = None,
                       wall_now: float | None = None) -> tuple[Verdict, Arrival]:
        """Apply heartbeat's per-sender sequence/generation rules.

        Returns the verdict and, for accepted messages, what it says about the
        sender's incarnation (a restart, a return after partition, or routine).
        """
        seq = parse_hex(seq_text)
        gen = parse_hex(hg_text) if hg_text is not None else 0
        if seq is None or seq <= 0 or gen is None:
            return Verdict.MALFORMED, Arrival.ROUTINE
        event = Arrival.ROUTINE
        lost_state = False
        if peer.generation is not None and gen < peer.generation:
            if not self._lost_state(peer, ts_text, wall_now):
                return Verdict.REPLAY, Arrival.ROUTINE
            lost_state = True
        if peer.generation is None or gen > peer.generation or lost_state:
            event = Arrival.RESTART if peer.generation is not None else Arrival.ROUTINE
            self.generations_dirty = True
            peer.forget_incarnation()
            peer.left_generation = None
        elif mtype == "status" and peer.status is NodeStatus.DEAD:
            if peer.last_status_seq is not None and seq <= peer.last_status_seq:
                return Verdict.OLD, Arrival.ROUTINE
            if peer.left_generation == gen:
                return Verdict.OLD, Arrival.ROUTINE   # it said shutdone; late statuses ignored
            if self._stale(peer, ts_text, now):
                return Verdict.STALE, Arrival.ROUTINE
            event = Arrival.RETURNED
            peer.last_seq = None
            peer.missing.clear()
        peer.generation = gen
        verdict = self._track_seq(peer, seq, now)
        if verdict is Verdict.ACCEPT and mtype == "status":
            self._clock_seen(peer, ts_text, now)
        return verdict, event

    def _lost_state(self, peer: Peer, ts_text: str | None, wall_now: float | None) -> bool:
        """A lower generation from a peer we hold dead, stamped by the sender's clock
        as of now: a node that lost its state dir, not a replayed capture."""
        ts = parse_hex(ts_text)
        return (peer.status is NodeStatus.DEAD and ts is not None and wall_now is not None
                and abs(ts - wall_now) <= LOST_STATE_WINDOW)

    def known_generations(self) -> dict[str, int]:
        return {p.name: p.generation for p in self.peers.values() if p.generation is not None}

    def _clock_seen(self, peer: Peer, ts_text: str | None, now: float) -> None:
        ts = parse_hex(ts_text)
        if ts is not None:
            lead = ts - now
            peer.ts_lead = lead if peer.ts_lead is None else max(peer.ts_lead, lead)

    def _stale(self, peer: Peer, ts_text: str | None, now: float) -> bool:
        """A status that would bring a dead peer back, stamped (by the sender's own
        clock) well before its last one: a capture being replayed, not a return."""
        ts = parse_hex(ts_text)
        if ts is None or peer.ts_lead is None:
            return False
        lag = max(REVIVAL_LAG, 2 * self.config.deadtime)
        return ts - now < peer.ts_lead - lag

    def _track_seq(self, peer: Peer, seq: int, now: float) -> Verdict:
        last = peer.last_seq
        if last is None or seq == last + 1:
            peer.last_seq = seq
            return Verdict.ACCEPT
        if seq == last:
            return Verdict.DUPLICATE
        if seq > last + 1:
            if seq - last - 1 > RESET_GAP:
                peer.missing.clear()
            else:
                for s in range(last + 1, seq):
                    if len(peer.missing) >= MAX_MISSING:
                        break
                    peer.missing[s] = Gap(now + self.rng.uniform(*REXMIT_FIRST))
            peer.last_seq = seq
            return Verdict.ACCEPT
        if seq in peer.missing:
            del peer.missing[seq]
            return Verdict.ACCEPT
        return Verdict.OLD

    def wants_ack(self, peer: Peer, seq_text: str | None) -> bool:
        seq = parse_hex(seq_text)
        return (seq is not None and seq == peer.last_seq and not peer.missing
                and seq % 10 == peer.ack_trigger)

    # --- liveness --------------------------------------------------------------
    def heard_packet(self, peer: Peer, medium: str, now: float) -> list[Change]:
        """Any packet (even a duplicate) refreshes the link it came on."""
        link = peer.links.setdefault(medium, Link())
        link.last_heard_at = now
        if link.status is LinkStatus.UP:
            return []
        link.status = LinkStatus.UP
        return [Change(ChangeKind.LINK, peer.name, "dead", "up", medium=medium)]

    def heard_status(self, peer: Peer, st: str, dt_text: str | None, seq_text: str | None,
                     medium: str, now: float) -> list[Change]:
        changes: list[Change] = []
        changes.extend(self._late_checks(peer, medium, now))
        dt = parse_hex(dt_text)
        if dt is not None and dt > 0:
            peer.dt = dt / 1000.0
        peer.last_status_at = now
        peer.links.setdefault(medium, Link()).last_status_at = now
        peer.last_status_seq = parse_hex(seq_text)
        peer.dead_at = now + peer.dt
        if not peer.heard:
            peer.heard = True
            peer.heard_at = now
            peer.dead_cause = None
            peer.holds_at_death = None
        new = _node_status(st)
        if new is not peer.status:
            changes.append(Change(ChangeKind.NODE, peer.name, peer.status.value, new.value))
            peer.status = new
        return changes

    def _late_checks(self, peer: Peer, medium: str, now: float) -> list[Change]:
        out: list[Change] = []
        warn = self.config.warntime
        if peer.last_status_at is not None and peer.status is not NodeStatus.DEAD:
            gap = now - peer.last_status_at
            if gap > warn:
                out.append(Change(ChangeKind.LATE, peer.name, "", "", detail=f"{gap * 1000:.0f}"))
        link = peer.links.get(medium)
        if (link is not None and link.last_status_at is not None
                and link.status is LinkStatus.UP and now - link.last_status_at > warn
                and len(self.media) > 1):
            out.append(Change(ChangeKind.LATE, peer.name, "", "", medium=medium,
                              detail=f"{(now - link.last_status_at) * 1000:.0f}"))
        return out

    def declare_dead(self, peer: Peer, now: float, reason: DeathCause) -> list[Change]:
        changes = [Change(ChangeKind.NODE, peer.name, peer.status.value, "dead", detail=reason)]
        peer.dead_cause = reason
        peer.died_at = now
        if reason in (DeathCause.SHUTDOWN, DeathCause.FENCED):
            peer.holds_at_death = frozenset()       # it released everything, or is off
        elif reason is DeathCause.DEADTIME and peer.holds is not None:
            peer.holds_at_death = frozenset(peer.holds)
        else:
            peer.holds_at_death = None
        peer.status = NodeStatus.DEAD
        peer.heard = False
        peer.heard_at = None
        peer.missing.clear()
        peer.holds = ()
        peer.holds_wait_until = None
        for medium, link in peer.links.items():
            if link.status is LinkStatus.UP:
                link.status = LinkStatus.DEAD
                changes.append(Change(ChangeKind.LINK, peer.name, "up", "dead", medium=medium))
        return changes

    def expire(self, now: float) -> list[Change]:
        """Everything whose deadline has passed: dead nodes, links, ping nodes."""
        changes: list[Change] = []
        for peer in self.peers.values():
            if peer.status is not NodeStatus.DEAD and now >= peer.dead_at:
                reason = DeathCause.INITDEAD if not peer.heard else DeathCause.DEADTIME
                changes.extend(self.declare_dead(peer, now, reason))
                continue
            for medium, link in peer.links.items():
                if (link.status is LinkStatus.UP and link.last_heard_at is not None
                        and now >= link.last_heard_at + peer.dt):
                    link.status = LinkStatus.DEAD
                    changes.append(Change(ChangeKind.LINK, peer.name, "up", "dead", medium=medium))
        for ping in self.pings.values():
            if ping.status is not NodeStatus.DEAD and now >= ping.dead_at:
                changes.append(Change(ChangeKind.NODE, ping.name, ping.status.value, "dead",
                                      detail=DeathCause.DEADPING))
                ping.status = NodeStatus.DEAD
                self.ping_changed_at = now
        return changes

    # --- what peers say about themselves ------------------------------------------
    def learn_uuid(self, peer: Peer, uuid: bytes | None) -> None:
        if uuid is not None:
            peer.uuid = uuid

    def uuid_of(self, name: str | None) -> bytes | None:
        peer = self.peers.get(name) if name else None
        return peer.uuid if peer is not None else None

    def heard_announcement(self, peer: Peer, ann: Announcement) -> bool:
        """An hbd peer's status said exactly what it holds; True when anything of it
        changed since its last status."""
        changed = (not peer.is_hbd or peer.holds != ann.holds or peer.standby != ann.standby
                   or peer.claims != ann.claims or peer.failed != ann.failed
                   or peer.unable != ann.unable or peer.pings != ann.pings
                   or peer.plost != ann.plost)
        peer.is_hbd = True
        peer.holds = ann.holds
        peer.standby = ann.standby
        peer.claims = ann.claims
        peer.failed = ann.failed
        peer.unable = ann.unable
        peer.pings = ann.pings
        peer.plost = ann.plost
        return changed

    def heard_resource(self, peer: Peer, holds: tuple[str, ...], *, stable: bool = True) -> None:
        """A heartbeat peer's `resource` message (hbd peers announce in `status`).

        `isstable=0` says what it will hold once its transition is over: a group it
        is still releasing counts as held until it says `isstable=1`."""
        if peer.is_hbd:
            return
        if not stable and peer.holds:
            holds = tuple(dict.fromkeys(peer.holds + holds))
        peer.holds = holds

    def heartbeat_standby(self, peer: Peer, words: frozenset[str]) -> None:
        """A heartbeat peer went standby for `words` (relative to it): it ranks last."""
        peer.standby = words
        peer.claims = peer.claims - words

    def heartbeat_claims(self, peer: Peer, words: frozenset[str]) -> None:
        """A heartbeat peer asked for `words` (`hb_takeover`): it ranks first."""
        peer.claims = words
        peer.standby = peer.standby - words

    def released(self, peer: Peer, groups: tuple[str, ...]) -> None:
        """A heartbeat peer said it released `groups` (`ask_resources ... done`)."""
        if peer.holds is not None:
            peer.holds = tuple(k for k in peer.holds if k not in groups)

    def holdings_unasked(self, peer: Peer) -> bool:
        """A heartbeat peer, active, whose holdings nobody has asked for yet."""
        return (peer.holds is None and not peer.is_hbd and peer.active
                and peer.holds_wait_until is None)

    def await_holdings(self, peer: Peer, until: float) -> None:
        """Its holdings are unknown: wait for its `resource` message at most until `until`."""
        peer.holds_wait_until = until

    def holdings_overdue(self, now: float) -> list[Peer]:
        """Peers that never said what they hold in time: taken as holding nothing."""
        overdue = [p for p in self.peers.values()
                   if p.holds is None and p.holds_wait_until is not None
                   and now >= p.holds_wait_until]
        for peer in overdue:
            peer.holds = ()
        return overdue

    def fenced_by_peer(self, name: str, generation: int, now: float) -> list[Change]:
        """A peer says it fenced `name` in `generation`: if that is the incarnation we
        know (not one that booted since), it is off, whether or not we noticed yet."""
        peer = self.peers.get(name)
        if peer is None or peer.generation is None or peer.generation > generation:
            return []
        if peer.dead_cause is DeathCause.FENCED:
            return []
        return self.fenced(name, now)

    def fenced(self, name: str, now: float) -> list[Change]:
        """STONITH reported `name` reset: it is off and holds nothing, whatever was
        heard from it while the fence ran."""
        peer = self.peers.get(name)
        if peer is None:
            return []
        if peer.status is not NodeStatus.DEAD:
            return self.declare_dead(peer, now, DeathCause.FENCED)
        peer.dead_cause = DeathCause.FENCED
        peer.holds_at_death = frozenset()
        return []

    def heard_shutdone(self, peer: Peer, now: float) -> list[Change]:
        peer.left_generation = peer.generation
        return self.declare_dead(peer, now, DeathCause.SHUTDOWN)

    def nak_received(self, peer: Peer, seq: int | None) -> None:
        """The peer no longer has `seq`: stop asking for it."""
        if seq is not None:
            peer.missing.pop(seq, None)

    def rexmit_due(self, now: float) -> list[tuple[Peer, int]]:
        """Missing sequence numbers to ask for now (and reschedule)."""
        due: list[tuple[Peer, int]] = []
        for peer in self.peers.values():
            if not peer.alive:
                peer.missing.clear()
                continue
            for seq in sorted(peer.missing):
                gap = peer.missing[seq]
                if now < gap.ask_at:
                    continue
                gap.tries += 1
                if gap.tries > REXMIT_GIVE_UP:
                    del peer.missing[seq]
                    continue
                gap.ask_at = now + self.config.hacf.max_rexmit_delay
                due.append((peer, seq))
        return due

    def ping_replied(self, address: str, now: float) -> list[Change]:
        changes: list[Change] = []
        for ping in self.pings.values():
            if address not in ping.addresses:
                continue
            ping.dead_at = now + self.config.deadping
            ping.replied_at = now
            if ping.status is not NodeStatus.PING:
                changes.append(Change(ChangeKind.NODE, ping.name, ping.status.value, "ping"))
                if ping.status is NodeStatus.DEAD:
                    self.ping_changed_at = now
                ping.status = NodeStatus.PING
        return changes


def parse_hex(text: str | None) -> int | None:
    if text is None or not text or len(text) > 16:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def _node_status(st: str) -> NodeStatus:
    st = (st or "").lower()
    if st == "active":
        return NodeStatus.ACTIVE
    if st == "init":
        return NodeStatus.INIT
    return NodeStatus.UP   # "up" and anything unexpected from a live sender

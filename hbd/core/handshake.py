"""heartbeat 3.0.6's resource protocol, spoken with heartbeat peers (issue 11).

hbd peers know exactly who holds what (`announce.py`) and every node decides
on the same facts. A heartbeat node does not: it moves groups only on a death,
on `shutdone`, or through its own handshakes. To share a cluster with one,
hbd speaks them (spec: docs/spec/heartbeat-wire.md §10.2-10.3, §11.3-11.6):

* **Standby (3 phases), nice_failback modes.** The giver sends
  `ask_resources rsc_hold=X info=me` (X relative to the giver), the taker
  answers `info=other` with the same X, the giver says
  `resource ... isstable=0 info=standby`, releases right to left and sends
  `info=done`; the taker acquires and sends `info=done`. Heartbeat cancels a
  request without an answer after 10 s (`OFFER_TIMEOUT`).
  - hbd as taker: a heartbeat peer's `me` (its `hb_standby`, or its own
    auto_failback) is answered `other`; the peer then ranks last for X and its
    groups count as held until its `done`; hbd says `done` once its starts
    are over.
  - hbd as giver: when hbd would hand a group to a heartbeat peer because of
    a standby here, a takeover there (`hb_takeover`, below) or a link the
    group needs that lost carrier here (the service cable pulled), the release
    waits for the peer's `other` (`release_blocked`).
* **`hb_takeover rsc_hold=X`**: the sender wants X (relative to it): it ranks
  first for those groups (its claim), which makes hbd the giver above. hbd
  sends one itself when it should hold a group a heartbeat peer holds (a
  returning hbd primary): heartbeat then runs `hb_standby` for the rest.
* **Legacy (`auto_failback legacy`, heartbeat's default)**: no `starting`/
  `resource` at all. A node that comes up asks for each of its own groups
  with `ip-request ipaddr=<group>`; the holder releases it and answers
  `ip-request-resp weown=yes ok=OK` (else `weown=no`). hbd answers a peer's
  `ip-request` that way in every mode (heartbeat's rc.d script does), and asks
  before starting its own groups when heartbeat peers are up
  (`start_blocked`), starting once each has answered or `RQSTDELAY` passed.

Everything here concerns heartbeat peers only (`Peer.is_hbd` false); hbd
peers never send these messages and never get them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hbd.config.model import AutoFailback, ClusterConfig, ResourceGroup
from hbd.core.actions import Action, Notice, NoticeKind
from hbd.core.announce import FOREIGN, LOCAL, parse_set, set_words
from hbd.core.membership import Membership, Peer
from hbd.core.placement import candidates
from hbd.core.takeover import covers
from hbd.wire.message import Message

OFFER_TIMEOUT = 10.0        # heartbeat cancels a standby request after this long
RQSTDELAY = 10.0            # heartbeat's wait for answers to its resource requests

SendFn = Callable[[Message, float], list[Action]]


class Phase(enum.Enum):
    ASKED = "asked"          # `me` sent (or received): waiting for `other`
    AGREED = "agreed"        # `other` exchanged: the giver releases
    RELEASED = "released"    # the giver said `done`: the taker acquires


@dataclass
class Offer:
    """One standby exchange with a heartbeat peer."""

    peer: str
    word: str                # rsc_hold as on the wire (relative to the giver)
    groups: tuple[str, ...]
    phase: Phase
    at: float
    standby_said: bool = False   # (giver) `resource ... info=standby` sent


@dataclass
class IpRequest:
    """Our `ip-request` for one of our own groups (legacy)."""

    at: float
    waiting: set[str] = field(default_factory=set)
    sent: bool = False


def words_for(node: str, groups: Iterable[ResourceGroup]) -> frozenset[str]:
    """The relative set (as `node` would say it) naming `groups`."""
    out: set[str] = set()
    for g in groups:
        out.add(LOCAL if g.primary == node else FOREIGN)
    return frozenset(out)


def asking_words(peer: str, groups: Iterable[ResourceGroup]) -> frozenset[str]:
    """The set to put in our `ask_resources me` or `hb_takeover` so that heartbeat
    node `peer` moves `groups`. Heartbeat is two-node-minded: it reads the sender's
    set as the complement of its own (go_standby(OTHER, foreign) acquires its
    `local` keys; rc.d/hb_takeover runs `hb_standby local` for a `foreign`). So the
    set is the complement of `peer`'s own words for the groups, which is our own
    words only when one of the two is the groups' primary: a group whose primary
    is a third node (N+1) is `foreign` to both, and must be asked for as `local`."""
    own = words_for(peer, groups)
    return frozenset({LOCAL: FOREIGN, FOREIGN: LOCAL}[w] for w in own)


@dataclass(frozen=True)
class View:
    """What the handshake needs of this node's ownership, after its decisions."""

    held: tuple[str, ...]
    busy: frozenset[str]                  # groups with a plan running
    desired: dict[str, str | None]        # group -> desired holder
    resource: Callable[[str], Message]    # our `resource` message with an `info`


class Handshake:
    def __init__(self, config: ClusterConfig, members: Membership, send: SendFn) -> None:
        self.config = config
        self.me = config.node_name
        self.members = members
        self.send = send
        self.groups = {g.key: g for g in config.groups}
        self.giving: dict[str, Offer] = {}        # peer -> our offer to it
        self.taking: dict[str, Offer] = {}        # peer -> its offer to us
        self.to_offer: dict[str, set[str]] = {}   # peer -> groups held back for it
        self.cooldown: dict[str, float] = {}      # peer -> no new offer before
        self.asked_takeover: dict[str, float] = {}   # peer -> our hb_takeover sent at
        self.ip_requests: dict[str, IpRequest] = {}  # our own group -> our request
        self.ip_asked_by: dict[str, str] = {}        # group we hold -> peer that asked
        # a `done` went out or came in: heartbeat holds us unstable since the exchange
        # began, until a `resource ... isstable=1` (cluster.py sends it once settled)
        self.owes_resource = False

    # --- views -------------------------------------------------------------------------
    def _heartbeat_peer(self, name: str | None) -> Peer | None:
        peer = self.members.peers.get(name) if name else None
        return peer if peer is not None and peer.alive and not peer.is_hbd else None

    def _peers(self) -> list[Peer]:
        return [p for p in self.members.peers.values() if p.alive and not p.is_hbd]

    def _covered(self, node: str, word: str | None) -> tuple[str, ...]:
        words = parse_set(word)
        return tuple(k for k, g in self.groups.items() if covers(words, node, g))

    def deadlines(self) -> list[float]:
        times = [o.at + OFFER_TIMEOUT for o in self.giving.values() if o.phase is Phase.ASKED]
        times += [r.at + RQSTDELAY for r in self.ip_requests.values() if r.waiting]
        times += [at + OFFER_TIMEOUT for at in self.asked_takeover.values()]
        times += [o.at + OFFER_TIMEOUT for o in self.taking.values()
                  if o.phase is Phase.AGREED and not o.standby_said]
        times += list(self.cooldown.values())
        return [t for t in times if t > self.members.last_now]

    def _next_holder(self, key: str, leaving: str) -> str | None:
        """Who takes `key` when `leaving` gives it up: the first live candidate."""
        return self._first_up(candidates(self.groups[key], self.config.nodes, self.config.groups),
                              leaving)

    def _first_live(self, leaving: str) -> str | None:
        """The first node in ha.cf order, other than `leaving`, that is up: the one
        that answers an offer naming no group anybody holds (heartbeat offers its
        `foreign` on auto_failback or `hb_standby` whether or not it holds any; left
        unanswered it stays "in transition" for 10 s and refuses to shut down)."""
        return self._first_up(self.config.nodes, leaving)

    def _first_up(self, names: Iterable[str], leaving: str) -> str | None:
        """The first of `names`, other than `leaving`, that is this node or a live, active peer."""
        for name in names:
            if name == leaving:
                continue
            if name == self.me:
                return name
            peer = self.members.peers.get(name)
            if peer is not None and peer.alive and peer.active:
                return name
        return None

    # --- hooks for ownership ---------------------------------------------------------------
    def start_blocked(self, key: str, now: float) -> str:
        """Why our own group must wait before it starts (legacy `ip-request`)."""
        group = self.groups[key]
        if (self.config.auto_failback is not AutoFailback.LEGACY or group.primary != self.me
                or not self._peers()):
            return ""
        request = self.ip_requests.get(key)
        if request is None:
            self.ip_requests[key] = IpRequest(now, {p.name for p in self._peers()})
            return "asking heartbeat peers to release it (ip-request)"
        request.waiting &= {p.name for p in self._peers()}
        if request.waiting and now < request.at + RQSTDELAY:
            return "waiting for ip-request-resp from " + ", ".join(sorted(request.waiting))
        return ""

    def must_yield(self, key: str) -> bool:
        """A peer asked for this group (`ip-request`): release it."""
        return key in self.ip_asked_by

    def release_blocked(self, key: str, desired: str | None, standby: frozenset[str],
                        unable: bool = False) -> str:
        """Why a group we hold must not be released yet: handing it to a heartbeat
        peer that asked for it (its claim), because of our standby, or because a
        link it needs lost carrier here, goes through heartbeat's standby exchange
        (heartbeat takes a group only on a death, a `shutdone` or that exchange:
        released without it, the group would stay down)."""
        peer = self._heartbeat_peer(desired)
        if peer is None:
            return ""
        group = self.groups[key]
        if not (covers(peer.claims, peer.name, group) or covers(standby, self.me, group)
                or unable):
            return ""                     # e.g. its auto_failback hand-back: it waits for us
        offer = self.giving.get(peer.name)
        if offer is not None and offer.phase is not Phase.ASKED and key in offer.groups:
            return ""
        self.to_offer.setdefault(peer.name, set()).add(key)
        return f"offering it to {peer.name} (heartbeat's standby exchange)"

    def heard_resource(self, peer: Peer, msg: Message) -> None:
        """A heartbeat peer that gives what it offered us says so at once with
        `resource ... info=standby` (go_standby(ME)); see `_expire_taking`."""
        taking = self.taking.get(peer.name)
        if taking is not None and msg.get("info") == "standby":
            taking.standby_said = True

    # --- messages from heartbeat peers ----------------------------------------------------------
    def on_message(self, peer: Peer, mtype: str, msg: Message, now: float,
                   comm_up: bool, held: tuple[str, ...]) -> list[Action] | None:
        """Handle a heartbeat resource-protocol message; None when `mtype` is not one."""
        if mtype == "ask_resources":
            return self._ask_resources(peer, msg, now, comm_up)
        if mtype == "hb_takeover":
            words = parse_set(msg.get("rsc_hold"))
            self.members.heartbeat_claims(peer, words)
            return [Notice(NoticeKind.INFO, peer.name, f"{peer.name} asks to take over "
                           f"{set_words(words)} (hb_takeover)")]
        if mtype == "ip-request":
            key = msg.get("ipaddr") or ""
            if key not in self.groups:
                return []
            if key in held:
                self.ip_asked_by[key] = peer.name   # released first, answered in tick()
                return []
            return self._ip_response(peer.name, key, "no", now)
        if mtype == "ip-request-resp":
            request = self.ip_requests.get(msg.get("ipaddr") or "")
            if request is not None and msg.get("ok") == "OK":
                request.waiting.discard(peer.name)
            return []
        return None

    def _ip_response(self, asker: str, key: str, weown: str, now: float) -> list[Action]:
        return self.send(Message.of(("dest", asker), ("t", "ip-request-resp"), ("ipaddr", key),
                                    ("weown", weown), ("ok", "OK")), now)

    def _ask_resources(self, peer: Peer, msg: Message, now: float,
                       comm_up: bool) -> list[Action]:
        word, info = msg.get("rsc_hold") or "none", msg.get("info")
        if info == "me":                   # it gives: answer, it ranks last for those
            groups = tuple(k for k in self._covered(peer.name, word) if k in (peer.holds or ()))
            if not comm_up or peer.name in self.taking:
                # heartbeat runs one exchange at a time and ignores a second `me` of its
                # own ("Standby in progress- new request ... ignored"): so do we, or its
                # first `done` would read as the release of the second set
                return []
            if groups and not any(self._next_holder(k, peer.name) == self.me for k in groups):
                return []                  # another node is the one to take them
            if not groups and self._first_live(peer.name) != self.me:
                return []                  # an empty offer: the first live node answers
            self.members.heartbeat_standby(peer, parse_set(word))
            self.taking[peer.name] = Offer(peer.name, word, groups, Phase.AGREED, now)
            return self.send(Message.of(("t", "ask_resources"), ("rsc_hold", word),
                                        ("info", "other")), now)
        if info == "other":                # our offer is accepted: release
            offer = self.giving.get(peer.name)
            if offer is None or offer.phase is not Phase.ASKED or word != offer.word:
                return []
            offer.phase = Phase.AGREED
            return [Notice(NoticeKind.INFO, self.me, f"standby: {peer.name} can take our "
                           f"{offer.word} resources")]
        if info == "done":
            taking = self.taking.get(peer.name)
            if taking is not None and taking.phase is Phase.AGREED and word == taking.word:
                self.members.released(peer, taking.groups)
                taking.phase = Phase.RELEASED
                return [Notice(NoticeKind.INFO, peer.name, f"{peer.name} released its "
                               f"{taking.word} resources (standby)")]
            giving = self.giving.get(peer.name)
            if giving is not None and giving.phase is Phase.RELEASED and word == giving.word:
                # its claim (hb_takeover) stays: heartbeat does not fail a group back
                # after a standby exchange; the peer's own hb_standby moves it again
                del self.giving[peer.name]
                self.owes_resource = True
                return [Notice(NoticeKind.INFO, self.me, "Other node completed standby "
                               f"takeover of {giving.word} resources")]
        return []

    # --- after this node's decisions ------------------------------------------------------------
    def tick(self, now: float, view: View) -> list[Action]:
        out: list[Action] = []
        for key, asker in list(self.ip_asked_by.items()):
            if key not in view.held and key not in view.busy:
                del self.ip_asked_by[key]
                out += self._ip_response(asker, key, "yes", now)
        out += self._offers(now, view)
        out += self._expire_taking(now)
        out += self._finish_taking(now, view)
        out += self._ask_takeovers(now, view)
        for key in [k for k in self.ip_requests if k in view.held]:
            del self.ip_requests[key]          # started: the request is spent
        for key, request in self.ip_requests.items():
            if not request.sent:
                request.sent = True
                out += self.send(Message.of(("t", "ip-request"), ("ipaddr", key)), now)
        self.to_offer.clear()
        return out

    def _offers(self, now: float, view: View) -> list[Action]:
        out: list[Action] = []
        for name, offer in list(self.giving.items()):
            if offer.phase is Phase.ASKED and now >= offer.at + OFFER_TIMEOUT:
                del self.giving[name]
                self.cooldown[name] = now + OFFER_TIMEOUT
                out.append(Notice(NoticeKind.WARNING, self.me, "No reply to standby request. "
                                  "Standby request cancelled."))
            elif offer.phase is Phase.AGREED and not offer.standby_said:
                offer.standby_said = True
                out += self.send(view.resource("standby"), now)
            elif (offer.phase is Phase.AGREED and not any(k in view.held for k in offer.groups)
                  and not any(k in view.busy for k in offer.groups)):
                offer.phase = Phase.RELEASED
                self.owes_resource = True
                out += self.send(Message.of(("t", "ask_resources"), ("rsc_hold", offer.word),
                                            ("info", "done")), now)
        for name, keys in self.to_offer.items():
            if name in self.giving or now < self.cooldown.get(name, 0.0):
                continue
            word = set_words(asking_words(name, (self.groups[k] for k in sorted(keys))))
            self.giving[name] = Offer(name, word, tuple(sorted(keys)), Phase.ASKED, now)
            out += self.send(Message.of(("t", "ask_resources"), ("rsc_hold", word),
                                        ("info", "me")), now)
        return out

    def _expire_taking(self, now: float) -> list[Action]:
        """Our `other` was ignored (heartbeat drops it while "the other side is in
        flux", and cancels a pending standby when a node dies): no `info=standby`
        within OFFER_TIMEOUT means the peer is not giving. Forget the exchange, or
        we would wait for it forever and never ask that peer again."""
        out: list[Action] = []
        for name, offer in list(self.taking.items()):
            if (offer.phase is Phase.AGREED and not offer.standby_said
                    and now >= offer.at + OFFER_TIMEOUT):
                del self.taking[name]
                out.append(Notice(NoticeKind.WARNING, name, f"{name} did not give its "
                                  f"{offer.word} resources after our answer; exchange dropped"))
        return out

    def _finish_taking(self, now: float, view: View) -> list[Action]:
        """Its release done, we acquire what we should; then say `done`."""
        out: list[Action] = []
        for name, offer in list(self.taking.items()):
            if offer.phase is not Phase.RELEASED:
                continue
            mine = [k for k in offer.groups if view.desired.get(k) == self.me]
            if any(k in view.busy for k in mine):
                continue
            del self.taking[name]
            self.owes_resource = True
            out += self.send(Message.of(("t", "ask_resources"), ("rsc_hold", offer.word),
                                        ("info", "done")), now)
        return out

    def _ask_takeovers(self, now: float, view: View) -> list[Action]:
        """We should hold groups a heartbeat peer holds (a returning hbd primary): ask
        it to go standby for them (heartbeat's `hb_takeover`)."""
        if self.config.auto_failback is AutoFailback.LEGACY:
            return []
        out: list[Action] = []
        for peer in self._peers():
            if peer.name in self.taking or peer.name in self.giving:
                continue
            wanted = [self.groups[k] for k in (peer.holds or ())
                      if k in self.groups and view.desired.get(k) == self.me
                      and k not in view.held]
            if not wanted or now < self.asked_takeover.get(peer.name, -OFFER_TIMEOUT) \
                    + OFFER_TIMEOUT:
                continue
            self.asked_takeover[peer.name] = now
            word = set_words(asking_words(peer.name, wanted))
            out += self.send(Message.of(("t", "hb_takeover"), ("rsc_hold", word)), now)
        return out

"""Sending heartbeat's messages: the header fields, the history, retransmissions.

Every message this node sends gets the header fields a 3.0.6 node adds
(`src`, `srcuuid`, `seq`, `hg`, `ts`, `ld`, `ttl`; the codec adds auth).
Sequenced messages (everything but `NS_*`) take the next sequence number and
are kept in a history of the last `HISTORY` messages so that a peer that
missed one can ask for it (`NS_rexmit firstseq lastseq`); a request is
answered from the history, at most `REXMIT_MAX_PER_REQUEST` messages at a
time and each message at most once every `REXMIT_MIN_INTERVAL` seconds; one
that fell out of the history gets an `NS_nak_rexmit`.

Answers cost sends, so each peer gets a budget: `REXMIT_BURST` answers at
once, refilled at `REXMIT_RATE` a second, and at most one `NS_nak_rexmit` per
request (naming the first sequence number we no longer have; heartbeat's nak
names one): a forged or broken `NS_rexmit 1..50` cannot make this node send
without bound.

A message with `dest` is meant for one node: it carries that node's UUID as
`destuuid` once known, and a receiver keeps only what is for it (`for_me`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from hbd.core.actions import Action, Send
from hbd.core.counters import Counters
from hbd.wire.message import Message

HISTORY = 500
REXMIT_MIN_INTERVAL = 0.24
REXMIT_MAX_PER_REQUEST = 50
DEFAULT_LOADAVG = "0.00 0.00 0.00 1/1 1"
REXMIT_BURST = 50.0
REXMIT_RATE = 25.0           # answers a second, per peer


@dataclass
class Budget:
    tokens: float
    at: float

    def take(self, now: float) -> bool:
        self.tokens = min(REXMIT_BURST, self.tokens + (now - self.at) * REXMIT_RATE)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class Sent:
    """A sequenced message kept for retransmission."""

    message: Message
    resent_at: float | None = None


class Messenger:
    """This node's outgoing side: stamps, numbers and remembers messages."""

    def __init__(self, me: str, uuid: bytes, generation: int, *, ttl: int,
                 wall_offset: float, counters: Counters) -> None:
        self.me = me
        self.uuid = uuid
        self.generation = generation
        self.ttl = ttl
        self.wall_offset = wall_offset
        self.counters = counters
        self.seq = 0
        self.history: OrderedDict[int, Sent] = OrderedDict()
        self.loadavg = DEFAULT_LOADAVG
        self.budgets: dict[str, Budget] = {}    # configured peers only (the caller checks)

    def send(self, msg: Message, now: float, *, dest_uuid: bytes | None = None) -> Send:
        """Stamp `msg` with this node's header fields (and number it) for sending."""
        ns = (msg.type or "").startswith("NS_")
        if dest_uuid is not None:
            msg = msg.with_field("destuuid", dest_uuid)
        msg = msg.with_field("src", self.me).with_field("srcuuid", self.uuid)
        if not ns:
            self.seq += 1
            msg = msg.with_field("seq", f"{self.seq:x}")
        msg = msg.with_field("hg", f"{self.generation:x}")
        msg = msg.with_field("ts", f"{max(1, int(self.wall_offset + now)):x}")
        if not ns:
            msg = msg.with_field("ld", self.loadavg)
        msg = msg.with_field("ttl", str(self.ttl))
        if not ns:
            self.history[self.seq] = Sent(msg)
            while len(self.history) > HISTORY:
                self.history.popitem(last=False)
        return Send(msg)

    def for_me(self, msg: Message) -> bool:
        """Whether a received message is addressed to this node (or to everyone)."""
        destuuid = msg.get_bytes("destuuid")
        if destuuid is not None:
            return destuuid == self.uuid
        dest = msg.get("dest")
        return dest is None or dest == self.me

    def answer_rexmit(self, peer: str, msg: Message, now: float,
                      dest_uuid: bytes | None) -> list[Action]:
        """Resend what `peer` asked for; nak what fell out of the history."""
        try:
            first, last = int(msg.get("firstseq") or ""), int(msg.get("lastseq") or "")
        except ValueError:
            self.counters.add("dropped_malformed")
            return []
        out: list[Action] = []
        budget = self.budgets.setdefault(peer, Budget(REXMIT_BURST, now))
        oldest = next(iter(self.history), self.seq + 1)
        nak: int | None = None
        for seq in range(max(first, 1), min(last, first + REXMIT_MAX_PER_REQUEST - 1) + 1):
            entry = self.history.get(seq)
            if entry is not None:
                if entry.resent_at is None or now - entry.resent_at >= REXMIT_MIN_INTERVAL:
                    if not budget.take(now):
                        self.counters.add("rexmit_over_budget")
                        return out
                    entry.resent_at = now
                    out.append(Send(entry.message))
                    self.counters.add("rexmit_sent")
            elif seq < oldest and nak is None:
                nak = seq
        if nak is not None and budget.take(now):
            out.append(self.send(Message.of(("t", "NS_nak_rexmit"), ("dest", peer),
                                            ("firstseq", f"{nak:x}"),
                                            ("info", "not in history")), now,
                                 dest_uuid=dest_uuid))
        return out

"""hbd's own `status` fields: what every hbd node tells the others it holds.

Heartbeat's `resource rsc_hold=none|local|foreign|all` cannot say *which*
foreign group a node holds, so hbd nodes add fields of their own to each
`status` (heartbeat ignores fields it does not know):

| field | value |
|---|---|
| `hbd_hold` | group keys held (or being started/stopped), space-separated, trailing space; `" "` when none |
| `hbd_standby`, `hbd_claim` | `none`, `local`, `foreign` or `all`, relative to the sender |
| `hbd_fail` | group keys whose start failed recently on the sender |
| `hbd_ping` | number of ping nodes the sender reaches (only with ping nodes) |
| `hbd_plost` | number of the sender's own ping nodes it has lost (only with ping nodes): nodes with different `ping` lists are ranked by it |
| `hbd_down` | group keys the sender cannot serve: an interface they need lost carrier (only when there are some) |
| `hbd_fenced` | nodes the sender fenced, as `NAME:GENERATION` (hex), until each is heard again (only when there are some) |

This module is the codec (pure functions and one record); `cluster.py` decides
when to send, `membership.py` keeps what peers said.

A *relative set* is a subset of {"local", "foreign"}, as seen by the node that
says it: `local` names the groups whose primary is that node, `foreign` every
other group; `all` is spelled as both words.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hbd.wire.message import Message

LOCAL, FOREIGN = "local", "foreign"
BOTH = frozenset({LOCAL, FOREIGN})
MAX_PING_DIGITS = 4          # a ping count above 9999 is not something a node reaches
MAX_FENCED = 64              # more fenced nodes than a cluster has is not believed

_SET_WORDS = {frozenset(): "none", frozenset({LOCAL}): "local",
              frozenset({FOREIGN}): "foreign", BOTH: "all"}


def set_words(words: frozenset[str]) -> str:
    """The wire word for a relative set."""
    return _SET_WORDS[frozenset(words) & BOTH]


def parse_set(text: str | None) -> frozenset[str]:
    """A relative set from its wire word; anything unknown is the empty set."""
    word = (text or "none").strip().lower()
    if word == "all":
        return BOTH
    if word in (LOCAL, FOREIGN):
        return frozenset({word})
    return frozenset()


def parse_keys(text: str | None) -> tuple[str, ...]:
    return tuple(k for k in (text or "").split() if k)


def keys_text(keys: Iterable[str]) -> str:
    keys = list(keys)
    return " ".join(keys) + " " if keys else " "


def parse_count(text: str | None) -> int | None:
    """A small non-negative decimal count (ASCII digits only), else None."""
    if not text or len(text) > MAX_PING_DIGITS or not all("0" <= c <= "9" for c in text):
        return None
    return int(text)


@dataclass(frozen=True)
class Announcement:
    """What an hbd node says about itself in every `status`."""

    holds: tuple[str, ...]
    standby: frozenset[str]
    claims: frozenset[str]
    failed: tuple[str, ...]
    pings: int | None               # None: no ping nodes configured (field absent)
    unable: tuple[str, ...] = ()    # groups it cannot serve (link down)
    fenced: tuple[tuple[str, int], ...] = ()   # (node, its generation) the sender fenced
    plost: int | None = None        # its own ping nodes it lost (None: no ping nodes / older hbd)

    def fields(self) -> tuple[tuple[str, str], ...]:
        out: tuple[tuple[str, str], ...] = (("hbd_hold", keys_text(self.holds)),
               ("hbd_standby", set_words(self.standby)),
               ("hbd_claim", set_words(self.claims)),
               ("hbd_fail", keys_text(self.failed)))
        if self.pings is not None:
            out += (("hbd_ping", str(self.pings)),)
        if self.plost is not None:
            out += (("hbd_plost", str(self.plost)),)
        if self.unable:
            out += (("hbd_down", keys_text(self.unable)),)
        if self.fenced:
            out += (("hbd_fenced", keys_text(f"{n}:{g:x}" for n, g in self.fenced)),)
        return out


def read_announcement(msg: Message) -> Announcement | None:
    """The sender's announcement, or None when it is not an hbd node's status."""
    if "hbd_hold" not in msg:
        return None
    return Announcement(holds=parse_keys(msg.get("hbd_hold")),
                        standby=parse_set(msg.get("hbd_standby")),
                        claims=parse_set(msg.get("hbd_claim")),
                        failed=parse_keys(msg.get("hbd_fail")),
                        pings=parse_count(msg.get("hbd_ping")),
                        unable=parse_keys(msg.get("hbd_down")),
                        fenced=parse_fenced(msg.get("hbd_fenced")),
                        plost=parse_count(msg.get("hbd_plost")))


def parse_fenced(text: str | None) -> tuple[tuple[str, int], ...]:
    out = []
    for word in parse_keys(text)[:MAX_FENCED]:
        name, _, gen = word.rpartition(":")
        if name and gen and len(gen) <= 8 and all(c in "0123456789abcdef" for c in gen):
            out.append((name, int(gen, 16)))
    return tuple(out)

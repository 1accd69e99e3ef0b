"""Heartbeat 3.0.6's log vocabulary, next to hbd's own structured lines.

Operators' log monitors and heartbeat's own Cluster Test Suite (`CM_hb.py`)
grep the cluster's syslog for heartbeat's words. hbd logs each of these events
a second time, in heartbeat's words, through the logger `hbd.hblog`; the
syslog and journal handlers (`logs.py`) send those lines under the identifier
`heartbeat`, with heartbeat's level words (`info:`, `WARN:`, `ERROR:`,
`CRIT:`), so that a pattern such as `node0 heartbeat.*Heartbeat shutdown
complete` matches as it did with heartbeat.

| event (hbd's notice) | heartbeat's line |
|---|---|
| this node's groups settled after start-up | `info: Initial resource acquisition complete (T_RESOURCES(us))` |
| a peer declared dead | `WARN: node NODE: is dead` |
| a peer back | `info: Status update for node NODE: status active` |
| a link up / dead | `info: Link NODE:IFACE up.` / `info: Link NODE:IFACE dead.` |
| a peer restarted | `info: Heartbeat restart on node NODE` |
| a peer back after a partition | `WARN: Cluster node NODE returning after partition.` |
| a late heartbeat | `WARN: Late heartbeat: Node NODE: interval N ms` |
| standby: what the peer released is started here | `info: Standby resource acquisition done [WORD].` |
| standby asked here: what this node gave up is held elsewhere | (the same line) |
| standby: the peer took what this node released | `info: Other node completed standby takeover of WORD resources.` |
| standby: no peer answered | `WARN: No reply to standby request.  Standby request cancelled.` |
| a group started / stopped here | `info: GROUP resources acquired.` / `info: GROUP resources released.` |
| the daemon leaves | `info: NODE Heartbeat shutdown complete.` |

Heartbeat logs a partition's end at CRIT; hbd at WARN, because `ERROR:` and
`CRIT:` are kept for real errors (log monitors and CTS count them as
failures). hbd's own error notices keep their own lines and are not repeated.

Pure: `Vocabulary` turns notices and status snapshots into `Line`s; the runtime
logs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hbd.core.actions import Notice, NoticeKind
from hbd.core.status import ClusterStatus, GroupState

LOGGER = "hbd.hblog"
IDENT = "heartbeat"
LEVEL_WORDS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "WARN",
               logging.ERROR: "ERROR", logging.CRITICAL: "CRIT"}


@dataclass(frozen=True)
class Line:
    level: int
    text: str

    def render(self) -> str:
        """`info: text`, as heartbeat writes it after its identifier."""
        return f"{LEVEL_WORDS.get(self.level, 'info')}: {self.text}"


def level_word(levelno: int) -> str:
    return LEVEL_WORDS.get(levelno, "info")


def _settled(status: ClusterStatus) -> bool:
    """Every group where this node wants it: started here if desired here,
    stopped otherwise, nothing in motion."""
    if not status.comm_up or status.shutting_down:
        return False
    for group in status.groups:
        if group.state not in (GroupState.STARTED, GroupState.STOPPED):
            return False
        if group.desired is None:
            return False
        if (group.desired == status.node) != (group.state is GroupState.STARTED):
            return False
    return True


class Vocabulary:
    """One node's heartbeat-worded lines, from its notices and status snapshots."""

    def __init__(self, me: str) -> None:
        self.me = me
        self.initial_done = False
        self.standby_taking: list[str] = []      # words released to us, not yet started
        self.standby_giving: list[str] = []      # our standby requests, not yet taken over

    def wants_status(self) -> bool:
        """Whether `settled()` has anything to say (the runtime skips the snapshot else)."""
        return not self.initial_done or bool(self.standby_taking or self.standby_giving)

    def settled(self, status: ClusterStatus) -> list[Line]:
        if not _settled(status):
            return []
        out = []
        if not self.initial_done:
            self.initial_done = True
            out.append(Line(logging.INFO,
                            "Initial resource acquisition complete (T_RESOURCES(us))"))
        for word in self.standby_taking:
            out.append(Line(logging.INFO, f"Standby resource acquisition done [{word}]."))
        self.standby_taking.clear()
        if self.standby_giving and all(g.state is GroupState.STARTED or
                                       (g.holder is not None and g.holder != self.me)
                                       for g in status.groups):
            for word in self.standby_giving:
                out.append(Line(logging.INFO, f"Standby resource acquisition done [{word}]."))
            self.standby_giving.clear()
        return out

    def shutdown_complete(self) -> list[Line]:
        return [Line(logging.INFO, f"{self.me} Heartbeat shutdown complete.")]

    def notice(self, notice: Notice) -> list[Line]:
        match notice.kind:
            case NoticeKind.NODE:
                return self._node(notice)
            case NoticeKind.LINK:
                return [Line(logging.INFO, f"{notice.message}.")]
            case NoticeKind.GROUP:
                return self._group(notice)
            case NoticeKind.INFO | NoticeKind.WARNING:
                return self._said(notice)
        return []

    def _node(self, notice: Notice) -> list[Line]:
        status = notice.get("status")
        if notice.subject == self.me or status is None:
            return []
        if status == "dead":
            return [Line(logging.WARNING, f"node {notice.subject}: is dead")]
        if notice.get("old") == "dead" or status == "active":
            return [Line(logging.INFO,
                         f"Status update for node {notice.subject}: status {status}")]
        return []

    @staticmethod
    def _group(notice: Notice) -> list[Line]:
        result = notice.get("result")
        if result == "started":
            return [Line(logging.INFO, f"{notice.subject} resources acquired.")]
        if result == "stopped":
            return [Line(logging.INFO, f"{notice.subject} resources released.")]
        return []

    def _said(self, notice: Notice) -> list[Line]:
        text = notice.message
        if text.startswith("Heartbeat restart on node "):
            return [Line(logging.INFO, text)]
        if text.startswith("Cluster node ") and text.endswith("returning after partition"):
            return [Line(logging.WARNING, f"{text}.")]
        if text.startswith("Late heartbeat: "):
            return [Line(logging.WARNING, text)]
        if text.startswith("No reply to standby request"):
            return [Line(logging.WARNING,
                         "No reply to standby request.  Standby request cancelled.")]
        if text.startswith("Other node completed standby takeover"):
            return [Line(logging.INFO, f"{text}.")]
        if (notice.subject == self.me and text.startswith("standby ")
                and " requested" in text):
            self.standby_giving.append(text.split()[1])
        if text.endswith("resources (standby)") and " released its " in text:
            word = text.split(" released its ", 1)[1].split()[0]
            self.standby_taking.append(word)
        return []

"""What the client saw: probe records turned into drill figures (pure).

A probe record is one line of `hbd_lab.probe watch` (see probe.py): send time
`t`, `target`, `ok`, and for answered probes who answered (`node`, `host`,
`mac`). All times are CLOCK_MONOTONIC seconds.

* `outage` is the longest stretch without an answer on a target inside a
  window: from the send time of the last answered probe before the silence to
  the send time of the first answered probe after it. Its resolution is the
  probe interval (10 ms by default): a handover with no lost probe at all
  reads as one interval.
* `first_answer_by` finds when a given node first answered after an instant,
  `first_answer_besides` when any node but the given ones did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from collections.abc import Iterable


@dataclass(frozen=True)
class Probe:
    t: float
    target: str
    ok: bool
    node: str | None = None
    host: str | None = None
    mac: str | None = None

    @classmethod
    def from_json(cls, line: str) -> Probe | None:
        try:
            data = json.loads(line)
            return cls(float(data["t"]), str(data["target"]), bool(data["ok"]),
                       data.get("node"), data.get("host"), data.get("mac"))
        except (ValueError, KeyError, TypeError):
            return None


def read_probes(path: str) -> list[Probe]:
    try:
        with open(path, encoding="utf-8") as handle:
            probes = [p for p in map(Probe.from_json, handle) if p is not None]
    except FileNotFoundError:
        return []
    probes.sort(key=lambda p: p.t)
    return probes


def for_target(probes: Iterable[Probe], target: str) -> list[Probe]:
    return [p for p in probes if p.target == target]


@dataclass(frozen=True)
class Gap:
    seconds: float
    start: float          # send time of the last answered probe before the silence
    end: float            # send time of the first answered probe after it


def outage(probes: list[Probe], start: float, end: float) -> Gap | None:
    """The longest silence on one target's probes between `start` and `end`.

    None when no probe was answered after the silence inside the window (the
    service never came back in it). Probes before `start` only say when the
    target last answered: a silence that ended before `start` (say the failover
    before a failback) is not this window's, one still running at `start` is.
    """
    last_ok: float | None = None
    best: Gap | None = None
    lost_since: float | None = None
    for probe in probes:
        if probe.t < start:
            if probe.ok:
                last_ok = probe.t
            continue
        if probe.t > end:
            break
        if probe.ok:
            if last_ok is not None:
                gap = Gap(probe.t - last_ok, last_ok, probe.t)
                if best is None or gap.seconds > best.seconds:
                    best = gap
            last_ok = probe.t
            lost_since = None
        elif lost_since is None:
            lost_since = probe.t
    if lost_since is not None and lost_since >= start:
        return None
    return best


def first_answer_by(probes: list[Probe], node: str, after: float) -> Probe | None:
    for probe in probes:
        if probe.t >= after and probe.ok and probe.node == node:
            return probe
    return None


def first_answer_besides(probes: list[Probe], nodes: tuple[str, ...],
                         after: float) -> Probe | None:
    """The first answer after `after` from a node not in `nodes` (a taker, whoever)."""
    for probe in probes:
        if probe.t >= after and probe.ok and probe.node not in nodes:
            return probe
    return None


def answered_by(probes: list[Probe], start: float, end: float) -> list[tuple[str, str, str]]:
    """Distinct (node, host, mac) that answered in [start, end], in order of first answer."""
    seen: dict[tuple[str, str, str], None] = {}
    for probe in probes:
        if start <= probe.t <= end and probe.ok:
            seen.setdefault((probe.node or "?", probe.host or "?", probe.mac or "?"), None)
    return list(seen)

"""Who held each VIP, from the sampler's records (`sampler.py`), as spans (pure).

The sampler writes a line only when the holders change; a state lasts from
its sample to the next line's. `spans()` turns the records into
(start, end, holders, samples) per VIP; the drills ask how long, and in how
many samples, a VIP had other than one holder, and how the holders moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class State:
    t: float
    n: int                                   # index of the first sample in this state
    holders: dict[str, tuple[str, ...]] | None   # None: the end record


@dataclass(frozen=True)
class Span:
    start: float
    end: float
    holders: tuple[str, ...]
    samples: int

    @property
    def seconds(self) -> float:
        return self.end - self.start


def parse(lines) -> list[State]:
    states = []
    for line in lines:
        try:
            data = json.loads(line)
            holders = None if data.get("end") else {
                vip: tuple(sorted(nodes)) for vip, nodes in data["holders"].items()}
            states.append(State(float(data["t"]), int(data["n"]), holders))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return states


def read(path: str) -> list[State]:
    try:
        with open(path, encoding="utf-8") as handle:
            return parse(handle)
    except FileNotFoundError:
        return []


def spans(states: list[State], vip: str, start: float = float("-inf"),
          end: float = float("inf")) -> list[Span]:
    """The holders of `vip` as spans, clipped to [start, end]; identical neighbours merged.
    The last state lasts until the end record (or the last record's time)."""
    out: list[Span] = []
    for here, after in zip(states, [*states[1:], None], strict=True):
        if here.holders is None:
            continue
        s, e = here.t, (after.t if after else here.t)
        samples = (after.n - here.n) if after else 1
        s, e = max(s, start), min(e, end)
        if e < s:
            continue
        holders = here.holders.get(vip, ())
        if out and out[-1].holders == holders:
            last = out.pop()
            out.append(Span(last.start, e, holders, last.samples + samples))
        else:
            out.append(Span(s, e, holders, samples))
    return out


def not_one(states: list[State], vip: str, start: float, end: float,
            count: int | None = 2) -> tuple[float, int]:
    """(seconds, samples) in [start, end] when `vip` had `count` or more holders
    (count=2: two holders), or, with count=None, any number but exactly one."""
    bad = [s for s in spans(states, vip, start, end)
           if (len(s.holders) != 1 if count is None else len(s.holders) >= count)]
    return sum(s.seconds for s in bad), sum(s.samples for s in bad)


def moves(states: list[State], vip: str, start: float, end: float
          ) -> list[tuple[float, tuple[str, ...], tuple[str, ...]]]:
    """Every change of `vip`'s holders in [start, end]: (t, before, after)."""
    out = []
    previous: tuple[str, ...] | None = None
    for state in states:
        if state.holders is None:
            continue
        holders = state.holders.get(vip, ())
        if previous is not None and holders != previous and start <= state.t <= end:
            out.append((state.t, previous, holders))
        previous = holders
    return out


def holders_at(states: list[State], vip: str, t: float) -> tuple[str, ...] | None:
    current = None
    for state in states:
        if state.t > t:
            break
        if state.holders is not None:
            current = state.holders.get(vip, ())
    return current

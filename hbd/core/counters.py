"""Named event counters of one core (drops by reason, retransmissions, ...).

They reach `hbctl status --json` through `ClusterStatus.counters`.
"""

from __future__ import annotations


class Counters(dict[str, int]):
    def add(self, name: str, n: int = 1) -> None:
        self[name] = self.get(name, 0) + n

    def snapshot(self) -> tuple[tuple[str, int], ...]:
        return tuple(sorted(self.items()))

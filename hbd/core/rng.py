"""The randomness the core may use, as a protocol: the caller passes it in.

The daemon passes `random.Random()` seeded from the OS; the simulation derives
one per node from its seed. The core never imports `random` itself.
"""

from __future__ import annotations

from typing import Protocol


class Rng(Protocol):
    def random(self) -> float: ...

    def uniform(self, a: float, b: float) -> float: ...

    def randrange(self, start: int, stop: int | None = ..., step: int = ...) -> int: ...

"""Waiting on a condition with a deadline, for tests on a real event loop.

The synchronous twin is `hbd_lab.cluster.wait_for` (real-network tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(predicate: Callable[[], object], timeout: float = 5.0,
                interval: float = 0.01, what: str = "the condition") -> None:
    """Poll `predicate()` until it is true; fail the test after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(interval)

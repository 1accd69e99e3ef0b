"""The daemon's signals: SIGTERM/SIGINT stop gracefully (a second SIGINT exits at
once), SIGHUP reloads."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable


def install_signals(loop: asyncio.AbstractEventLoop, *, on_term: Callable[[str], None],
                    on_hup: Callable[[], None]) -> None:
    presses = {"int": 0}

    def on_int() -> None:
        presses["int"] += 1
        if presses["int"] > 1:
            os._exit(130)
        on_term("SIGINT")

    loop.add_signal_handler(signal.SIGTERM, on_term, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, on_int)
    loop.add_signal_handler(signal.SIGHUP, on_hup)

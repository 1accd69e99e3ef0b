"""One heartbeat tool's conversation with hbd: requests within heartbeat's 5 s, errors
logged as heartbeat's cl_log writes them on stderr.

The socket is `$HBD_RUN_DIR/hbd.sock` (default `/run/hbd/hbd.sock`). A daemon
that is not running reads as heartbeat's failed API sign-on, with heartbeat's
own reason text, so scripts that match it keep working.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TextIO

from hbd.control import (DEFAULT_RUN_DIR, ControlError, ControlTimeout, NotRunning,
                         request_sync, socket_path)

DEADLINE = 5.0      # heartbeat's tools give up (exit 12) after alarm(5)
NOT_RUNNING_REASON = "hb_api_signon: Can't initiate connection to heartbeat"


def run_dir() -> str:
    return os.environ.get("HBD_RUN_DIR") or DEFAULT_RUN_DIR


class SignonFailed(Exception):
    """No usable answer from hbd; `stopped` when no daemon runs at all."""

    def __init__(self, reason: str, *, stopped: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stopped = stopped


class Session:
    """Requests to hbd for one run of a tool (all within `deadline` seconds)."""

    def __init__(self, out: TextIO, err: TextIO, *, program: str = "cl_status",
                 path: str | None = None, deadline: float = DEADLINE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.out, self.err, self.program = out, err, program
        self.path = path or socket_path(run_dir())
        self._clock = clock
        self._end = clock() + deadline
        self.hb: dict[str, Any] = {}
        self.failure: SignonFailed | None = None

    def log(self, message: str) -> None:
        """An ERROR line as heartbeat's cl_log prints it on stderr."""
        stamp = time.strftime("%b %d %H:%M:%S")
        self.err.write(f"{stamp} {os.uname().nodename} {self.program}: [{os.getpid()}]: "
                       f"ERROR: {message}\n")

    def ask(self, verb: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of one request; SignonFailed, or TimeoutError past the deadline."""
        remaining = self._end - self._clock()
        if remaining <= 0:
            raise TimeoutError(verb)
        try:
            response = request_sync(self.path, verb, args, timeout=remaining)
        except ControlTimeout:
            raise TimeoutError(verb) from None
        except NotRunning:
            raise SignonFailed(NOT_RUNNING_REASON, stopped=True) from None
        except ControlError as exc:
            raise SignonFailed(str(exc), stopped=False) from None
        if not response["ok"]:
            raise SignonFailed(response["error"], stopped=False)
        data = response["data"]
        if not isinstance(data, dict):
            raise SignonFailed(f"unexpected answer from hbd to '{verb}'", stopped=False)
        return data

    def signon(self) -> None:
        """Ask for heartbeat's API view once; a failure is kept in `failure`."""
        try:
            self.hb = self.ask("heartbeat-nodes")
        except SignonFailed as exc:
            self.failure = exc

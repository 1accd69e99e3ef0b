"""Python 2's `popen2.Popen3` for heartbeat's CTS, on `subprocess`.

CTS uses `Popen3(cmd, None)`: a shell command, `tochild` (closed at once),
`fromchild` (read as text) and `wait()` (0 on success).
"""

from __future__ import annotations

import subprocess
from typing import IO


class Popen3:
    def __init__(self, cmd: str, capturestderr: object = None, bufsize: int = -1) -> None:
        self._proc = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE if capturestderr else None,
                                      text=True, bufsize=bufsize)
        self.pid = self._proc.pid
        self.tochild: IO[str] = self._proc.stdin       # type: ignore[assignment]
        self.fromchild: IO[str] = self._proc.stdout    # type: ignore[assignment]
        self.childerr = self._proc.stderr

    def poll(self) -> int:
        rc = self._proc.poll()
        return -1 if rc is None else rc

    def wait(self) -> int:
        return self._proc.wait()

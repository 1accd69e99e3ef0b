"""The cluster's syslog in one file, as CTS reads it on its test host.

CTS judges every test by patterns in one log file holding every node's
syslog, each line as a syslog daemon writes it: `Dec  5 23:01:02 node0
heartbeat[123]: info: ...`. The lab has no syslog daemon of its own; this
collector (a thread of `hbd lab cts`) writes that file from:

* a datagram socket per node (`syslog.sock` in the node's work dir): hbd's
  syslog (HBD_SYSLOG_SOCKET) and `logger` run on the node (CTS's
  TestLogging; `bin/logger`);
* for heartbeat nodes, heartbeat's own log file (`heartbeat/log/ha-log`:
  heartbeat has no /dev/log in its namespaces), whose lines carry the
  node's host name of the moment (`nodevir` while it holds vip1): the
  collector puts the node's name in its place.

Lines are stamped when collected.
"""

from __future__ import annotations

import os
import re
import select
import socket
import threading
import time
from pathlib import Path

_PRI = re.compile(rb"^<\d+>")
# heartbeat's logfile: "Dec 05 23:09:01 HOST heartbeat: [1]: info: ..." (HOST is the
# node's host name at the time: nodevir while it holds vip1) or, from older
# versions, "heartbeat[1]: 2026/12/05_23:09:01 info: ..."
_HA_LOG = re.compile(r"^(?:\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ (.*)"
                     r"|(\S+?): \d{4}/\d\d/\d\d_\d\d:\d\d:\d\d (.*))$")


def stamp() -> str:
    return time.strftime("%b %d %H:%M:%S")


class Collector:
    def __init__(self, out: Path, sockets: dict[str, str],
                 files: dict[str, Path] | None = None) -> None:
        self.out = out
        self.files = dict(files or {})
        self.socks: dict[socket.socket, str] = {}
        for node, path in sockets.items():
            if os.path.exists(path):
                os.unlink(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(path)
            os.chmod(path, 0o666)
            self.socks[sock] = node
        self.offsets = {node: 0 for node in self.files}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cts-syslog", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> Collector:
        self.out.touch()
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.socks:
            sock.close()

    def write(self, node: str, text: str) -> None:
        with self._lock, open(self.out, "a", encoding="utf-8") as handle:
            handle.write(f"{stamp()} {node} {text}\n")

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select(list(self.socks), [], [], 0.05)
            for sock in ready:
                data = sock.recv(65536)
                text = _PRI.sub(b"", data).rstrip(b"\x00\n").decode("utf-8", "replace")
                for line in text.splitlines():
                    self.write(self.socks[sock], line)
            for node, path in self.files.items():
                self._tail(node, path)

    def _tail(self, node: str, path: Path) -> None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        if size < self.offsets[node]:             # a new file (heartbeat reinstalled)
            self.offsets[node] = 0
        if size == self.offsets[node]:
            return
        with open(path, "rb") as handle:
            handle.seek(self.offsets[node])
            data = handle.read()
        end = data.rfind(b"\n") + 1               # whole lines only
        self.offsets[node] += end
        for raw in data[:end].decode("utf-8", "replace").splitlines():
            match = _HA_LOG.match(raw)
            if match is None:
                self.write(node, raw)
            elif match.group(1) is not None:
                self.write(node, match.group(1))
            else:
                self.write(node, f"{match.group(2)}: {match.group(3)}")

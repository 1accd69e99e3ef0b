"""A running node's logs: every logfile line stamped; one journal entry per event.

node1 alone, with no resources: its log holds start-up, the other nodes'
deaths at initdead and its shutdown (group lines: tests/unit/test_logs.py). For the journal, the
daemon runs as systemd runs it: JOURNAL_STREAM names its stderr, and a fake
journald (the native protocol's datagram socket) collects what it sends.
"""

from __future__ import annotations

import os
import re
import socket
import threading

from hbd_lab.cluster import wait_for
from tests.netns.test_daemon import install
from tests.unit.test_logs import _parse_journal

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d ")


def _active(node):
    def check():
        doc = node.status()
        return doc and doc["status"] == "active"
    return check


def test_a_running_nodes_logfile_has_an_iso_timestamp_on_every_line(make_lab):
    lab = make_lab(("node0", "node1"))
    node = lab["node1"]
    logfile = node.root / "ha-log"
    debugfile = node.root / "ha-debug"
    install(lab, only=("node1",), haresources=False,
            extra=(f"logfile {logfile}", f"debugfile {debugfile}"))
    node.start()
    wait_for(_active(node), timeout=20, what="node1 to be active")
    assert node.stop() == 0
    for path in (logfile, debugfile):
        lines = path.read_text().splitlines()
        text = "\n".join(lines)
        for needle in ("hbd started", "node node0: is dead (initdead)", "shutdown complete"):
            assert needle in text
        unstamped = [line for line in lines if not ISO.match(line)]
        assert lines and not unstamped, unstamped[:5]


class FakeJournald:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.settimeout(0.2)
        self.entries: list[dict[str, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            self.entries.append(dict(_parse_journal(data)))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def test_under_systemd_each_line_reaches_the_journal_once(make_lab):
    lab = make_lab(("node0", "node1"))
    node = lab["node1"]
    install(lab, only=("node1",), haresources=False, extra=("logfacility local0",))
    node.root.mkdir(parents=True, exist_ok=True)
    node.log_path.touch()
    info = os.stat(node.log_path)
    journald = FakeJournald(str(node.root / "journal.sock"))
    try:
        node.start(env={"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}",
                        "HBD_JOURNAL_SOCKET": str(node.root / "journal.sock")})
        wait_for(_active(node), timeout=20, what="node1 to be active")
        assert node.stop() == 0
    finally:
        journald.close()
    messages = [e["MESSAGE"] for e in journald.entries]
    assert any(m.startswith("hbd started") for m in messages)
    assert any(m.startswith("shutdown complete") for m in messages)
    dead = [e for e in journald.entries if e.get("HBD_KIND") == "node"
            and e.get("HBD_STATUS") == "dead" and e["HBD_SUBJECT"] != "node1"]
    assert {(e["HBD_SUBJECT"], e["HBD_KIND"], e["HBD_REASON"]) for e in dead} == {
        ("node0", "node", "initdead"), ("node2", "node", "initdead")}
    assert all(e["HBD_NODE"] == "node1" for e in dead)
    assert all(e["SYSLOG_IDENTIFIER"] in ("hbd", "heartbeat") and e["SYSLOG_FACILITY"] == "16"
               for e in journald.entries)
    # heartbeat's words too, for log monitors (hbd/hblog.py)
    heartbeat = [e["MESSAGE"] for e in journald.entries if e["SYSLOG_IDENTIFIER"] == "heartbeat"]
    assert "info: node1 Heartbeat shutdown complete." in heartbeat
    # one entry per event: no line sent twice (each carries its own wording and fields)
    keyed = [tuple(sorted(e.items())) for e in journald.entries]
    assert len(keyed) == len(set(keyed)), [m for m in messages if messages.count(m) > 1]
    # and nothing on stderr, which systemd would have put in the journal a second time
    stderr = node.log_text().replace("--- start 1 ---\n", "")
    assert stderr == ""

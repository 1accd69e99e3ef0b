"""Media and Pinger on real interfaces, in network namespaces (root only).

The scenario's heartbeat LAN: node0..node2 with eth2 = 10.160.100.30..32/24
on one switch. Each node runs `media_driver.py` inside its namespace (the
pytest process stays in the host's) and reports what it receives as JSON
lines. Every node sends one datagram only after every driver is open, so a
single datagram per node must arrive at every other node.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

DRIVER = Path(__file__).with_name("media_driver.py")
LAN = "10.160.100"
PORT = 694
TIMEOUT = 5.0


class Driver:
    """One media_driver.py process in a namespace, and the events it printed."""

    def __init__(self, node, log_path: Path, *args: str) -> None:
        self.name = node.name
        self._stderr = open(log_path, "wb")
        self.proc = node.popen([sys.executable, str(DRIVER), *args, "--lifetime", "30"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=self._stderr)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.events: list[dict] = []
        self._partial = b""
        self._log_path = log_path

    def _read(self, timeout: float) -> bool:
        """Read what is there (waiting up to `timeout`); False at end of output."""
        ready, _, _ = select.select([self.proc.stdout], [], [], max(timeout, 0.0))
        if not ready:
            return True
        chunk = self.proc.stdout.read() or b""
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        self.events += [json.loads(line) for line in lines if line.strip()]
        return bool(chunk)

    def expect(self, predicate, what: str, *, count: int = 1, since: int = 0,
               timeout: float = TIMEOUT) -> list[dict]:
        """Wait until `count` events from index `since` on satisfy `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events[since:] if predicate(e)]
            if len(found) >= count:
                return found
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                stderr = self._log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"{self.name}: not {count} x {what} in {self.events}\n"
                            f"stderr:\n{stderr}")

    def ready(self) -> None:
        event = self.expect(lambda e: e["event"] in ("ready", "error"), "ready")[0]
        assert event["event"] == "ready", event

    def command(self, line: str) -> None:
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def datagrams(self) -> list[dict]:
        return [e for e in self.events if e["event"] == "datagram"]

    def counters(self) -> dict[str, int]:
        """The counters, asked for now (so every earlier event has been read)."""
        mark = len(self.events)
        self.command("counters")
        return self.expect(lambda e: e["event"] == "counters", "counters",
                           since=mark)[0]["counters"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.command("quit")
                self.proc.wait(timeout=TIMEOUT)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout, self._stderr):
            try:
                stream.close()
            except OSError:
                pass


@pytest.fixture
def drivers(tmp_path):
    started: list[Driver] = []

    def start(node, *args: str) -> Driver:
        driver = Driver(node, tmp_path / f"{node.name}-{len(started)}.log", *args)
        started.append(driver)
        return driver

    yield start
    for driver in started:
        driver.stop()


def lan(topology, count: int, *, extra_link: bool = False) -> list:
    """`count` nodes on the heartbeat LAN (eth2); with `extra_link`, also a
    second switch on eth3 (10.160.101.0/24)."""
    switches = [topology.add_switch("lan")]
    if extra_link:
        switches.append(topology.add_switch("xover"))
    nodes = []
    for i in range(count):
        nodes.append(topology.add_node(f"node{i}", uts=False))
        topology.cable(f"node{i}", "eth2", switches[0], address=f"{LAN}.{30 + i}/24")
        if extra_link:
            topology.cable(f"node{i}", "eth3", switches[1], address=f"10.160.101.{30 + i}/24")
    return nodes


def run_media(topology, drivers, count: int, media: list[str], **lan_args) -> list[Driver]:
    """Open the same media on `count` nodes, then let each send "from-<i>" once."""
    args = ["media", "--port", str(PORT)]
    for medium in media:
        args += ["--medium", medium]
    started = [drivers(node, *args) for node in lan(topology, count, **lan_args)]
    for driver in started:
        driver.ready()
    for i, driver in enumerate(started):
        driver.command(f"send from-{i}")
    return started


def expect_from(driver: Driver, i: int, medium: str = "eth2", *, address: str | None = None,
                count: int = 1) -> list[dict]:
    address = address or f"{LAN}.{30 + i}"
    return driver.expect(
        lambda e: e["event"] == "datagram" and e["payload"] == f"from-{i}"
        and e["medium"] == medium and e["source"][0] == address,
        f"datagram from node{i} on {medium}", count=count)


def assert_all_to_all(started: list[Driver], *, self_allowed: bool) -> None:
    for i, driver in enumerate(started):
        for j in range(len(started)):
            if j != i:
                expect_from(driver, j)
        if not self_allowed:
            driver.counters()         # every datagram so far has been printed
            assert all(d["payload"] != f"from-{i}" for d in driver.datagrams())


def test_bcast_reaches_every_other_node(topology, drivers):
    started = run_media(topology, drivers, 3, ["bcast eth2"])
    assert_all_to_all(started, self_allowed=True)
    counts = started[0].counters()
    assert counts["sent[bcast eth2]"] == 1 and counts["send_errors"] == 0


def test_ucast_reaches_every_other_node_never_self(topology, drivers):
    lines = [f"ucast eth2 {LAN}.{30 + i}" for i in range(3)]   # one ha.cf for all
    started = run_media(topology, drivers, 3, lines)
    assert_all_to_all(started, self_allowed=False)
    for i, driver in enumerate(started):
        counts = driver.counters()
        own = f"ucast eth2 {LAN}.{30 + i}"
        assert counts[f"sent[{own}]"] == 0 and counts[f"skipped_own[{own}]"] == 1
        assert counts["sent"] == 2 and counts["send_errors"] == 0
        assert counts["received[eth2]"] == 2


def test_mcast_reaches_every_other_node(topology, drivers):
    started = run_media(topology, drivers, 3, ["mcast eth2 225.0.0.1 694 1 0"])
    assert_all_to_all(started, self_allowed=False)     # loop 0: not even to self
    assert started[1].counters()["sent[mcast eth2 225.0.0.1 694 1 0]"] == 1


def test_several_media_on_two_links_at_once(topology, drivers):
    media = ["bcast eth2", "bcast eth3", f"ucast eth2 {LAN}.30", f"ucast eth2 {LAN}.31",
             "mcast eth3 225.0.0.7 695 1 1"]
    started = run_media(topology, drivers, 2, media, extra_link=True)
    for i, driver in enumerate(started):
        peer = 1 - i
        # once per medium: bcast + ucast on eth2, bcast + mcast on eth3
        expect_from(driver, peer, "eth2", count=2)
        expect_from(driver, peer, "eth3", address=f"10.160.101.{30 + peer}", count=2)
        counts = driver.counters()
        assert counts["sent"] == 4 and counts["skipped_own"] == 1
        assert counts["send_errors"] == 0
        # plus what came back to ourselves: our bcast on each link, our mcast (loop 1)
        assert (counts["received[eth2]"], counts["received[eth3]"]) == (2 + 1, 2 + 2)
        assert counts["sent[mcast eth3 225.0.0.7 695 1 1]"] == 1


def test_bcast_on_interface_without_address_fails_to_open(topology, drivers):
    switch = topology.add_switch("lan")
    node = topology.add_node("node0", uts=False)
    topology.cable("node0", "eth2", switch)
    driver = drivers(node, "media", "--medium", "bcast eth2", "--medium", "ucast eth2 10.0.0.1")
    event = driver.expect(lambda e: e["event"] in ("ready", "error"), "an answer")[0]
    assert event == {"event": "error", "message": "bcast eth2: interface has no IPv4 address"}


def test_pinger_hears_gateway_not_unreachable(topology, drivers):
    switch = topology.add_switch("svc")
    node = topology.add_node("node0", uts=False)
    topology.add_node("gw", uts=False)
    topology.cable("node0", "eth0", switch, address="10.77.0.1/24")
    topology.cable("gw", "eth0", switch, address="10.77.0.254/24")
    pinger = drivers(node, "ping", "--interval", "0.1",
                     "--address", "10.77.0.254", "--address", "10.77.0.253")
    pinger.ready()
    pinger.expect(lambda e: e["event"] == "reply" and e["address"] == "10.77.0.254",
                  "reply from the gateway", count=3)
    counts = pinger.counters()
    assert counts["replies[10.77.0.254]"] >= 3 and counts["replies[10.77.0.253]"] == 0
    assert counts["sent[10.77.0.253]"] >= 3
    assert not [e for e in pinger.events if e.get("address") == "10.77.0.253"]

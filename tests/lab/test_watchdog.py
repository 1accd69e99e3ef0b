"""The lab's watchdog device: armed by a write, it powers the node off when petting stops;
a magic close ('V') disarms it."""

from __future__ import annotations

import os
import subprocess
import sys

from hbd_lab.cluster import wait_for
from hbd_lab.netns import NETNS_DIR

TIMEOUT = 0.5


def start(lab, node):
    device = str(lab[node].root / "watchdog")
    proc = subprocess.Popen(
        ["nsenter", f"--net={NETNS_DIR}/{lab.topology.switch_ns}", "--", sys.executable, "-m",
         "hbd_lab.watchdog", lab.topology.prefix, node, device, str(TIMEOUT)])
    wait_for(lambda: os.path.exists(device + ".log"), timeout=10, what="the watchdog")
    return device, proc


def pet(device: str, data: bytes) -> None:
    fd = os.open(device, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def test_a_silent_watchdog_powers_the_node_off_and_a_magic_close_disarms(make_lab):
    lab = make_lab(names=("node0", "node1"), extras=())
    sleeper = lab["node0"].ns.popen(["sleep", "600"])
    device, proc = start(lab, "node0")
    device1, proc1 = start(lab, "node1")
    try:
        pet(device, b"x")                   # armed, then never petted again
        pet(device1, b"x")
        pet(device1, b"V")                  # magic close: disarmed
        wait_for(lambda: sleeper.poll() is not None, timeout=10, what="node0 to be powered off")
        log = open(device + ".log", encoding="utf-8").read()
        assert "armed" in log and "rebooting node0" in log

        def eth2() -> str:
            return lab["node0"].ns.ip("-o", "link", "show", "dev", "eth2")

        # power_off kills the node's processes first and pulls its cables after
        wait_for(lambda: "NO-CARRIER" in eth2(), timeout=10, what="node0's cables to be pulled")
        log1 = open(device1 + ".log", encoding="utf-8").read()
        assert "magic close: disarmed" in log1 and "rebooting" not in log1
    finally:
        for p in (proc, proc1):
            p.terminate()
            p.wait(10)

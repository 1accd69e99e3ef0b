"""The identity tests' lab: a service LAN with node n1, a client and a gateway.

Lab (all inside namespaces made by the `topology` fixture): a switch "svc";
node "n1" with eth0 192.168.32.31/24, a default route and one more gateway
route via 192.168.32.254; a "client" at .40 and a "gw" at .254. `Identity`
runs inside n1 through `identity_driver.py` (one process per step, so the
journal on disk carries state between steps, as it does across daemon runs).
Test modules import the `lab` fixture from here.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from hbd_lab.cluster import wait_for as lab_wait_for
from hbd_lab.netns import Node, Topology
from hbd.resources.journal import JOURNAL_NAME

DRIVER = str(Path(__file__).with_name("identity_driver.py"))
VIRTUAL_MAC = "00:1e:68:1e:99:5e"
GROUP = ["IPaddr::192.168.32.21/24/eth0/192.168.32.255", "MacAddr::eth0::00:1E:68:1E:99:5E",
         "Hostname::nodevir", "DefaultRoute::192.168.32.254"]


@dataclass
class Lab:
    topology: Topology
    n1: Node
    client: Node
    state_dir: str

    @property
    def journal_path(self) -> str:
        return os.path.join(self.state_dir, JOURNAL_NAME)


@pytest.fixture
def lab(topology: Topology, tmp_path: Path) -> Lab:
    switch = topology.add_switch("svc")
    for name, host in (("n1", 31), ("client", 40), ("gw", 254)):
        topology.add_node(name)
        topology.cable(name, "eth0", switch, address=f"192.168.32.{host}/24")
    n1 = topology.nodes["n1"]
    n1.ip("route", "add", "default", "via", "192.168.32.254")
    n1.ip("route", "add", "10.9.0.0/16", "via", "192.168.32.254")
    return Lab(topology, n1, topology.nodes["client"], str(tmp_path / "state"))


def drive(lab: Lab, commands: list[dict], *options: str) -> list[dict]:
    """Run the commands in one driver process inside n1; its JSON replies."""
    proc = lab.n1.run([sys.executable, DRIVER, "run", lab.state_dir, *options],
                      input=json.dumps(commands), check=False, timeout=20)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def ops(op: str, specs: list[str], group: str = "") -> list[dict]:
    return [{"op": op, "spec": spec, "group": group} for spec in specs]


def identity_of(node: Node) -> dict:
    link = json.loads(node.ip("-j", "addr", "show", "dev", "eth0"))[0]
    routes = json.loads(node.ip("-j", "route", "show", "table", "main"))
    return {
        "addresses": sorted((a["local"], a["prefixlen"], a.get("broadcast"))
                            for a in link["addr_info"] if a["family"] == "inet"),
        "mac": link["address"],
        "up": "UP" in link["flags"],
        "hostname": node.hostname(),
        "routes": sorted((r["dst"], r.get("gateway", ""), r.get("dev", ""), r.get("metric", 0))
                         for r in routes),
    }


def neighbour_mac(node: Node, ip: str) -> str | None:
    entries = json.loads(node.ip("-j", "neigh", "show", ip, "dev", "eth0"))
    return entries[0].get("lladdr") if entries else None


def wait_for(condition, what: str, timeout: float = 3.0) -> None:
    lab_wait_for(condition, timeout=timeout, what=what, interval=0.02)


def read_line(proc: subprocess.Popen, timeout: float = 5.0) -> dict:
    """The next JSON line of an unbuffered (bufsize=0) binary stdout, with a deadline."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no output from {proc.args} within {timeout} s"
    line = proc.stdout.readline()  # raw FileIO: reads up to the newline and no further
    assert line, f"{proc.args} exited early: {proc.stderr.read() if proc.stderr else ''}"
    return json.loads(line)


def listen_arp(lab: Lab, ip: str, mac: str) -> subprocess.Popen:
    """A gratuitous-ARP listener in the client namespace, already listening on return."""
    proc = lab.client.popen([sys.executable, DRIVER, "listen-arp", "eth0", ip, mac, "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    assert read_line(proc) == {"ready": True}
    return proc


def heard(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=8)
    assert proc.returncode == 0, f"the client heard no gratuitous ARP: {err}"
    return json.loads(out.splitlines()[-1])["arp"]

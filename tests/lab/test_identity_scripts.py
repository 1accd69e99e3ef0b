"""The scenario's identity scripts: one template, rendered for conf/, heartbeat and keepalived.

The shipped conf/node*/resource.d/Remac1 and Remac2 must be exactly what the
template renders (`hbd-lab render-conf` writes them). On a real lab node the
rendered Remac scripts move the whole identity (MAC, address, host name,
default route) on and off eth0 and stack two instances as hbd does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hbd_lab import identity
from hbd_lab.cluster import SERVICE_MACS

CONF = Path(__file__).resolve().parents[2] / "conf"
OWN_IP = "192.168.32.31/24"
VIP1, VIP2 = identity.INSTANCES


def test_conf_ships_exactly_what_the_template_renders():
    files = identity.conf_files(CONF)
    assert len(files) == 6
    for path, text in files.items():
        assert path.read_text(encoding="utf-8") == text, f"{path}: run 'hbd-lab render-conf'"
        assert path.stat().st_mode & 0o111, f"{path} is not executable"


@pytest.mark.parametrize("node", sorted(identity.OWN))
def test_every_rendering_is_filled_and_parses(node):
    scripts = [*identity.remac_scripts(node).values(), identity.keepalived_script(node, "/x")]
    for text in scripts:
        assert "@" not in text.replace("$@", "")
        for shell in ("sh", "bash"):
            if shutil.which(shell):
                subprocess.run([shell, "-n"], input=text, text=True, check=True)
    mac, address = identity.OWN[node]
    assert f"RMAC={mac}" in scripts[0] and f"RIP={address}\n" in scripts[0]


def test_keepalived_and_remac_differ_only_where_they_must():
    remac = identity.remac("node1", VIP1).splitlines()
    notify = identity.keepalived_script("node1", identity.REMAC_STATE).splitlines()
    differ = [(a, b) for a, b in zip(remac, notify, strict=True) if a != b]
    assert [a.split("=")[0] for a, _ in differ if "=" in a and " " not in a.split("=")[0]] == [
        "NAME", "INSTANCE", "MANAGE_VIP"]


# --- on a lab node ------------------------------------------------------------------------------
def _view(node) -> dict:
    addresses = sorted(node.addresses())
    return {"mac": node.mac(), "host": node.hostname(), "addresses": addresses,
            "routes": node.default_routes() if addresses else []}


def _identity(instance, *addresses: str) -> dict:
    return {"mac": instance.mac.lower(), "host": instance.hostname,
            "addresses": sorted(f"{a}/24" for a in addresses),
            "routes": ["192.168.32.254 eth0"]}


OWN = {"mac": SERVICE_MACS["node1"], "host": "node1", "addresses": [OWN_IP],
       "routes": ["192.168.32.254 eth0"]}


@pytest.fixture
def node1(make_lab):
    lab = make_lab(names=("node1",))
    node = lab["node1"]
    scripts = node.root / "resource.d"
    scripts.mkdir(parents=True)
    for name, text in identity.remac_scripts("node1", str(node.root / "remac")).items():
        (scripts / name).write_text(text)
        (scripts / name).chmod(0o755)

    def remac(name: str, verb: str) -> subprocess.CompletedProcess:
        return node.ns.run([str(scripts / name), verb], check=False)
    return node, remac


def test_remac_scripts_stack_two_identities_and_restore_the_own(node1):
    node, remac = node1
    assert _view(node) == OWN
    status = remac("Remac1", "status")
    assert (status.returncode, status.stdout) == (3, "Remac1 is stopped\n")
    assert remac("Remac1", "start").returncode == 0
    assert _view(node) == _identity(VIP1, VIP1.address)
    assert remac("Remac1", "status").stdout == "Remac1 is running\n"
    assert remac("Remac2", "start").returncode == 0          # on top: vip2's MAC and name
    assert _view(node) == _identity(VIP2, VIP1.address, VIP2.address)
    assert remac("Remac2", "stop").returncode == 0           # vip1's identity comes back
    assert _view(node) == _identity(VIP1, VIP1.address)
    assert remac("Remac1", "stop").returncode == 0
    assert _view(node) == OWN
    assert remac("Remac1", "stop").returncode == 0           # already stopped: success
    log = (node.root / "remac" / "log").read_text().splitlines()
    assert len(log) == 5 and all(" rc 0" in line for line in log), log


def test_a_reboot_forgets_what_was_held(node1):
    node, remac = node1
    assert remac("Remac1", "start").returncode == 0
    # a reboot: the node comes back with its own identity, the stack file survives
    node.ns.ip("addr", "flush", "dev", "eth0")
    node.ns.ip("link", "set", "eth0", "address", SERVICE_MACS["node1"])
    node.ns.ip("addr", "add", OWN_IP, "brd", "+", "dev", "eth0")
    node.ns.run(["hostname", "node1"])
    assert remac("Remac1", "status").stdout == "Remac1 is stopped\n"
    assert remac("Remac2", "start").returncode == 0          # vip1 is not brought back
    assert _view(node)["addresses"] == [f"{VIP2.address}/24"]
    held = (node.root / "remac" / "held").read_text().split()
    assert held == ["vip2"], json.dumps(held)

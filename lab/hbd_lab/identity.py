"""The scenario's identity scripts, all rendered from one template (`data/identity.sh`).

| rendering | used by | manages the VIP | verbs |
|---|---|---|---|
| `Remac1`, `Remac2` per node (`remac()`) | `conf/node*/resource.d/` (heartbeat, hbd), the lab's heartbeat nodes | yes | start, stop, status |
| `identity` per node (`keepalived_script()`) | the lab's keepalived nodes (notify scripts) | no (keepalived does) | INSTANCE master/backup/fault/stop, reset |

Only the node's own identity (three lines), the script's name and how it is
called differ; the instance table (vip1, vip2) is the scenario's. `conf_files()`
is what `hbd-lab render-conf` writes into `conf/`, and a test checks that the
shipped copies are exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

SERVICE_NET = "192.168.32"
IFACE = "eth0"
PREFIX = 24
BROADCAST = f"{SERVICE_NET}.255"
GATEWAY = f"{SERVICE_NET}.254"
# each node's own identity on eth0, as conf/README.md lists it
OWN = {"node0": ("00:18:8B:8E:04:E2", f"{SERVICE_NET}.30"),
       "node1": ("00:1E:68:1E:19:5E", f"{SERVICE_NET}.31"),
       "node2": ("00:1E:68:1E:16:7E", f"{SERVICE_NET}.32")}
REMAC_STATE = "/run/remac"        # tmpfs: a reboot forgets the stack with the identity


@dataclass(frozen=True)
class Instance:
    """One service identity of the scenario."""

    name: str
    mac: str
    hostname: str
    address: str
    remac: str          # its heartbeat/hbd script's name


INSTANCES = (Instance("vip1", "00:1E:68:1E:99:5E", "nodevir", f"{SERVICE_NET}.21", "Remac1"),
             Instance("vip2", "00:1E:68:1E:88:5E", "nodevir2", f"{SERVICE_NET}.22", "Remac2"))


def template() -> str:
    return resources.files("hbd_lab").joinpath("data/identity.sh").read_text(encoding="utf-8")


def render(node: str, *, script: str, instance: str, manage_vip: bool, state_dir: str,
           usage: str) -> str:
    if node not in OWN:
        raise ValueError(f"unknown lab node '{node}' (one of {', '.join(OWN)})")
    mac, address = OWN[node]
    cases = "\n".join(f"      {i.name}) echo {i.mac} {i.hostname} {i.address} ;;"
                      for i in INSTANCES)
    values = {"SCRIPT": script, "INSTANCE": instance, "MANAGE_VIP": "yes" if manage_vip else "no",
              "STATE_DIR": state_dir, "IFACE": IFACE, "PREFIX": str(PREFIX),
              "BROADCAST": BROADCAST, "GATEWAY": GATEWAY, "RMAC": mac, "RIP": address,
              "RHOST": node, "CASES": cases, "USAGE": usage,
              "INSTANCES": " ".join(i.name for i in INSTANCES)}
    text = template()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    if "@" in text.replace("$@", ""):
        raise ValueError("identity.sh has a placeholder render() does not fill")
    return text


def remac(node: str, instance: Instance, state_dir: str = REMAC_STATE) -> str:
    """`resource.d/Remac1` or `Remac2` for `node`: a heartbeat/hbd resource script."""
    return render(node, script=instance.remac, instance=instance.name, manage_vip=True,
                  state_dir=state_dir, usage="{start|stop|status}")


def remac_scripts(node: str, state_dir: str = REMAC_STATE) -> dict[str, str]:
    return {i.remac: remac(node, i, state_dir) for i in INSTANCES}


def keepalived_script(node: str, state_dir: str) -> str:
    """keepalived's notify script for `node`; its stack and log live in `state_dir`."""
    return render(node, script="identity", instance="", manage_vip=False, state_dir=state_dir,
                  usage="INSTANCE master|backup|fault|stop | reset")


def conf_files(conf_root: Path) -> dict[Path, str]:
    """Every identity script `conf/` ships: path -> text."""
    return {conf_root / node / "resource.d" / name: text
            for node in OWN for name, text in remac_scripts(node).items()}


def write_conf(conf_root: Path) -> list[Path]:
    """(Re)write conf/'s scripts from the template; returns the paths written."""
    written = []
    for path, text in conf_files(conf_root).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)
        written.append(path)
    return written

"""Resource status for CTS's audits, from what the lab node shows.

CTS's ResourceAudit asks every up node, for every resource of every group in
haresources, `RESOURCE INSTANCE status` from the heartbeat resource
directories, and wants each served on exactly one node. hbd's resources are
native (no script), and the lab's are about one identity (VIP, MAC, host
name), so the CTS cluster manager points its resource directories at
`probes/`, where every script runs this on the node:

| resource | "running" when the node has |
|---|---|
| `IPaddr ADDR/...` (also IPaddr2) | ADDR on an interface |
| `MacAddr IFACE::MAC` | MAC on IFACE (`MacAddr IFACE`: a MAC other than its own) |
| `Hostname NAME` | NAME as host name |
| `DefaultRoute GW` | a default route via GW and one of the scenario's VIPs |
| `Remac1`, `Remac2` (heartbeat's scripts) | the instance's VIP, MAC and host name |
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from hbd_lab import identity


def _addresses() -> list[str]:
    out = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True,
                         check=False).stdout
    return [a["local"] for i in json.loads(out or "[]") for a in i.get("addr_info", [])]


def _mac(ifname: str) -> str:
    out = subprocess.run(["ip", "-j", "link", "show", "dev", ifname], capture_output=True,
                         text=True, check=False).stdout
    links = json.loads(out or "[]")
    return links[0]["address"].lower() if links else ""


def _default_via(gateway: str) -> bool:
    out = subprocess.run(["ip", "-j", "-4", "route", "show", "default"], capture_output=True,
                         text=True, check=False).stdout
    return any(r.get("gateway") == gateway for r in json.loads(out or "[]"))


def running(resource: str, instance: str) -> bool:
    node = os.environ.get("HBD_CTS_NODE", "")
    vips = {i.address for i in identity.INSTANCES}
    if resource in ("IPaddr", "IPaddr2"):
        return instance.split("/")[0] in _addresses()
    if resource == "MacAddr":
        ifname, _, wanted = instance.partition("::")
        own = identity.OWN.get(node, ("", ""))[0].lower()
        mac = _mac(ifname or identity.IFACE)
        return bool(mac) and (mac == wanted.lower() if wanted else mac != own)
    if resource == "Hostname":
        return socket.gethostname() == instance
    if resource == "DefaultRoute":
        return _default_via(instance) and bool(vips & set(_addresses()))
    for inst in identity.INSTANCES:
        if inst.remac == resource:
            return (inst.address in _addresses() and _mac(identity.IFACE) == inst.mac.lower()
                    and socket.gethostname() == inst.hostname)
    return False


def main(argv: list[str]) -> int:
    """`probe RESOURCE [INSTANCE] status|monitor`: prints running/stopped (LSB 0/3)."""
    resource, *rest = argv
    op = rest[-1] if rest else "status"
    instance = rest[0] if len(rest) > 1 else ""
    if op not in ("status", "monitor"):
        print(f"{resource}: only status and monitor in the lab's probes", file=sys.stderr)
        return 1
    up = running(resource, instance)
    print("running" if up else "stopped")
    return 0 if up else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A STONITH device for the lab: cluster-glue's `external` plugin that powers a
namespace node off (every process killed, both cables pulled at the switch).

`install(prefix)` writes `/usr/lib/stonith/plugins/external/hbdlab-<prefix>`
(cluster-glue only looks there) and returns the device type to name in ha.cf:
`stonith_host * external/hbdlab-<prefix>`. `remove(prefix)` deletes it; the
lab removes it at teardown. The plugin calls back into this module:
`python -m hbd.lab.fence_plugin PREFIX NODE`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from hbd.lab import netns

PLUGIN_DIR = "/usr/lib/stonith/plugins/external"

_SCRIPT = """#!/bin/sh
# hbd lab STONITH device for the namespaces {prefix}-*: written by hbd.lab.fence_plugin,
# removed with the lab. "reset NODE" powers that lab node off.
case "$1" in
  gethosts) echo node0 node1 node2 ;;
  reset|off) exec {python} -m hbd.lab.fence_plugin {prefix} "$2" ;;
  on|status) exit 0 ;;
  getconfignames) exit 0 ;;
  getinfo-devid|getinfo-devname) echo "hbd-lab" ;;
  getinfo-devdescr) echo "Powers off a node of hbd's namespace lab" ;;
  getinfo-devurl) echo "file:///" ;;
  getinfo-xml) echo "<parameters></parameters>" ;;
  *) exit 1 ;;
esac
"""


def device_type(prefix: str) -> str:
    return f"external/hbdlab-{prefix}"


def install(prefix: str) -> str:
    if not os.path.isdir(PLUGIN_DIR):
        raise netns.NetnsError(f"{PLUGIN_DIR} is missing: install cluster-glue")
    path = os.path.join(PLUGIN_DIR, f"hbdlab-{prefix}")
    with open(path, "w", encoding="ascii") as handle:
        handle.write(_SCRIPT.format(prefix=prefix, python=sys.executable))
    os.chmod(path, 0o755)
    return device_type(prefix)


def remove(prefix: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(PLUGIN_DIR, f"hbdlab-{prefix}"))


def power_off(prefix: str, node: str) -> None:
    """Every process of the node killed, then its cables pulled (a dead machine)."""
    topology = netns.Topology(prefix)
    topology.nodes[node] = netns.Node(f"{prefix}-{node}")
    for pid in topology.nodes[node].pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for ifname in ("eth0", "eth2"):
        topology.set_port(node, ifname, False)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ("node0", "node1", "node2"):
        print("usage: python -m hbd.lab.fence_plugin PREFIX node0|node1|node2", file=sys.stderr)
        return 2
    try:
        power_off(argv[0], argv[1])
    except netns.NetnsError as exc:
        print(f"hbd lab fence: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

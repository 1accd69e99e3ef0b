"""A STONITH device for the lab: cluster-glue's `external` plugin that powers a
namespace node off (every process killed, both cables pulled at the switch).

`install(prefix)` writes `/usr/lib/stonith/plugins/external/hbdlab-<prefix>`
(cluster-glue only looks there) and returns the device type to name in ha.cf:
`stonith_host * external/hbdlab-<prefix>`. `remove(prefix)` deletes it; the
lab removes it at teardown. The plugin calls back into this module:
`python -m hbd_lab.fence_plugin PREFIX NODE`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from importlib import resources

from hbd_lab import netns, procs

PLUGIN_DIR = "/usr/lib/stonith/plugins/external"


def device_type(prefix: str) -> str:
    return f"external/hbdlab-{prefix}"


def install(prefix: str) -> str:
    if not os.path.isdir(PLUGIN_DIR):
        raise netns.NetnsError(f"{PLUGIN_DIR} is missing: install cluster-glue")
    path = os.path.join(PLUGIN_DIR, f"hbdlab-{prefix}")
    with open(path, "w", encoding="ascii") as handle:
        handle.write(resources.files("hbd_lab").joinpath("data/fence.sh").read_text("ascii")
                     .replace("@PREFIX@", prefix).replace("@PYTHON@", sys.executable))
    os.chmod(path, 0o755)
    return device_type(prefix)


def remove(prefix: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(PLUGIN_DIR, f"hbdlab-{prefix}"))


def power_off(prefix: str, node: str) -> None:
    """Every process of the node killed, then its cables pulled (a dead machine)."""
    topology = netns.Topology(prefix)
    topology.nodes[node] = netns.Node(f"{prefix}-{node}")
    procs.kill(topology.nodes[node].pids)
    for ifname in ("eth0", "eth2"):
        topology.set_port(node, ifname, False)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ("node0", "node1", "node2"):
        print("usage: python -m hbd_lab.fence_plugin PREFIX node0|node1|node2", file=sys.stderr)
        return 2
    try:
        power_off(argv[0], argv[1])
    except netns.NetnsError as exc:
        print(f"hbd lab fence: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Cluster configurations for the simulation, built from the config dataclasses.

The source scenario (docs/spec/scenario-source.txt): three nodes in ha.cf order
node0, node2, node1; node0 and node2 are primaries, node1 the standby for both;
heartbeats on `bcast eth2`; `ping 192.168.32.254`; `auto_failback on`;
keepalive 2, deadtime 60, warntime 20, initdead 240, deadping 60.

Built directly from `hbd.config.model` (not from the ha.cf parser) so that the
simulation depends only on the data shapes. Most tests use `SHORT` timings;
at least one test per drill uses `SCENARIO` timings.
"""

from __future__ import annotations

from hbd.config.model import (AutoFailback, Bcast, ClusterConfig, HaCf, PingNode,
                              Resource, ResourceGroup)

NODES = ("node0", "node2", "node1")          # ha.cf order = priority order
GATEWAY = "192.168.32.254"

VIP1 = "IPaddr::192.168.32.21/24/eth0/192.168.32.255"
VIP2 = "IPaddr::192.168.32.22/24/eth0/192.168.32.255"
GROUP1 = (VIP1, "MacAddr::eth0::00:1E:68:1E:99:5E", "Hostname::nodevir",
          f"DefaultRoute::{GATEWAY}")
GROUP2 = (VIP2, "MacAddr::eth0::00:1E:68:1E:88:5E", "Hostname::nodevir2",
          f"DefaultRoute::{GATEWAY}")

SCENARIO = dict(keepalive=2.0, deadtime=60.0, warntime=20.0, initdead=240.0, deadping=60.0)
SHORT = dict(keepalive=0.2, deadtime=2.0, warntime=1.0, initdead=4.0, deadping=2.0)
CHAOS = dict(keepalive=0.5, deadtime=3.0, warntime=1.5, initdead=6.0, deadping=3.0)


def resource(spec: str) -> Resource:
    name, *args = spec.split("::")
    return Resource(name=name, args=tuple(args), spec=spec)


def group(primary: str, *specs: str) -> ResourceGroup:
    return ResourceGroup(primary=primary, resources=tuple(resource(s) for s in specs))


def make_config(node_name: str, nodes: tuple[str, ...], groups: tuple[ResourceGroup, ...], *,
                keepalive: float = 2.0, deadtime: float = 60.0, warntime: float | None = None,
                initdead: float | None = None, deadping: float | None = None,
                auto_failback: str = "on", ping: tuple[str, ...] = (GATEWAY,),
                media: tuple[str, ...] = ("eth2",)) -> ClusterConfig:
    """Any cluster: `nodes` in ha.cf order, `groups` in haresources order."""
    hacf = HaCf(
        nodes=tuple(nodes),
        keepalive=keepalive,
        deadtime=deadtime,
        warntime=warntime if warntime is not None else deadtime / 2,
        initdead=initdead if initdead is not None else 2 * deadtime,
        deadping=deadping if deadping is not None else deadtime,
        media=tuple(Bcast(iface) for iface in media),
        ping_nodes=tuple(PingNode(name=a, addresses=(a,)) for a in ping),
        auto_failback=AutoFailback(auto_failback),
    )
    return ClusterConfig(node_name=node_name, hacf=hacf, groups=tuple(groups))


def scenario_config(node_name: str, *, per_node_haresources: bool = False,
                    ping: bool = True, **timings) -> ClusterConfig:
    """One node's configuration in the source scenario.

    `per_node_haresources=True` mimics the scenario's own files: node0 knows
    only its group and the nodes node0, node1; node2 only its group and nodes
    node2, node1; node1 knows both groups and all three nodes.
    """
    g1, g2 = group("node0", *GROUP1), group("node2", *GROUP2)
    nodes, groups = NODES, (g1, g2)
    if per_node_haresources and node_name == "node0":
        nodes, groups = ("node0", "node1"), (g1,)
    elif per_node_haresources and node_name == "node2":
        nodes, groups = ("node2", "node1"), (g2,)
    params = {**SCENARIO, **timings}
    return make_config(node_name, nodes, groups, ping=(GATEWAY,) if ping else (), **params)


def scenario_configs(**kw) -> dict[str, ClusterConfig]:
    return {name: scenario_config(name, **kw) for name in NODES}


def two_node_configs(*, ping: bool = True, **timings) -> dict[str, ClusterConfig]:
    """node0 (primary of vip1) and node1 (its backup), as in the scenario's node0 files."""
    params = {**SCENARIO, **timings}
    groups = (group("node0", *GROUP1),)
    return {name: make_config(name, ("node0", "node1"), groups,
                              ping=(GATEWAY,) if ping else (), **params)
            for name in ("node0", "node1")}


def n_node_configs(n: int, *, groups_per_primary: int = 1, standbys: int = 1,
                   **timings) -> dict[str, ClusterConfig]:
    """A larger cluster for the benchmark: n-standbys primaries, each with a VIP group."""
    names = tuple(f"n{i:02d}" for i in range(n))
    groups = []
    for i, primary in enumerate(names[: n - standbys]):
        for j in range(groups_per_primary):
            octet = 10 + i * groups_per_primary + j
            groups.append(group(primary, f"IPaddr::10.0.{octet // 250}.{octet % 250}/24/eth0",
                                f"MacAddr::eth0::02:00:00:00:{octet // 256:02X}:{octet % 256:02X}"))
    params = {**SCENARIO, **timings}
    return {name: make_config(name, names, tuple(groups), **params) for name in names}

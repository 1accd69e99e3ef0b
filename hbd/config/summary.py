"""A plain-text summary of a valid configuration, for `hbd check-config`.

It says what the cluster will do as this node sees it: the nodes in priority
order, the media, the timings, how packets are authenticated, auto_failback,
the ping nodes, and for each resource group its key, home node, resources in
start order and the nodes that back it up (hbd's N+1 policy,
`hbd.core.placement.backup_order`: the first one takes the group over).
Pure: script paths, when wanted, are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping

from hbd.config.haresources import is_native
from hbd.config.model import (AuthMethod, AutoFailback, Bcast, ClusterConfig, Mcast, Medium,
                              Resource, ResourceGroup, Ucast)
from hbd.config.timeval import format_seconds as fmt
from hbd.core.placement import backup_order

FAILBACK_TEXT = {
    AutoFailback.ON: "on: a group moves back to its home node when that node returns",
    AutoFailback.OFF: "off: a group stays where it is until its holder fails or stands by",
    AutoFailback.LEGACY: "legacy (deprecated): home nodes always take their groups back at join",
}


def _medium(medium: Medium) -> str:
    if isinstance(medium, Bcast):
        return f"bcast {medium.iface}"
    if isinstance(medium, Ucast):
        return f"ucast {medium.iface} to {medium.peer}"
    if isinstance(medium, Mcast):
        return (f"mcast {medium.iface} group {medium.group} port {medium.port} "
                f"ttl {medium.ttl} loop {int(medium.loop)}")
    return repr(medium)


def _auth(config: ClusterConfig) -> str:
    key = config.authkeys.signing_key
    text = f"auth {key.index}, {key.method.value}"
    if key.method is AuthMethod.CRC:
        return text + ": UNAUTHENTICATED - integrity only; anyone on the network can forge packets"
    return text + " (HMAC with the shared secret)"


def _mark(node: str, config: ClusterConfig) -> str:
    return f"{node} (this node)" if node == config.node_name else node


def _resource(resource: Resource, scripts: Mapping[str, str]) -> str:
    if is_native(resource):
        return f"{resource.spec} (native)"
    path = scripts.get(resource.name)
    return f"{resource.spec} (script {path})" if path else resource.spec


def _group(group: ResourceGroup, config: ClusterConfig, scripts: Mapping[str, str]) -> list[str]:
    backups = backup_order(group, config.nodes, config.groups)
    if backups:
        rest = ", then ".join(_mark(n, config) for n in backups[1:])
        backup = f"{_mark(backups[0], config)} takes it over first" + (f", then {rest}" if rest else "")
    else:
        backup = "none: no other node can take this group"
    lines = [f"  group {group.key}  (haresources line {group.line})",
             f"    primary: {_mark(group.primary, config)}",
             "    start order: " + ", ".join(_resource(r, scripts) for r in group.start_order()),
             "    stop order: " + ", ".join(r.spec for r in group.stop_order()),
             f"    backup: {backup}"]
    return lines


def _pings(config: ClusterConfig) -> list[str]:
    singles = [p.name for p in config.ping_nodes if not p.is_group]
    groups = [f"{p.name} = {' '.join(p.addresses)}" for p in config.ping_nodes if p.is_group]
    lines = [f"ping nodes: {', '.join(singles) if singles else 'none'}"]
    if groups:
        lines.append(f"ping groups: {'; '.join(groups)}")
    return lines


def format_summary(config: ClusterConfig, scripts: Mapping[str, str] | None = None) -> str:
    """The summary text (several lines, no trailing newline)."""
    hacf = config.hacf
    scripts = scripts or {}
    lines = [f"Configuration in {config.config_dir} as node {config.node_name} sees it:",
             "nodes (priority order): " + ", ".join(_mark(n, config) for n in config.nodes),
             f"media: {', '.join(_medium(m) for m in hacf.media)} (UDP port {hacf.udpport})",
             f"timings: keepalive {fmt(hacf.keepalive)}, deadtime {fmt(hacf.deadtime)}, "
             f"warntime {fmt(hacf.warntime)}, initdead {fmt(hacf.initdead)}, "
             f"deadping {fmt(hacf.deadping)}",
             f"auth: {_auth(config)}",
             f"auto_failback: {FAILBACK_TEXT[hacf.auto_failback]}",
             *_pings(config),
             f"resource groups: {len(config.groups)}"]
    for group in config.groups:
        lines.extend(_group(group, config, scripts))
    return "\n".join(lines)

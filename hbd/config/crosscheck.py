"""Checks that need several files of a configuration at once (pure).

`load.py` calls `cross_check` once ha.cf, haresources and hbd.cf are parsed:

* this node must be declared in ha.cf (heartbeat: "Current node not in
  configuration");
* `crm on` with no haresources group is a Pacemaker cluster (its resources
  live in the CIB), which hbd cannot run: refused. With groups, hbd runs them
  (ha.cf already warned);
* a single heartbeat link and no STONITH is worth a warning: it says what a
  second medium and what STONITH would each add;
* hbd.cf settings that cannot work with this ha.cf: `on_stop_failure fence`
  without a STONITH device is an error; `fence_delay` without STONITH and
  `quorum on` with fewer than three nodes have no effect (warnings).
"""

from __future__ import annotations

from collections.abc import Sequence

from hbd.config.model import HaCf, Problem, ResourceGroup, Severity
from hbd.config.settings import HbdSettings, StopFailure


def check_node(hacf: HaCf, node: str, source: str) -> list[Problem]:
    if not hacf.nodes or node in hacf.nodes:
        return []
    return [Problem(source, None, Severity.ERROR,
                    f"this node '{node}' is not declared (nodes: {', '.join(hacf.nodes)}): add "
                    f"'node {node}' to ha.cf, or give the right name with --node or in nodeinfo")]


def check_crm(hacf: HaCf, groups: Sequence[ResourceGroup], source: str) -> list[Problem]:
    if not hacf.crm or groups:
        return []
    line = hacf.line_of("crm") or hacf.line_of("pacemaker")
    return [Problem(source, line, Severity.ERROR,
                    "Pacemaker is on and haresources lists no resource group: this is a "
                    "Pacemaker cluster, whose resources live in the CIB, and hbd runs "
                    "haresources clusters only. Running hbd here would leave every resource "
                    "unmanaged; keep heartbeat and Pacemaker on this cluster")]


def check_redundancy(hacf: HaCf, settings: HbdSettings, source: str) -> list[Problem]:
    """One heartbeat link and no STONITH: say what each would add."""
    links = list(dict.fromkeys(medium.iface for medium in hacf.media))
    if len(hacf.nodes) < 2 or len(links) != 1 or hacf.stonith:
        return []
    first = min((line for line in map(hacf.line_of, ("bcast", "ucast", "mcast")) if line),
                default=None)
    probe = (" hbd's ARP probe (hbd.cf arp_probe) still keeps a group's IP address from "
             "being taken while it answers on the service LAN, but not its other "
             "resources.") if settings.arp_probe else ""
    return [Problem(source, first, Severity.WARNING,
                    f"a single heartbeat link ({links[0]}) and no STONITH: if that link fails "
                    "while the nodes are up, each side declares the others dead and starts "
                    "their groups too. A second medium on another network (e.g. 'bcast eth0' "
                    "or 'ucast eth0 PEER-IP') keeps the nodes hearing each other when one link "
                    "fails; STONITH ('stonith_host ...') makes the node that takes over power "
                    "the other off first, so a group never runs on two nodes." + probe)]


def check_settings(hacf: HaCf, settings: HbdSettings, source: str) -> list[Problem]:
    problems: list[Problem] = []
    if settings.on_stop_failure is StopFailure.FENCE and not hacf.stonith:
        problems.append(Problem(source, settings.line_of("on_stop_failure"), Severity.ERROR,
                                "on_stop_failure fence needs a STONITH device (a stonith or "
                                "stonith_host line in ha.cf); write 'on_stop_failure auto' to "
                                "reboot through the watchdog/sysrq path instead"))
    if settings.fence_delay is not None and not hacf.stonith:
        problems.append(Problem(source, settings.line_of("fence_delay"), Severity.WARNING,
                                "fence_delay has no effect: ha.cf configures no STONITH device"))
    if settings.quorum and len(hacf.nodes) < 3:
        problems.append(Problem(source, settings.line_of("quorum"), Severity.WARNING,
                                f"quorum on has no effect with {len(hacf.nodes)} node(s): it "
                                "applies to clusters of three or more"))
    return problems


def cross_check(hacf: HaCf, groups: Sequence[ResourceGroup], settings: HbdSettings, *,
                node: str, hacf_source: str, hbd_source: str) -> list[Problem]:
    """Every check above, in order."""
    return (check_node(hacf, node, hacf_source) + check_crm(hacf, groups, hacf_source)
            + check_redundancy(hacf, settings, hacf_source)
            + check_settings(hacf, settings, hbd_source))

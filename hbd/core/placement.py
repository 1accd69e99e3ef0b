"""Who should hold each resource group: hbd's explicit N+1 policy.

Heartbeat 3.0.6 has no election: every survivor whose haresources names a dead
node's group runs mach_down and takes it, so with identical haresources on three
nodes two survivors bring up the same IP. hbd elects exactly one holder.

The rules, applied by every node to the same inputs (so they agree without
talking):

1. A group's *candidates* are its primary (the first word of its haresources
   line) followed by its *backups*.
2. Backups are ordered: first the dedicated standbys (nodes that are primary of
   no group), then the other nodes, each list in ha.cf `node` order, which is
   priority order. So in the source scenario (`node node0`, `node node2`,
   `node node1`; node0 and node2 primaries) node1 backs up both vip groups,
   and node2 would only take node0's group if node1 were also down.
3. The desired holder of a group is its first *eligible* candidate: alive, not
   in standby for it, able to run it (it knows the group; its ping nodes are
   as reachable as anyone's).

`auto_failback` changes only when a group moves back to its primary, and is
applied in `takeover.py`, not here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hbd.config.model import ResourceGroup


def primaries(groups: Iterable[ResourceGroup]) -> set[str]:
    return {g.primary for g in groups}


def backup_order(group: ResourceGroup, nodes: tuple[str, ...],
                 groups: Iterable[ResourceGroup]) -> tuple[str, ...]:
    """The nodes that back up `group`, most preferred first."""
    homes = primaries(groups)
    others = [n for n in nodes if n != group.primary]
    standbys = [n for n in others if n not in homes]
    rest = [n for n in others if n in homes]
    return tuple(standbys + rest)


def candidates(group: ResourceGroup, nodes: tuple[str, ...],
               groups: Iterable[ResourceGroup]) -> tuple[str, ...]:
    """Primary first, then backups in preference order."""
    return (group.primary, *backup_order(group, nodes, groups))


def desired_holder(group: ResourceGroup, nodes: tuple[str, ...],
                   groups: Iterable[ResourceGroup],
                   eligible: Callable[[str], bool]) -> str | None:
    """The first candidate for which `eligible(node)` holds, or None."""
    for node in candidates(group, nodes, groups):
        if eligible(node):
            return node
    return None

"""Fixtures for tests on real interfaces in network namespaces (root only).

Every test gets its own `Topology` whose prefix is unique to the process and
test, so two xdist workers never meet; teardown runs even when the test fails
and removes every namespace (and with them every veth and bridge). Nothing is
created in the host's namespace and no traffic leaves the namespaces.
"""

from __future__ import annotations

import functools
import itertools
import os

import pytest

from hbd_lab import netns

_counter = itertools.count(1)


@functools.cache
def netns_unavailable() -> str | None:
    """Why namespaces cannot be made here (None: they can); probed once, on first use,
    never at import (collection alone creates nothing)."""
    return netns.available()


def require_netns() -> None:
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(f"network namespaces unavailable here: {reason}")


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def unique_prefix() -> str:
    """'t' + pid + test counter, base 36: at most 8 characters, unique per run."""
    return f"t{_b36(os.getpid() % 36**4)}{_b36(next(_counter) % 36**3)}"


@pytest.fixture
def topology():
    require_netns()
    topo = netns.Topology(unique_prefix())
    try:
        yield topo
    finally:
        topo.destroy()


@pytest.fixture
def make_lab(topology):
    """Build the scenario's namespaces (`hbd_lab.cluster.Lab`); daemons stop at teardown.

    On failure, the tail of each node's hbd log is printed to help the reader.
    """
    import shutil
    from pathlib import Path

    from hbd_lab.cluster import Lab

    labs = []
    # Not under pytest's tmp dir: that is private to root (0700), and tests run
    # hbctl as an unprivileged user against the lab's sockets.
    workdir = Path(netns.WORK_DIR) / topology.prefix

    def make(names=("node0", "node1", "node2"), **build):
        lab = Lab(topology, workdir / f"lab{len(labs)}", tuple(names))
        lab.build(**build)
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.stop_all()
        for node in lab.nodes.values():
            tail = node.log_text()[-3000:]
            if tail:
                print(f"===== {node.name} hbd log (tail) =====\n{tail}")
    shutil.rmtree(workdir, ignore_errors=True)

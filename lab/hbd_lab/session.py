"""One lab on this machine, across `hbd lab` invocations.

`up()` builds the scenario (cluster.py), installs the shipped `conf/node*/`
with lab timings, starts the service on each node and hbd, waits until the
client sees vip1 on node0 and vip2 on node2, and records what it built in
/run/hbd-lab/<prefix>.json. `attach()` finds it again; `down()` removes every
namespace (killing what runs inside), the work dir and the record, whatever
state a crashed lab left. Daemons run in their own sessions, so they outlive
the `hbd lab up` that started them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hbd_lab import fence_plugin, netns
from hbd_lab.cluster import (Lab, LabNode, render_authkeys, render_hacf, scenario_template,
                             wait_for)
from hbd_lab.services import Services

PREFIX = "hbdlab"
STATE_ROOT = "/run/hbd-lab"
NAMES = ("node0", "node1", "node2")


@dataclass(frozen=True)
class Timings:
    keepalive_ms: int = 200
    deadtime_ms: int = 1000
    warntime_ms: int = 600
    initdead_ms: int = 3000

    def directives(self) -> dict[str, str]:
        return {"keepalive": f"{self.keepalive_ms}ms", "deadtime": f"{self.deadtime_ms}ms",
                "warntime": f"{self.warntime_ms}ms", "initdead": f"{self.initdead_ms}ms",
                "deadping": f"{self.deadtime_ms}ms"}


@dataclass
class Session:
    lab: Lab
    services: Services
    timings: Timings
    prefix: str = PREFIX
    extra_hacf: list[str] = field(default_factory=list)
    watchdog: bool = False

    @property
    def stonith(self) -> bool:
        return any(line.startswith("stonith_host") for line in self.extra_hacf)

    @property
    def deadtime(self) -> float:
        return self.timings.deadtime_ms / 1000

    @property
    def record_path(self) -> str:
        return record_path(self.prefix)

    def save(self) -> None:
        os.makedirs(STATE_ROOT, exist_ok=True)
        data = {"prefix": self.prefix, "workdir": str(self.lab.workdir),
                "names": list(self.lab.names), "timings": self.timings.__dict__,
                "extra_hacf": self.extra_hacf, "watchdog": self.watchdog}
        with open(self.record_path, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)


def record_path(prefix: str) -> str:
    return os.path.join(STATE_ROOT, f"{prefix}.json")


def install(node: LabNode, timings: Timings, extra: list[str], *, ping: bool = True) -> None:
    """The shipped conf/<node>/ with lab timings (and without its ping node if told)."""
    hacf, haresources = scenario_template(node.name)
    directives = timings.directives()
    if not ping:
        del directives["deadping"]
    drop = ("logfile",) if ping else ("logfile", "ping", "deadping")
    node.install(render_hacf(hacf, timings=directives, extra=extra, drop=drop),
                 haresources, render_authkeys("sha1", "hbd-lab-demo-key"))


def up(*, timings: Timings = Timings(), prefix: str = PREFIX, names=NAMES,
       extra_hacf: list[str] | None = None, start_hbd: bool = True,
       stonith: bool = False, ping: bool = True, watchdog: bool = False) -> Session:
    """Build and start the lab. `stonith`: a fencing device that powers lab nodes
    off (`fence_plugin.py`) and a `stonith_host` line for it in every ha.cf.
    `ping=False`: the shipped ha.cf without its ping node (heartbeat's default).
    `watchdog`: each node's ha.cf names a lab watchdog device (`watchdog.py`) that
    powers the node off when its daemon stops petting it for deadtime."""
    reason = netns.available()
    if reason:
        raise netns.NetnsError(reason)
    down(prefix)                                   # whatever a crashed lab left behind
    topology = netns.Topology(prefix)
    workdir = Path(netns.WORK_DIR) / prefix
    lab = Lab(topology, workdir, tuple(names))
    session = Session(lab, Services(lab, str(workdir)), timings, prefix, list(extra_hacf or []),
                      watchdog)
    try:
        if stonith:
            session.extra_hacf.append(f"stonith_host * {fence_plugin.install(prefix)}")
        lab.build()
        session.save()
        for node in lab.nodes.values():
            extra = session.extra_hacf + ([f"watchdog {start_watchdog(session, node)}"]
                                          if watchdog else [])
            install(node, timings, extra, ping=ping)
            session.services.serve(node.name)
        if start_hbd:
            for node in lab.nodes.values():
                node.start()
    except BaseException:
        down(prefix)
        raise
    return session


def start_watchdog(session: Session, node: LabNode) -> str:
    """The node's lab watchdog device (a FIFO read in the switch namespace, so that
    teardown ends the reader); returns its path for ha.cf."""
    device = str(node.root / "watchdog")
    subprocess.Popen(["nsenter", f"--net={netns.NETNS_DIR}/{session.lab.topology.switch_ns}",
                      "--", sys.executable, "-m", "hbd_lab.watchdog", session.prefix, node.name,
                      device, str(session.deadtime)], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for(lambda: os.path.exists(device), timeout=10, what=f"{node.name}'s watchdog device")
    return device


def attach(prefix: str = PREFIX) -> Session:
    try:
        with open(record_path(prefix), encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise netns.NetnsError("no lab is up: run 'hbd lab up' first") from None
    topology = netns.Topology(prefix)
    for name in data["names"] + ["gw", "client"]:
        topology.nodes[name] = netns.Node(f"{prefix}-{name}")
    workdir = Path(data["workdir"])
    lab = Lab(topology, workdir, tuple(data["names"]))
    for name in data["names"]:
        lab.nodes[name] = LabNode(name, topology.nodes[name], workdir / name)
    return Session(lab, Services(lab, str(workdir)), Timings(**data["timings"]), prefix,
                   data.get("extra_hacf", []), data.get("watchdog", False))


def down(prefix: str = PREFIX) -> list[str]:
    """Remove the lab: namespaces (and every process inside), work dir, record."""
    removed = netns.sweep(prefix)
    fence_plugin.remove(prefix)
    shutil.rmtree(Path(netns.WORK_DIR) / prefix, ignore_errors=True)
    try:
        os.unlink(record_path(prefix))
    except FileNotFoundError:
        pass
    return removed

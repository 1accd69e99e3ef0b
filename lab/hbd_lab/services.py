"""What runs next to the HA daemons in the lab, and what watches them.

* `Services.serve(node)`: the scenario's service on a node (`probe serve`).
* `Services.watch()`: the client probing both VIPs every 10 ms (`probe watch`).
* `Services.sample(tag)`: the holders sampler (`sampler.py`) on every node,
  every 10 ms, into its own file; `HolderSampler.close()` ends it.
* `LinkMonitor`: `ip -ts monitor link address dev eth0` on a node, for when
  its identity first changed.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import os
import subprocess
import sys
import time

from hbd_lab import holders, timeline
from hbd_lab.cluster import Lab
from hbd_lab.netns import NETNS_DIR
from hbd_lab.scenario import VIPS

SAMPLER_LIMIT_S = 900.0       # a sampler never outlives this, even if nobody stops it


def _terminate(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class HolderSampler:
    """One running sampler and its records."""

    def __init__(self, lab: Lab, path: str, interval: float) -> None:
        self.path = path
        nodes = [arg for name in lab.names
                 for arg in ("--node", f"{name}={NETNS_DIR}/{lab[name].ns.name}")]
        vips = [arg for vip, _, _ in VIPS.values() for arg in ("--vip", vip)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hbd_lab.sampler", *nodes, *vips, "--interval",
             str(interval), "--duration", str(SAMPLER_LIMIT_S), "--out", path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def states(self) -> list[holders.State]:
        return holders.read(self.path)

    def close(self) -> None:
        _terminate(self.proc)


class Services:
    """The scenario's service on each node, the client's probe, the holders sampler."""

    def __init__(self, lab: Lab, log_dir: str) -> None:
        self.lab = lab
        self.log_dir = log_dir
        self.probe_log = os.path.join(log_dir, "probe.jsonl")
        self.watcher: subprocess.Popen | None = None
        self._samples = itertools.count(1)

    def serve(self, node: str) -> None:
        self.lab[node].ns.popen([sys.executable, "-m", "hbd_lab.probe", "serve", "--node", node],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def watch(self, interval: float = 0.01) -> None:
        targets = [arg for node in VIPS for arg in ("--target", VIPS[node][0])]
        self.watcher = self.lab.extra("client").popen(
            [sys.executable, "-m", "hbd_lab.probe", "watch", *targets, "--interval",
             str(interval), "--out", self.probe_log], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def probes(self) -> list[timeline.Probe]:
        return timeline.read_probes(self.probe_log)

    def sample(self, tag: str, interval: float = 0.01) -> HolderSampler:
        path = os.path.join(self.log_dir, f"holders-{next(self._samples)}-{tag}.jsonl")
        return HolderSampler(self.lab, path, interval)

    def close(self) -> None:
        _terminate(self.watcher)


class LinkMonitor:
    """`ip -ts monitor link address dev eth0` on a node: when its identity changes."""

    def __init__(self, lab: Lab, node: str, path: str) -> None:
        self.path = path
        with open(path, "w", encoding="utf-8") as out:
            self.proc = lab[node].ns.popen(["ip", "-ts", "monitor", "link", "address", "dev",
                                            "eth0"], stdout=out, stderr=subprocess.DEVNULL,
                                           stdin=subprocess.DEVNULL)
        self.offset = time.time() - time.monotonic()

    def first_change_after(self, after: float) -> float | None:
        """The first change of eth0's MAC or IPv4 addresses at or after `after`
        (IPv6 link-local addresses appearing after a link change do not count)."""
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                stamp = None
                while line.startswith("[") and "]" in line:    # an empty event: its stamp only
                    stamp, line = line[1:line.index("]")], line[line.index("]") + 1:].lstrip()
                if stamp is None or "inet6" in line or not line.strip():
                    continue
                try:
                    wall = datetime.datetime.fromisoformat(stamp).timestamp()
                except ValueError:
                    continue
                if wall - self.offset >= after:
                    return wall - self.offset
        return None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            _terminate(self.proc)

"""The source scenario's cluster, for real, in namespaces on this machine.

Topology (as the source document's section 2 has it):

| network | switch | node0 | node1 | node2 | gateway | client |
|---|---|---|---|---|---|---|
| service LAN 192.168.32.0/24 (eth0) | `svc` | .30 | .31 | .32 | .254 (ping node) | .40 |
| heartbeat LAN 10.160.100.0/24 (eth2) | `hb` | .30 | .31 | .32 | | |

Every node is a network + UTS namespace of a `Topology` (see `netns.py`); its
configuration, state and run dirs live under the lab's work dir and are passed
to hbd on its command line. `render_hacf()` takes the shipped `conf/node*/ha.cf`
and changes only what a lab run must (timings, media, key), so what runs is
the scenario's own configuration.

Used by `hbd lab` and by the real-network tests; it only starts processes and
reads their control sockets, it decides nothing.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterable

from hbd_lab import identity
from hbd_lab.netns import Node, Topology
from hbd_lab.procs import Daemon

SERVICE_NET = "192.168.32"
HB_NET = "10.160.100"
HOSTS = {"node0": 30, "node1": 31, "node2": 32, "gw": 254, "client": 40}
CONF_ROOT = Path(__file__).resolve().parents[2] / "conf"
TIMING_DIRECTIVES = ("keepalive", "deadtime", "warntime", "initdead", "deadping")
MEDIA_DIRECTIVES = ("bcast", "ucast", "mcast")


# eth0's own MACs, as conf/README.md lists them (the Remac scripts restore these)
SERVICE_MACS = {name: mac.lower() for name, (mac, _) in identity.OWN.items()}


# The lab runs the hbd of this interpreter (`python -m hbd`) unless these name another
# command, e.g. the installed package's /usr/sbin/hbd and /usr/bin/hbctl
# (packaging/test-deb.sh runs a drill that way).
DAEMON_ENV = "HBD_LAB_DAEMON"
HBCTL_ENV = "HBD_LAB_HBCTL"


def command(env: str, module: str) -> list[str]:
    """The command line that runs hbd's `module`: the words of $env, or this interpreter."""
    words = shlex.split(os.environ.get(env, ""))
    return words or [sys.executable, "-m", module]


def node_mac(name: str, net: int) -> str:
    """A lab interface's MAC: the scenario's own on eth0, else a stable local one."""
    if net == 0 and name in SERVICE_MACS:
        return SERVICE_MACS[name]
    return f"02:00:00:{net:02x}:00:{HOSTS[name]:02x}"


def render_hacf(template: str, *, timings: dict[str, str] | None = None,
                media: Iterable[str] | None = None, drop: Iterable[str] = ("logfile",),
                extra: Iterable[str] = ()) -> str:
    """`template` with directives replaced: timings by value, media wholesale."""
    timings = dict(timings or {})
    drop = set(drop) | (set(MEDIA_DIRECTIVES) if media is not None else set())
    out = []
    for line in template.splitlines():
        word = line.split("#", 1)[0].split()
        name = word[0] if word else ""
        if name in drop:
            continue
        if name in timings:
            line = f"{name} {timings.pop(name)}"
        out.append(line)
    out += [f"{name} {value}" for name, value in timings.items()]
    out += list(media or ()) + list(extra)
    return "\n".join(out) + "\n"


def render_authkeys(method: str = "sha1", key: str = "lab-key") -> str:
    index = {"crc": 1, "md5": 2, "sha1": 3}[method]
    secret = "" if method == "crc" else f" {key}"
    return f"auth {index}\n{index} {method}{secret}\n"


def wait_for(predicate: Callable[[], object], *, timeout: float, what: str,
             interval: float = 0.05):
    """Poll `predicate` until it returns something true; raise after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


@dataclass
class LabNode:
    """One scenario node: its namespaces, its files, and hbd on it (`procs.Daemon`)."""

    name: str
    ns: Node
    root: Path
    daemon: Daemon = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.daemon = Daemon(self.ns, self.argv, self.log_path, adopt_pid=self._locked_pid)

    @property
    def config_dir(self) -> Path:
        return self.root / "ha.d"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_path(self) -> Path:
        return self.root / "hbd.log"

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.daemon.proc

    @property
    def starts(self) -> int:
        return self.daemon.starts

    def install(self, hacf: str, haresources: str, authkeys: str,
                scripts: dict[str, str] | None = None) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "ha.cf").write_text(hacf)
        (self.config_dir / "haresources").write_text(haresources)
        keys = self.config_dir / "authkeys"
        keys.write_text(authkeys)
        keys.chmod(0o600)
        rd = self.config_dir / "resource.d"
        rd.mkdir(exist_ok=True)
        rd.chmod(0o755)
        for name, text in (scripts or {}).items():
            (rd / name).write_text(text)
            (rd / name).chmod(0o755)

    def argv(self, extra: Iterable[str] = ()) -> list[str]:
        return [*command(DAEMON_ENV, "hbd"), "--config-dir", str(self.config_dir),
                "--node", self.name, "--state-dir", str(self.state_dir),
                "--run-dir", str(self.run_dir), *extra]

    def start(self, extra: Iterable[str] = (), env: dict[str, str] | None = None) -> None:
        if self.running():
            raise RuntimeError(f"hbd already runs on {self.name}")
        self.daemon.start(env, self.argv(extra))

    def _locked_pid(self) -> int | None:
        """The pid holding the node's state lock, if it is this node's hbd (a daemon
        started by an earlier `hbd lab` command)."""
        try:
            pid = int((self.state_dir / "lock").read_text().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except (OSError, ValueError):
            return None
        return pid if b"hbd" in cmdline and str(self.state_dir).encode() in cmdline else None

    def pid(self) -> int | None:
        return self.daemon.pid()

    def running(self) -> bool:
        return self.daemon.running()

    def pids(self) -> list[int]:
        return self.daemon.pids()

    def signal(self, sig: int) -> None:
        pid = self.pid()
        if pid is not None:
            os.kill(pid, sig)

    def stop(self, *, timeout: float = 30.0) -> int | None:
        """SIGTERM (graceful: releases everything) and wait for the exit."""
        return self.daemon.stop(timeout)

    def kill(self) -> None:
        """SIGKILL: the daemon dies holding whatever it holds."""
        self.daemon.kill()

    def freeze(self) -> None:
        """SIGSTOP hbd (and any script it runs): hung on a live kernel."""
        self.daemon.freeze()

    def thaw(self) -> None:
        self.daemon.thaw()

    def log_text(self) -> str:
        return self.daemon.log_text()

    def hbctl(self, *args: str, timeout: float = 10.0) -> subprocess.CompletedProcess:
        return subprocess.run([*command(HBCTL_ENV, "hbd.cli"), "--run-dir", str(self.run_dir),
                               *args], capture_output=True, text=True, timeout=timeout)

    def status(self) -> dict | None:
        """`hbctl status --json`, or None while the daemon does not answer."""
        proc = self.hbctl("status", "--json")
        if proc.returncode != 0:
            return None
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return None

    # --- what the namespace shows -----------------------------------------------------
    def addresses(self, ifname: str = "eth0") -> list[str]:
        data = json.loads(self.ns.ip("-j", "-4", "addr", "show", "dev", ifname) or "[]")
        return [f"{a['local']}/{a['prefixlen']}" for i in data for a in i.get("addr_info", [])]

    def mac(self, ifname: str = "eth0") -> str:
        return json.loads(self.ns.ip("-j", "link", "show", "dev", ifname))[0]["address"]

    def default_routes(self) -> list[str]:
        data = json.loads(self.ns.ip("-j", "-4", "route", "show", "default") or "[]")
        return [f"{r.get('gateway')} {r.get('dev')}" for r in data]

    def hostname(self) -> str:
        return self.ns.hostname()


@dataclass
class Lab:
    """The scenario's namespaces and the hbd nodes in them."""

    topology: Topology
    workdir: Path
    names: tuple[str, ...] = ("node0", "node1", "node2")
    nodes: dict[str, LabNode] = field(default_factory=dict)

    def build(self, *, service: bool = True, extras: tuple[str, ...] = ("gw", "client")) -> None:
        topo = self.topology
        hb = topo.add_switch("hb")
        svc = topo.add_switch("svc") if service else None
        for name in self.names:
            ns = topo.add_node(name)
            topo.cable(name, "eth2", hb, address=f"{HB_NET}.{HOSTS[name]}/24",
                       mac=node_mac(name, 2))
            if svc:
                topo.cable(name, "eth0", svc, address=f"{SERVICE_NET}.{HOSTS[name]}/24",
                           mac=node_mac(name, 0))
                ns.ip("route", "add", "default", "via", f"{SERVICE_NET}.254")
            root = self.workdir / name
            root.mkdir(parents=True, exist_ok=True)
            self.nodes[name] = LabNode(name, ns, root)
        for name in extras:
            if svc is None:
                break
            topo.add_node(name)
            topo.cable(name, "eth0", svc, address=f"{SERVICE_NET}.{HOSTS[name]}/24",
                       mac=node_mac(name, 0))

    def __getitem__(self, name: str) -> LabNode:
        return self.nodes[name]

    def extra(self, name: str) -> Node:
        return self.topology.nodes[name]

    def stop_all(self) -> None:
        for node in self.nodes.values():
            try:
                node.stop(timeout=20)
            except (subprocess.TimeoutExpired, TimeoutError):
                node.kill()

    def active_view(self, observer: str) -> dict[str, str]:
        """node -> status, as `observer`'s hbctl reports it ({} if not answering)."""
        doc = self.nodes[observer].status()
        if not doc:
            return {}
        return {n["name"]: n["status"] for n in doc["nodes"] if n["type"] == "normal"}


def scenario_template(node: str) -> tuple[str, str]:
    """(ha.cf, haresources) as shipped in conf/<node>/."""
    base = CONF_ROOT / node
    return (base / "ha.cf").read_text(), (base / "haresources").read_text()

"""Network (and UTS) namespaces for the lab and the real-network tests.

A `Topology` owns everything it creates and nothing else: every namespace is
named `<prefix>-<name>`, and the switches (Linux bridges) live inside a
namespace of their own (`<prefix>-sw`), so nothing is added to the host's
network namespace at all. Deleting the namespaces deletes every veth and
bridge with them; `destroy()` also kills every process still inside, and
`sweep(prefix)` clears what a crashed run left behind.

Each node is a network namespace (`ip netns`) plus, when asked, a persistent
UTS namespace (a bind-mounted nsfs file under /run/hbd-lab/uts), so that a
hostname set by a process run with `Node.argv()` is seen by every later
command run the same way, and never by the host.

This module only runs `ip`, `nsenter` and `unshare`; it imports no pyroute2
(that belongs to `hbd/resources/netlink.py`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

UTS_DIR = "/run/hbd-lab/uts"
WORK_DIR = "/run/hbd-lab/work"     # lab nodes' config, state and run dirs (world-traversable)
NETNS_DIR = "/run/netns"
IFNAMSIZ = 15


class NetnsError(RuntimeError):
    pass


def _run(argv: list[str], *, check: bool = True, timeout: float = 20.0,
         input: str | None = None) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              input=input)
    except subprocess.TimeoutExpired as exc:
        raise NetnsError(f"{' '.join(argv)}: timed out after {timeout}s") from exc
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: exit {proc.returncode}: "
                         f"{(proc.stderr or proc.stdout).strip()}")
    return proc


def available() -> str | None:
    """None when namespaces can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root (run the suite as root)"
    for tool in ("ip", "nsenter", "unshare"):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin")):
            return f"'{tool}' is not installed (apt-get install iproute2 util-linux)"
    name = f"hbdprobe{os.getpid()}"
    proc = _run(["ip", "netns", "add", name], check=False)
    if proc.returncode != 0:
        return f"cannot create a network namespace: {proc.stderr.strip()}"
    _run(["ip", "netns", "del", name], check=False)
    return None


@dataclass
class Node:
    """One namespace: run commands in it with `run()` / `popen()` / `argv()`."""

    name: str          # full namespace name, e.g. "hbdt123-node0"
    uts: bool = True

    @property
    def uts_path(self) -> str:
        return os.path.join(UTS_DIR, self.name)

    def argv(self, argv: list[str]) -> list[str]:
        """`argv` wrapped so that it runs inside this node's namespaces."""
        prefix = ["nsenter", f"--net={NETNS_DIR}/{self.name}"]
        if self.uts:
            prefix.append(f"--uts={self.uts_path}")
        return prefix + ["--", *argv]

    def run(self, argv: list[str], *, check: bool = True, timeout: float = 20.0,
            input: str | None = None) -> subprocess.CompletedProcess:
        return _run(self.argv(argv), check=check, timeout=timeout, input=input)

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        kwargs.setdefault("start_new_session", True)
        return subprocess.Popen(self.argv(argv), **kwargs)

    def ip(self, *args: str, check: bool = True) -> str:
        return self.run(["ip", *args], check=check).stdout

    def hostname(self) -> str:
        return self.run(["hostname"]).stdout.strip()

    def pids(self) -> list[int]:
        out = _run(["ip", "netns", "pids", self.name], check=False).stdout
        return [int(p) for p in out.split() if p.isdigit()]


@dataclass
class Topology:
    """Namespaces, switches and cables, all under one prefix; a context manager."""

    prefix: str
    nodes: dict[str, Node] = field(default_factory=dict)
    switches: list[str] = field(default_factory=list)
    _veths: int = 0

    def __post_init__(self) -> None:
        if not self.prefix or len(self.prefix) > 8 or not self.prefix.isalnum():
            raise ValueError(f"prefix '{self.prefix}' must be 1-8 letters or digits")

    # --- building ------------------------------------------------------------
    @property
    def switch_ns(self) -> str:
        return f"{self.prefix}-sw"

    def _ensure_switch_ns(self) -> None:
        if not os.path.exists(os.path.join(NETNS_DIR, self.switch_ns)):
            _run(["ip", "netns", "add", self.switch_ns])
            _run(["ip", "-n", self.switch_ns, "link", "set", "lo", "up"])

    def add_node(self, name: str, *, uts: bool = True) -> Node:
        full = f"{self.prefix}-{name}"
        _run(["ip", "netns", "add", full])
        node = Node(full, uts=uts)
        self.nodes[name] = node
        if uts:
            os.makedirs(UTS_DIR, exist_ok=True)
            with open(node.uts_path, "w"):
                pass
            _run(["unshare", f"--uts={node.uts_path}", "hostname", name])
        node.ip("link", "set", "lo", "up")
        return node

    def add_switch(self, name: str) -> str:
        """A bridge (inside the switch namespace); returns its name."""
        self._ensure_switch_ns()
        bridge = name[:IFNAMSIZ]
        _run(["ip", "-n", self.switch_ns, "link", "add", bridge, "type", "bridge",
              "forward_delay", "0"])
        _run(["ip", "-n", self.switch_ns, "link", "set", bridge, "up"])
        self.switches.append(bridge)
        return bridge

    def cable(self, node: str, ifname: str, switch: str, *, address: str | None = None,
              mac: str | None = None) -> str:
        """Plug `node`'s new interface `ifname` into `switch`; returns the port name."""
        self._veths += 1
        port = f"p{self._veths}{node}"[:IFNAMSIZ]
        ns = self.nodes[node].name
        _run(["ip", "-n", self.switch_ns, "link", "add", port, "type", "veth",
              "peer", "name", ifname, "netns", ns])
        _run(["ip", "-n", self.switch_ns, "link", "set", port, "master", switch, "up"])
        if mac:
            _run(["ip", "-n", ns, "link", "set", ifname, "address", mac])
        if address:
            _run(["ip", "-n", ns, "addr", "add", address, "brd", "+", "dev", ifname])
        _run(["ip", "-n", ns, "link", "set", ifname, "up"])
        return port

    def port_of(self, node: str, ifname: str) -> str:
        """The switch port that `node`'s `ifname` is plugged into."""
        out = self.nodes[node].ip("-o", "link", "show", "dev", ifname)
        # "2: eth0@if5: ..." -> peer index 5 in the switch namespace
        peer = out.split(":", 2)[1].strip().split("@if")[-1]
        for line in _run(["ip", "-n", self.switch_ns, "-o", "link"]).stdout.splitlines():
            index, name = line.split(":", 2)[:2]
            if index.strip() == peer:
                return name.strip().split("@")[0]
        raise NetnsError(f"no switch port for {node}:{ifname}")

    def set_port(self, node: str, ifname: str, up: bool) -> None:
        """Pull (up=False) or plug back (up=True) the cable at the switch side."""
        _run(["ip", "-n", self.switch_ns, "link", "set", self.port_of(node, ifname),
              "up" if up else "down"])

    # --- tearing down ----------------------------------------------------------
    def destroy(self) -> None:
        sweep(self.prefix)
        self.nodes.clear()
        self.switches.clear()

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()


def _kill_all(namespace: str, deadline_s: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = Node(namespace).pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        end = time.monotonic() + deadline_s
        while Node(namespace).pids() and time.monotonic() < end:
            time.sleep(0.05)
        if not Node(namespace).pids():
            return


def sweep(prefix: str) -> list[str]:
    """Delete every namespace named `<prefix>-*` (killing what runs inside)."""
    removed = []
    listing = _run(["ip", "netns", "list"], check=False).stdout.split("\n")
    for line in listing:
        name = line.split(" ", 1)[0].strip()
        if not name.startswith(prefix + "-"):
            continue
        _kill_all(name)
        _run(["ip", "netns", "del", name], check=False)
        removed.append(name)
    if os.path.isdir(UTS_DIR):
        for entry in os.listdir(UTS_DIR):
            if entry.startswith(prefix + "-"):
                path = os.path.join(UTS_DIR, entry)
                _run(["umount", path], check=False)
                with contextlib.suppress(OSError):
                    os.unlink(path)
    return removed

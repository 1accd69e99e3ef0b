"""keepalived 2.2.7 as the scenario's alternative, for the failover benchmark.

The same three lab nodes, the same two service identities, but VRRP decides who
holds them (see docs/keepalived.md for what is and is not equivalent):

| instance | VRID | address (eth0)      | MAC               | host name | node0 | node1 | node2 |
|----------|------|---------------------|-------------------|-----------|-------|-------|-------|
| vip1     | 21   | 192.168.32.21/24    | 00:1e:68:1e:99:5e | nodevir   | 150   | 100   | 50    |
| vip2     | 22   | 192.168.32.22/24    | 00:1e:68:1e:88:5e | nodevir2  | 50    | 100   | 150   |

The priorities give hbd's order of takers: the home node, then the standby
node1, then the other primary (hbd lets node2 take vip1 only when node1 is
down too). Adverts are VRRPv3 multicast (224.0.0.18) on eth2, the heartbeat
LAN that heartbeat broadcasts on; version 3 because only v3 carries the advert
interval in centiseconds (0.01-40.95 s), v2 has whole seconds. Preemption is
on (keepalived's default), as auto_failback is; every instance starts BACKUP.

keepalived adds and removes the VIP itself and watches eth0, the VIP's
interface (keepalived's default): an instance whose eth0 loses carrier goes
to FAULT and releases at once, the backup taking over on the priority-0
advert. The identity script changes the MAC live (veth allows it), so a
takeover does not flap eth0 into a fault. keepalived also sends the gratuitous ARPs: asked for hbd's 5 at 0.2 s, then 5 more after 1 s,
2.2.7 sends 2 + 2 (acassen/keepalived#1760), the first before any script has
changed the MAC. With `identity="script"` it also runs `identity` in the node's
keepalived dir on every transition (notify_master / notify_backup /
notify_fault / notify_stop) and at start-up and shut-down (startup_script /
shutdown_script): the scenario's Remac switch, rendered from the same template
as conf/'s Remac1/Remac2 (`hbd_lab.identity`, `data/identity.sh`), in the form
where keepalived manages the addresses. `identity="ip"` is pure VRRP: the VIP
only.

`KeepalivedDaemon` runs one keepalived per lab node, in the foreground
(`procs.Daemon`), with its configuration, pid files, scripts and logs in
`<node root>/keepalived/`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from hbd_lab import identity
from hbd_lab.cluster import SERVICE_MACS, LabNode
from hbd_lab.procs import Daemon, alive

KEEPALIVED = "/usr/sbin/keepalived"
IDENTITY_SCRIPT = "identity"
SERVICE_IF = identity.IFACE
ADVERT_IF = "eth2"
PREFIX = identity.PREFIX
BROADCAST = identity.BROADCAST
VRRP_VERSION = 3
ADVERT_MIN, ADVERT_MAX = 0.01, 40.95       # VRRPv3: centiseconds in a 12-bit field
GARP_REPEAT = 5          # gratuitous ARPs per block, as hbd's --garp-count
GARP_INTERVAL = 0.2      # seconds between them on one interface, as hbd's --garp-interval
GARP_DELAY = 1           # second block after becoming master (whole seconds; default 5)


@dataclass(frozen=True)
class Vip:
    """One service identity of the scenario and the VRRP instance that carries it."""

    name: str
    vrid: int
    address: str
    mac: str
    hostname: str
    priorities: dict[str, int]


PRIORITIES = {"vip1": (21, {"node0": 150, "node1": 100, "node2": 50}),
              "vip2": (22, {"node2": 150, "node1": 100, "node0": 50})}
VIPS = tuple(Vip(i.name, PRIORITIES[i.name][0], i.address, i.mac.lower(), i.hostname,
                 PRIORITIES[i.name][1]) for i in identity.INSTANCES)
IDENTITIES = ("script", "ip")


def advert_interval(advert: float) -> float:
    """`advert` rounded to keepalived's resolution (0.01 s); ValueError out of range."""
    rounded = round(advert, 2)
    if not ADVERT_MIN <= rounded <= ADVERT_MAX:
        raise ValueError(f"advert_int {advert:g} s is outside VRRPv3's "
                         f"{ADVERT_MIN:g}-{ADVERT_MAX:g} s")
    return rounded


def master_down_interval(advert: float, priority: int) -> float:
    """VRRPv3 (RFC 5798): how long a backup of `priority` waits before taking over."""
    return 3 * advert + (256 - priority) * advert / 256


def advert_for_deadtime(deadtime: float, priority: int = 100) -> float:
    """The advert_int whose master-down interval for `priority` is closest to `deadtime`."""
    return advert_interval(deadtime / master_down_interval(1.0, priority))


def _instance(vip: Vip, node: str, advert: float, notify: str | None) -> list[str]:
    lines = [f"vrrp_instance {vip.name} {{",
             "    state BACKUP",
             f"    interface {ADVERT_IF}",
             f"    virtual_router_id {vip.vrid}",
             f"    priority {vip.priorities[node]}",
             f"    advert_int {advert:.2f}",
             "    preempt",
             "    virtual_ipaddress {",
             f"        {vip.address}/{PREFIX} brd {BROADCAST} dev {SERVICE_IF}",
             "    }"]
    if notify:
        for state in ("master", "backup", "fault", "stop"):
            lines.append(f'    notify_{state} "{notify} {vip.name} {state}"')
    return lines + ["}"]


def render_keepalived(node: str, *, advert: float, identity: str = "script",
                      script_dir: str = "/etc/keepalived") -> str:
    """keepalived.conf for lab node `node`; scripts are looked up in `script_dir`."""
    if node not in SERVICE_MACS:
        raise ValueError(f"unknown lab node '{node}' (one of {', '.join(SERVICE_MACS)})")
    if identity not in IDENTITIES:
        raise ValueError(f"identity '{identity}' must be one of {', '.join(IDENTITIES)}")
    advert = advert_interval(advert)
    script = f"{script_dir.rstrip('/')}/{IDENTITY_SCRIPT}" if identity == "script" else None
    lines = [f"# keepalived.conf for {node} of the hbd scenario "
             f"(hbd_lab.keepalived, identity={identity})",
             "global_defs {",
             f"    router_id {node}",
             f"    vrrp_version {VRRP_VERSION}",
             f"    vrrp_garp_master_repeat {GARP_REPEAT}",
             f"    vrrp_garp_lower_prio_repeat {GARP_REPEAT}",
             f"    vrrp_garp_interval {GARP_INTERVAL}",
             f"    vrrp_garp_master_delay {GARP_DELAY}"]
    if script:
        lines += ["    script_user root",
                  "    enable_script_security",
                  f'    startup_script "{script} reset"',
                  f'    shutdown_script "{script} reset"']
    lines.append("}")
    for vip in VIPS:
        lines += [""] + _instance(vip, node, advert, script)
    return "\n".join(lines) + "\n"


def render_identity_script(node: str, state_dir: str) -> str:
    """The `identity` notify script for lab node `node` (the scenario's one identity
    template, `hbd_lab.identity`); its stack, lock and log live in `state_dir`."""
    return identity.keepalived_script(node, state_dir)


def scenario_scripts(node: str, state_dir: str, identity: str = "script") -> dict[str, str]:
    """The scripts that `render_keepalived(node, identity=identity)` refers to."""
    return ({IDENTITY_SCRIPT: render_identity_script(node, state_dir)} if identity == "script"
            else {})


class KeepalivedDaemon:
    """One keepalived (VRRP only) inside a lab node's namespaces."""

    def __init__(self, node: LabNode, *, binary: str = KEEPALIVED) -> None:
        self.node = node
        self.binary = binary
        self.dir = node.root / "keepalived"
        self.config_path = self.dir / "keepalived.conf"
        self.pid_path = self.dir / "keepalived.pid"
        self.vrrp_pid_path = self.dir / "vrrp.pid"
        self.log_path = self.dir / "keepalived.log"
        self.daemon = Daemon(node.ns, self.argv, self.log_path)

    def install(self, config_text: str, scripts: dict[str, str] | None = None) -> None:
        """Write the configuration and the scripts (mode 755) into the node's dir."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        self.config_path.write_text(config_text)
        self.config_path.chmod(0o644)
        for name, text in (scripts or {}).items():
            path = self.dir / name
            path.write_text(text)
            path.chmod(0o755)

    def install_scenario(self, *, advert: float, identity: str = "script") -> None:
        """The scenario's configuration for this node, scripts included."""
        name = self.node.name
        self.install(render_keepalived(name, advert=advert, identity=identity,
                                       script_dir=str(self.dir)),
                     scenario_scripts(name, str(self.dir), identity))

    def argv(self) -> list[str]:
        # -n: parent in the foreground; -P: VRRP child only; -l -D: detailed log on
        # the console (our log file); -G: no syslog. Pid files in the node's dir.
        return [self.binary, "-n", "-P", "-l", "-D", "-G", "-f", str(self.config_path),
                "-p", str(self.pid_path), "-r", str(self.vrrp_pid_path)]

    def start(self) -> None:
        if self.running():
            raise RuntimeError(f"keepalived already runs on {self.node.name}")
        self._clear_stale_pid_files()
        self.daemon.start()

    def _clear_stale_pid_files(self) -> None:
        """Drop pid files of dead processes. keepalived removes them itself, except
        when the pid is a zombie: after kill(), the orphaned VRRP child is reparented
        to pid 1, and until pid 1 reaps it (a container's may take its time)
        keepalived takes it for a running daemon ("daemon is already running")."""
        for path in (self.pid_path, self.vrrp_pid_path):
            with contextlib.suppress(OSError, ValueError):
                if not alive(int(path.read_text().split()[0])):
                    path.unlink()

    def running(self) -> bool:
        return self.daemon.running()

    def pids(self) -> list[int]:
        """The parent and all its descendants (VRRP child, running scripts)."""
        return self.daemon.pids()

    def terminate(self) -> None:
        """SIGTERM, without waiting: the VRRP child sends priority 0 at once, drops its
        VIPs and runs the stop notifies; then the parent runs the shutdown script.
        keepalived 2.2.7 takes about 1 s to exit, scripts or not."""
        self.daemon.terminate()

    def wait(self, timeout: float = 10.0) -> int | None:
        """The parent's exit status (subprocess.TimeoutExpired after `timeout`)."""
        return self.daemon.wait(timeout)

    def stop(self, timeout: float = 10.0) -> int | None:
        """Graceful stop (`terminate()`) and wait for the exit."""
        return self.daemon.stop(timeout)

    def kill(self) -> None:
        """SIGKILL every process at once: a crash, VIPs and identity left in place.
        All are stopped first, so that no child sees its parent die (and shuts down
        gracefully) and the parent respawns no child before the kill lands."""
        self.daemon.kill()

    def freeze(self) -> None:
        """SIGSTOP every process: a hung node (no adverts, VIPs stay)."""
        self.daemon.freeze()

    def thaw(self) -> None:
        self.daemon.thaw()

    def log_text(self) -> str:
        return self.daemon.log_text()

    def identity_log(self) -> str:
        """What the identity script did, one line per run (empty for identity="ip")."""
        try:
            return (self.dir / "log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

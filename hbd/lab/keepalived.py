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

keepalived adds and removes the VIP itself (`no_track`: eth0 going down, as a
MAC change may make it, is no fault; heartbeat does not watch eth0 either) and
sends the gratuitous ARPs: asked for hbd's 5 at 0.2 s, then 5 more after 1 s,
2.2.7 sends 2 + 2 (acassen/keepalived#1760), the first before any script has
changed the MAC. With `identity="script"` it also runs `identity`, a generated sh script in the
node's keepalived dir, on every transition (notify_master / notify_backup /
notify_fault / notify_stop) and at start-up and shut-down (startup_script /
shutdown_script). The script is the scenario's Remac switch (MAC + own address
+ host name + default route) with iproute2; it keeps the instances this node
is master of in a stack file, most recent last, and gives eth0 the identity on
top of the stack, or the node's own when the stack is empty (hbd stacks MACs
and host names the same way). `identity="ip"` is pure VRRP: the VIP only.

`KeepalivedDaemon` runs one keepalived per lab node, in the foreground, with
its configuration, pid files, scripts and log in `<node root>/keepalived/`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hbd.lab.cluster import HOSTS, SERVICE_MACS, SERVICE_NET, LabNode

KEEPALIVED = "/usr/sbin/keepalived"
IDENTITY_SCRIPT = "identity"
SERVICE_IF = "eth0"
ADVERT_IF = "eth2"
PREFIX = 24
BROADCAST = f"{SERVICE_NET}.255"
GATEWAY = f"{SERVICE_NET}.254"
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


VIPS = (
    Vip("vip1", 21, f"{SERVICE_NET}.21", "00:1e:68:1e:99:5e", "nodevir",
        {"node0": 150, "node1": 100, "node2": 50}),
    Vip("vip2", 22, f"{SERVICE_NET}.22", "00:1e:68:1e:88:5e", "nodevir2",
        {"node2": 150, "node1": 100, "node0": 50}),
)
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
             f"        {vip.address}/{PREFIX} brd {BROADCAST} dev {SERVICE_IF} no_track",
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
             f"(hbd.lab.keepalived, identity={identity})",
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


_SCRIPT_HEAD = """#!/bin/sh
# identity: the scenario's identity switch on {node}, run by keepalived.
#
# conf/{node}/resource.d/Remac1 and Remac2 as one script: keepalived adds and
# removes the VIPs, this sets the rest of the identity (MAC, own address, host
# name, default route) after each transition.
#   identity INSTANCE master              INSTANCE goes on top of the stack
#   identity INSTANCE backup|fault|stop   INSTANCE leaves the stack
#   identity reset                        empty stack, no VIP (start-up, shut-down)
# eth0 then carries the identity on top of the stack (the instance that became
# master last) or, when the stack is empty, this node's own. One eth0 has one
# MAC: holding both instances, the other VIP answers with the top one's MAC.
# Runs are serialised with flock; each one is logged to identity.log.

PATH=/usr/sbin:/usr/bin:/sbin:/bin
HERE=$(cd "$(dirname "$0")" && pwd)
STACK="$HERE/held"
IFACE={iface}
PREFIX={prefix}
BROADCAST={broadcast}
GATEWAY={gateway}
OWN_MAC={own_mac}
OWN_IP={own_ip}
OWN_HOST={node}
VIPS="{vip_addresses}"

exec >>"$HERE/identity.log" 2>&1

# identity_of INSTANCE: prints "MAC HOSTNAME VIP"
identity_of() {{
    case "$1" in
{cases}
      *) return 1 ;;
    esac
}}
"""

_SCRIPT_BODY = r"""
# (not from sysfs: under `nsenter --net` it still shows the host's interfaces)
current_mac() {
    ip -o link show dev "$IFACE" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'
}

# set_mac MAC: live if the driver allows it, else down, change, up (as Remac1 does)
set_mac() {
    [ "$(current_mac)" = "$1" ] && return 0
    ip link set dev "$IFACE" address "$1" 2>/dev/null && return 0
    ip link set dev "$IFACE" down &&
    ip link set dev "$IFACE" address "$1" &&
    ip link set dev "$IFACE" up
}

# apply MAC HOSTNAME own|virtual
apply() {
    # the own address is eth0's primary: dropping it must keep the VIPs (secondaries);
    # arp_notify: the kernel announces every address of eth0 after each MAC change
    echo 1 >"/proc/sys/net/ipv4/conf/$IFACE/promote_secondaries"
    echo 1 >"/proc/sys/net/ipv4/conf/$IFACE/arp_notify"
    if [ "$3" = own ]; then
        ip addr replace "$OWN_IP/$PREFIX" brd "$BROADCAST" dev "$IFACE"
    fi
    set_mac "$1" || return 1
    if [ "$3" = virtual ]; then
        ip addr del "$OWN_IP/$PREFIX" dev "$IFACE" 2>/dev/null
    fi
    hostname "$2" || return 1
    # no address left (keepalived dropped the VIPs on its way down): no route to set
    ip -4 -o addr show dev "$IFACE" | grep -q inet || return 0
    ip route replace default via "$GATEWAY"
}

# update INSTANCE STATE: the stack without INSTANCE, plus INSTANCE on top if master
update() {
    touch "$STACK"
    grep -vx "$1" "$STACK" >"$STACK.new"
    [ "$2" = master ] && echo "$1" >>"$STACK.new"
    mv "$STACK.new" "$STACK"
}

exec 9>"$HERE/identity.lock"
flock -w 30 9 || { echo "$(date +%s.%N) $*: lock timeout"; exit 1; }
case "$1 ${2:-}" in
  "reset ")
    : >"$STACK"
    for vip in $VIPS; do ip addr del "$vip/$PREFIX" dev "$IFACE" 2>/dev/null; done ;;
  *\ master|*\ backup|*\ fault|*\ stop)
    identity_of "$1" >/dev/null || { echo "unknown instance $1"; exit 2; }
    state=$2
    # keepalived runs notify scripts without waiting for each other: a "master"
    # that gets the lock after a later "backup" finds its VIP already removed
    vip=$(identity_of "$1" | cut -d' ' -f3)
    if [ "$state" = master ] && ! ip -4 -o addr show dev "$IFACE" | grep -q " $vip/"; then
        state=stale-master
    fi
    update "$1" "$state" ;;
  *)
    echo "usage: $0 INSTANCE master|backup|fault|stop | reset"; exit 2 ;;
esac
top=$(tail -n 1 "$STACK")
if [ -n "$top" ]; then
    apply $(identity_of "$top" | cut -d' ' -f1,2) virtual
else
    apply "$OWN_MAC" "$OWN_HOST" own
fi
rc=$?
echo "$(date +%s.%N) $*: stack [$(tr '\n' ' ' <"$STACK")] mac $(current_mac) host $(hostname) rc $rc"
exit $rc
"""


def render_identity_script(node: str) -> str:
    """The `identity` notify script for lab node `node` (POSIX sh + iproute2)."""
    cases = "\n".join(f"      {v.name}) echo {v.mac} {v.hostname} {v.address} ;;" for v in VIPS)
    head = _SCRIPT_HEAD.format(
        node=node, iface=SERVICE_IF, prefix=PREFIX, broadcast=BROADCAST, gateway=GATEWAY,
        own_mac=SERVICE_MACS[node].lower(), own_ip=f"{SERVICE_NET}.{HOSTS[node]}",
        vip_addresses=" ".join(v.address for v in VIPS), cases=cases)
    return head + _SCRIPT_BODY


def scenario_scripts(node: str, identity: str = "script") -> dict[str, str]:
    """The scripts that `render_keepalived(node, identity=identity)` refers to."""
    return {IDENTITY_SCRIPT: render_identity_script(node)} if identity == "script" else {}


def _children(pid: int) -> list[int]:
    """Every descendant of `pid`, from /proc (a snapshot; processes come and go)."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(entry))
    found, frontier = [], [pid]
    while frontier:
        below = kids.get(frontier.pop(), [])
        found += below
        frontier += below
    return found


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


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
        self.proc: subprocess.Popen | None = None
        self.starts = 0

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
                     scenario_scripts(name, identity))

    def argv(self) -> list[str]:
        # -n: parent in the foreground; -P: VRRP child only; -l -D: detailed log on
        # the console (our log file); -G: no syslog. Pid files in the node's dir.
        return [self.binary, "-n", "-P", "-l", "-D", "-G", "-f", str(self.config_path),
                "-p", str(self.pid_path), "-r", str(self.vrrp_pid_path)]

    def start(self) -> None:
        if self.running():
            raise RuntimeError(f"keepalived already runs on {self.node.name}")
        self._clear_stale_pid_files()
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self.proc = self.node.ns.popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL)

    def _clear_stale_pid_files(self) -> None:
        """Drop pid files of dead processes. keepalived removes them itself, except
        when the pid is a zombie: after kill(), the orphaned VRRP child is reparented
        to pid 1, and until pid 1 reaps it (a container's may take its time)
        keepalived takes it for a running daemon ("daemon is already running")."""
        for path in (self.pid_path, self.vrrp_pid_path):
            with contextlib.suppress(OSError, ValueError):
                if not _alive(int(path.read_text().split()[0])):
                    path.unlink()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        """The parent and all its descendants (VRRP child, running scripts)."""
        if not self.running():
            return []
        return [self.proc.pid, *_children(self.proc.pid)]

    def _signal_all(self, sig: int) -> list[int]:
        """Send `sig` to every process, again to any that appeared meanwhile (a
        script just forked), for a few rounds; returns the pids signalled."""
        sent: set[int] = set()
        for _ in range(5):
            new = [pid for pid in self.pids() if pid not in sent]
            if not new:
                break
            for pid in new:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            sent.update(new)
        return sorted(sent)

    def terminate(self) -> None:
        """SIGTERM, without waiting: the VRRP child sends priority 0 at once, drops its
        VIPs and runs the stop notifies; then the parent runs the shutdown script.
        keepalived 2.2.7 takes about 1 s to exit, scripts or not."""
        if self.running():
            self.thaw()
            os.kill(self.proc.pid, signal.SIGTERM)

    def wait(self, timeout: float = 10.0) -> int | None:
        """The parent's exit status (subprocess.TimeoutExpired after `timeout`)."""
        return self.proc.wait(timeout) if self.proc else None

    def stop(self, timeout: float = 10.0) -> int | None:
        """Graceful stop (`terminate()`) and wait for the exit."""
        self.terminate()
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL every process at once: a crash, VIPs and identity left in place.

        All are stopped first, so that no child sees its parent die (and shuts down
        gracefully) and the parent respawns no child before the kill lands."""
        if not self.running():
            return
        pids = self._signal_all(signal.SIGSTOP)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)
        deadline = time.monotonic() + 10
        while any(map(_alive, pids)) and time.monotonic() < deadline:
            time.sleep(0.02)

    def freeze(self) -> None:
        """SIGSTOP every process: a hung node (no adverts, VIPs stay)."""
        self._signal_all(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal_all(signal.SIGCONT)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def identity_log(self) -> str:
        """What the identity script did, one line per run (empty for identity="ip")."""
        try:
            return (self.dir / "identity.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

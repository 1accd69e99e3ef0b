"""A lab node's cluster-manager commands for CTS (`bin/hbd-cts-node VERB`).

CTS starts, stops and asks the cluster manager through commands run on the
node (CM_hb.py: `heartbeat`, `heartbeat -k`, `heartbeat -s`, `hb_standby`,
`TestHeartbeatComm break-communication`, `killall -9 heartbeat`). In the lab
the node's daemon is hbd (`LabNode`) or Debian's heartbeat
(`HeartbeatDaemon`), started from the test host's side; this module is
what those commands do, for the node named by HBD_CTS_NODE (the lab:
HBD_CTS_PREFIX, the daemon: HBD_CTS_SYSTEM; `bin/hbd-cts-rsh` and `run.py`
set them):

| verb | hbd | heartbeat |
|---|---|---|
| `start` | hbd started, syslog to the node's collector socket | heartbeat started in its namespaces |
| `stop` | SIGTERM, wait for the exit (graceful release) | SIGTERM to the master (`heartbeat -k`), wait |
| | after 30 s: killed, exit 1 (CTS retries the stop, finds it stopped; the test misses its shutdown line) | same |
| `status` | prints `running` or `stopped` (CTS looks for "stopped") | same |
| `standby` | `hbctl standby` | `hb_standby` in heartbeat's namespaces |
| `kill` | SIGKILL (a crash; `killall -9 heartbeat`) | SIGKILL to every heartbeat process |
| `reload` | SIGHUP | SIGHUP to the master |
| `break` / `fix` | UDP 694 dropped (or not) at the node's eth2 switch port, both ways: silent loss | same |
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from hbd_lab import session as lab_session
from hbd_lab.cluster import LabNode, wait_for
from hbd_lab.heartbeat import HeartbeatDaemon, find_heartbeat

STOP_TIMEOUT = 30         # seconds for a graceful stop; then killed, the stop failed
HB_CABLE = "eth2"          # the heartbeat LAN
# Dropped at the node's switch port (inside the switch namespace), both ways:
# the packets are lost on the wire, silently. Dropping them in the node would
# make sendto() fail with EPERM, which heartbeat takes for a broken medium and
# shuts down on; TestHeartbeatComm drops them silently inside heartbeat.
BREAK_RULES = """table bridge {table} {{
  chain forward {{ type filter hook forward priority 0;
    iifname "{port}" udp dport 694 drop; oifname "{port}" udp dport 694 drop; }}
}}
"""


def _status_of(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            return dict(line.split(":", 1) for line in handle if ":" in line)
    except OSError:
        return {}


class HeartbeatNode:
    """Debian's heartbeat on the node, found again from /proc by any later command."""

    def __init__(self, node: LabNode) -> None:
        self.node = node
        self.daemon = HeartbeatDaemon(node)

    def master(self) -> int | None:
        binary = find_heartbeat()
        for pid in self.node.ns.pids():
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue
            if exe == binary and _status_of(pid).get("NSpid", "").split()[-1:] == ["1"]:
                return pid
        return None

    def pids(self) -> list[int]:
        master = self.master()
        if master is None:
            return []
        ns = os.readlink(f"/proc/{master}/ns/pid")
        out = [int(_status_of(master).get("PPid", "0").strip())]       # unshare
        for pid in self.node.ns.pids():
            try:
                if os.readlink(f"/proc/{pid}/ns/pid") == ns:
                    out.append(pid)
            except OSError:
                continue
        return [pid for pid in out if pid > 1]

    def running(self) -> bool:
        return self.master() is not None

    def start(self) -> None:
        self.daemon.start(timeout=30)

    def stop(self) -> None:
        master = self.master()
        if master is None:
            return
        os.kill(master, signal.SIGTERM)
        wait_for(lambda: self.master() is None, timeout=STOP_TIMEOUT, what="heartbeat to stop")

    def kill(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: self.master() is None, timeout=10, what="heartbeat to die")

    def reload(self) -> None:
        master = self.master()
        if master is not None:
            os.kill(master, signal.SIGHUP)

    def standby(self) -> int:
        master = self.master()
        if master is None:
            return 1
        return subprocess.run(["nsenter", f"--target={master}", "--mount", "--pid", "--net",
                               "--uts", "--", "/usr/share/heartbeat/hb_standby"],
                              check=False, capture_output=True).returncode


class HbdNode:
    def __init__(self, node: LabNode, syslog: str) -> None:
        self.node = node
        self.syslog = syslog

    def running(self) -> bool:
        return self.node.running()

    def start(self) -> None:
        self.node.start(env={"HBD_SYSLOG_SOCKET": self.syslog})

    def stop(self) -> None:
        self.node.stop(timeout=STOP_TIMEOUT)

    def kill(self) -> None:
        self.node.kill()

    def reload(self) -> None:
        self.node.signal(signal.SIGHUP)

    def standby(self) -> int:
        return self.node.hbctl("standby").returncode


def comm(session: lab_session.Session, name: str, broken: bool) -> int:
    """Break (or fix) `name`'s heartbeat communication at its heartbeat LAN cable."""
    topology = session.lab.topology
    table = f"hbdcts_{name}"
    switch = ["ip", "netns", "exec", topology.switch_ns, "nft"]
    subprocess.run([*switch, "delete", "table", "bridge", table], capture_output=True,
                   check=False)
    if not broken:
        return 0
    rules = BREAK_RULES.format(table=table, port=topology.port_of(name, HB_CABLE))
    return subprocess.run([*switch, "-f", "-"], input=rules, text=True,
                          check=False).returncode


def main(argv: list[str]) -> int:
    verb = argv[0] if argv else ""
    name = os.environ["HBD_CTS_NODE"]
    session = lab_session.attach(os.environ["HBD_CTS_PREFIX"])
    lab_node = session.lab[name]
    daemon: HbdNode | HeartbeatNode = (
        HeartbeatNode(lab_node) if os.environ.get("HBD_CTS_SYSTEM") == "heartbeat"
        else HbdNode(lab_node, os.environ["HBD_CTS_SYSLOG"]))
    if verb == "status":
        print("running" if daemon.running() else "stopped")
    elif verb == "start":
        if not daemon.running():
            daemon.start()
    elif verb == "stop":
        try:
            daemon.stop()
        except (TimeoutError, subprocess.TimeoutExpired):
            # hung in its shutdown (heartbeat: "Shutdown delayed until current resource
            # activity finishes", forever): killed, and the stop reported failed
            daemon.kill()
            print(f"{name}: the daemon did not stop within {STOP_TIMEOUT} s; killed",
                  file=sys.stderr)
            return 1
    elif verb == "kill":
        if not daemon.running():
            return 1
        daemon.kill()
    elif verb == "reload":
        daemon.reload()
    elif verb == "standby":
        return daemon.standby()
    elif verb in ("break", "fix"):
        return comm(session, name, verb == "break")
    else:
        print("usage: hbd-cts-node start|stop|status|standby|kill|reload|break|fix",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

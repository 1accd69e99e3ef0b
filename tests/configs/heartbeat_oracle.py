"""Does Debian's heartbeat 3.0.6 accept a configuration directory? Ask it.

`heartbeat_reads(conf, node)` starts the real `heartbeat -f` on a copy of
`conf` inside fresh network, mount, PID and UTS namespaces (the network
namespace holds only lo and veth pairs named eth0, eth1 and eth2, so no packet
leaves it), with /etc/ha.d, /var/lib/heartbeat, /run and /var/log bound to a
scratch directory and /usr seen through an overlay (so stub programs, e.g.
Pacemaker's daemons or a respawned pingd, can exist without touching the
host). It waits, with a deadline, until heartbeat logs "Configuration
validated" or refuses the files, then the namespace's PID 1 exits and the
kernel ends every process in it. Nothing outside the scratch directory changes.

Heartbeat's verdict on ha.cf and authkeys is what "Configuration validated"
means: it is logged after both are parsed and checked, before any medium opens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

HEARTBEAT = "/usr/libexec/heartbeat/heartbeat"
VALIDATED = "Configuration validated"
_SCRIPT = r"""set -e
node=$1; shift
hostname "$node"
ip link set lo up
n=0
for dev in eth0 eth1 eth2; do
  ip link add "$dev" type veth peer name "p$dev"
  ip link set "p$dev" up
  ip addr add "10.199.$n.1/24" brd + dev "$dev"
  ip link set "$dev" up
  n=$((n + 1))
done
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$PWD/usr-up,workdir=$PWD/usr-work" /usr
for stub in "$@"; do
  mkdir -p "$(dirname "$stub")"
  printf '#!/bin/sh\nexec sleep 60\n' > "$stub"
  chmod 755 "$stub"
done
mount --bind etc /etc/ha.d
mount --bind lib /var/lib/heartbeat
mount --bind run /run
mount --bind log /var/log
"$HEARTBEAT" -f > log/console.log 2>&1 &
pid=$!
i=0
while [ $i -lt 100 ] && kill -0 $pid 2>/dev/null; do
  if cat log/* 2>/dev/null | grep -q "Configuration validated\|not started"; then break; fi
  sleep 0.1
  i=$((i + 1))
done
"""


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    log: str            # heartbeat's messages, one per line, timestamps removed


def unavailable() -> str | None:
    """None when heartbeat can be asked here, else why not."""
    if os.geteuid() != 0:
        return "needs root (namespaces and mounts)"
    if not os.access(HEARTBEAT, os.X_OK):
        return "heartbeat 3.0.6 is not installed (apt-get install heartbeat)"
    if not Path("/etc/ha.d/harc").exists():
        return "/etc/ha.d from the heartbeat package is missing"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare (util-linux) or ip (iproute2) is missing"
    return None


def _messages(logs: Path) -> str:
    lines: list[str] = []
    for path in sorted(logs.iterdir()):
        for line in path.read_text(errors="replace").splitlines():
            text = line.split("]: ", 1)[-1]
            if text not in lines:
                lines.append(text)
    return "\n".join(lines)


def heartbeat_reads(conf: Path, node: str, work: Path, stubs: list[str] | None = None) -> Verdict:
    """Heartbeat 3.0.6's verdict on the files in `conf`, run as node `node`."""
    for name in ("lib", "run", "log", "usr-up", "usr-work", "run/heartbeat/rsctmp", "lib/cores"):
        (work / name).mkdir(parents=True, exist_ok=True)
    etc = work / "etc"
    shutil.copytree("/etc/ha.d", etc, symlinks=True)
    for item in conf.iterdir():
        if item.name in ("ha.cf", "haresources", "authkeys") or item.name == "resource.d":
            target = etc / item.name
            if item.is_dir():
                shutil.copytree(item, target, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(item, target)
    hacf = etc / "ha.cf"
    hacf.write_text("logfile /var/log/oracle.log\n" + hacf.read_text(encoding="utf-8"),
                    encoding="utf-8")
    os.chmod(etc / "authkeys", 0o600)
    command = ["timeout", "-s", "KILL", "30", "unshare", "--net", "--mount", "--propagation",
               "private", "--pid", "--fork", "--mount-proc", "--uts", "--",
               "sh", "-c", _SCRIPT, "oracle", node, *(stubs or [])]
    subprocess.run(command, cwd=work, capture_output=True, timeout=60, check=False,
                   env={**os.environ, "HEARTBEAT": HEARTBEAT})
    log = _messages(work / "log")
    return Verdict(VALIDATED in log, log)

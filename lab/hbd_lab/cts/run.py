"""`hbd lab cts`: heartbeat's CTS against hbd or heartbeat 3.0.6 in a fresh lab.

1. `session.up()` builds the scenario's namespaces without starting a daemon;
   the nodes get the shipped configuration (hbd), or heartbeat's files with
   the same ha.cf (heartbeat: `systems.HeartbeatAdapter`, `node0 Remac1`,
   `node2 Remac2`).
2. The CTS side gets its HAdir (node0's ha.cf and the haresources: CTS reads
   them on the test host) and a JSON settings file (HBD_CTS_CONFIG).
3. `collector.py` gathers every node's syslog into `cluster.log`.
4. `driver.py` runs with CTS's Python (compat/ first on PYTHONPATH); CTS
   starts and stops the daemons itself, through `bin/hbd-cts-rsh`.
5. The lab is removed, whatever happened; CTS's summary (its lines from
   "Overall Results" to "TESTS COMPLETED") is returned with the log paths.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hbd_lab import session as lab_session
from hbd_lab.cluster import scenario_template
from hbd_lab.cts.collector import Collector
from hbd_lab.systems import HeartbeatAdapter

CTS_DIR = Path("/usr/share/heartbeat/cts")
HERE = Path(__file__).resolve().parent
SYSTEMS = ("hbd", "heartbeat")
# CTS's timings (CM_hb: 30 s each) scaled to the lab's keepalive 200 ms / deadtime 1 s
DEADTIME, STABLETIME, STARTTIME = 10, 3, 20


@dataclass
class Result:
    returncode: int
    summary: list[str]
    ctslog: Path
    cluster_log: Path
    lines: list[str] = field(default_factory=list)     # CTS's whole log

    @property
    def passed(self) -> bool:
        return self.returncode == 0


def unavailable() -> str | None:
    if not (CTS_DIR / "CTStests.py").exists():
        return f"heartbeat's CTS is not installed ({CTS_DIR}; package heartbeat)"
    for tool in ("nft", "tcpdump"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def summary_of(lines: list[str]) -> list[str]:
    """CTS's summary, as it printed it (timestamps cut)."""
    texts = [line.split("\t", 1)[-1] for line in lines]
    starts = [i for i, text in enumerate(texts) if text.startswith("Overall Results")]
    if not starts:
        return []
    first = starts[-1] - 1 if starts[-1] and texts[starts[-1] - 1].startswith("***") else starts[-1]
    out = []
    for text in texts[first:]:
        out.append(text)
        if "TESTS COMPLETED" in text:
            break
    return out


def _install(session: lab_session.Session, system: str, ha_dir: Path) -> None:
    hacf = (session.lab["node0"].config_dir / "ha.cf").read_text()
    haresources = scenario_template("node0")[1]
    if system == "heartbeat":
        adapter = HeartbeatAdapter(session.lab)
        adapter.install(session.timings)
        haresources = "node0 Remac1\nnode2 Remac2\n"
    ha_dir.mkdir(parents=True, exist_ok=True)
    (ha_dir / "ha.cf").write_text(hacf)
    (ha_dir / "haresources").write_text(haresources)


def run(*, system: str = "hbd", tests: list[str] | None = None, iterations: int = 1,
        prefix: str = "hbdcts", seed: int = 1, out_dir: Path | None = None,
        echo: bool = True) -> Result:
    """Run CTS on a fresh lab named `prefix`; the lab is removed at the end."""
    if system not in SYSTEMS:
        raise ValueError(f"system {system}: one of {', '.join(SYSTEMS)}")
    reason = unavailable()
    if reason:
        raise RuntimeError(reason)
    session = lab_session.up(prefix=prefix, start_hbd=False)
    workdir = session.lab.workdir
    out = out_dir or Path(lab_session.STATE_ROOT) / f"{prefix}-cts"
    out.mkdir(parents=True, exist_ok=True)
    ctslog, cluster_log = out / f"cts-{system}.log", out / f"cluster-{system}.log"
    for path in (ctslog, cluster_log):
        path.unlink(missing_ok=True)
    collector = None
    try:
        _install(session, system, workdir / "cts" / "ha.d")
        sockets = {name: str(node.root / "syslog.sock") for name, node in
                   session.lab.nodes.items()}
        files = ({name: node.root / "heartbeat" / "log" / "ha-log"
                  for name, node in session.lab.nodes.items()} if system == "heartbeat" else {})
        collector = Collector(cluster_log, sockets, files).start()
        settings = {"prefix": prefix, "system": system, "nodes": list(session.lab.names),
                    "ha_dir": str(workdir / "cts" / "ha.d"), "logfile": str(cluster_log),
                    "ctslog": str(ctslog), "tests": list(tests or []),
                    "iterations": iterations, "seed": seed, "python": sys.executable,
                    "bin": str(HERE / "bin"), "probes": str(HERE / "probes"),
                    "syslog": sockets, "deadtime": DEADTIME, "stabletime": STABLETIME,
                    "starttime": STARTTIME}
        config = workdir / "cts" / "settings.json"
        config.write_text(json.dumps(settings, indent=1))
        env = {**os.environ, "HBD_CTS_CONFIG": str(config), "HBD_CTS_PREFIX": prefix,
               "HBD_CTS_WORKDIR": str(workdir), "HBD_CTS_SYSTEM": system,
               "HBD_CTS_PYTHON": sys.executable,
               "PYTHONPATH": os.pathsep.join([str(HERE / "compat"), str(CTS_DIR)])}
        proc = subprocess.run([sys.executable, str(HERE / "driver.py")], env=env,
                              cwd=str(workdir / "cts"), check=False,
                              stderr=None if echo else subprocess.DEVNULL)
        lines = ctslog.read_text(errors="replace").splitlines() if ctslog.exists() else []
        return Result(proc.returncode, summary_of(lines), ctslog, cluster_log, lines)
    finally:
        if collector is not None:
            collector.close()
        lab_session.down(prefix)

"""The rolling upgrade of the source scenario: heartbeat 3.0.6 -> hbd, node by node, and back.

docs/migrate.md's runbook, run on the lab (issue 11's acceptance):

1. three heartbeat nodes with the scenario's files: node0 runs `node0 Remac1`,
   node2 `node2 Remac2`, node1, the standby, both (the source document's
   haresources); every ha.cf lists the three nodes (conf/'s; the document's
   node0 and node2 know only themselves and node1, and heartbeat learns the
   third from node1's `repnodes` anyway, with "bad node" errors). The Remac scripts are conf/'s (`hbd_lab.identity`);
   timings scaled down; the client probes both VIPs every 10 ms;
2. node1, then node0, then node2 replaced by hbd: heartbeat's graceful stop,
   then hbd with the same files and the same /var/lib/heartbeat;
3. after each step every VIP has exactly one holder, and a stop-and-failback
   drill passes on each primary;
4. node1 rolled back to heartbeat, and one drill repeated.

The three nodes start together (started one by one, heartbeat's nodes declare
each other dead at initdead and run mach_down for each other). Every ha.cf
lists the three nodes; haresources are per node, as in the source document.

Each step's outage per VIP (the longest silence the client saw) is collected
in a table, printed, and written to `$HBD_MIGRATION_TABLE` when set (the
figures of bench/results/migration-*.txt). The second test checks that every
node's scenario files are read by hbd as heartbeat reads them.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hbd.config.load import load_config
from hbd.config.model import Severity
from hbd_lab import holders, identity, timeline
from hbd_lab.cluster import CONF_ROOT, render_authkeys, render_hacf, scenario_template, wait_for
from hbd_lab.heartbeat import HeartbeatDaemon, unavailable
from hbd_lab.services import HolderSampler, Services

FAST = {"keepalive": "200ms", "deadtime": "2", "warntime": "1", "initdead": "4",
        "deadping": "2"}
VIPS = {"node0": "192.168.32.21", "node2": "192.168.32.22"}
NAMES = ("node0", "node1", "node2")
# the source document's layout: who each node knows, and which groups it runs
LAYOUT = {"node0": (("node0", "node2", "node1"), "node0 Remac1\n"),
          "node1": (("node0", "node2", "node1"), "node0 Remac1\nnode2 Remac2\n"),
          "node2": (("node0", "node2", "node1"), "node2 Remac2\n")}


def files(name: str) -> tuple[str, str, str]:
    """(ha.cf, haresources, authkeys) of `name`, heartbeat's and hbd's alike."""
    nodes, haresources = LAYOUT[name]
    hacf = render_hacf(scenario_template("node0")[0], timings=FAST, media=["bcast eth2"],
                       drop=("logfile", "node"), extra=[f"node {n}" for n in nodes])
    return hacf, haresources, render_authkeys("sha1")


class Rolling:
    def __init__(self, lab, log_dir: Path) -> None:
        self.lab = lab
        self.hb = {name: HeartbeatDaemon(lab[name]) for name in NAMES}
        self.kind = dict.fromkeys(NAMES, "heartbeat")
        self.services = Services(lab, str(log_dir))
        for name in NAMES:
            self.services.serve(name)
        self.services.watch()
        self.sampler = HolderSampler(lab, str(log_dir / "holders.jsonl"), 0.01)
        wait_for(self.sampler.states, timeout=10, what="the holders sampler to start")
        self.table: list[tuple[str, dict[str, str]]] = []

    def remac_dir(self, name: str) -> str:
        # the path heartbeat sees as /run/remac (its private /run): one stack per node
        return str(self.hb[name].run_dir / "remac")

    def install_heartbeat(self, name: str) -> None:
        self.hb[name].install(*files(name), scripts=identity.remac_scripts(name))

    def install_hbd(self, name: str) -> None:
        Path(self.remac_dir(name)).mkdir(parents=True, exist_ok=True)
        self.lab[name].install(*files(name),
                               scripts=identity.remac_scripts(name, self.remac_dir(name)))

    def start(self, name: str) -> None:
        if self.kind[name] == "heartbeat":
            self.hb[name].start()
        else:
            self.lab[name].start(extra=["--heartbeat-state-dir", str(self.hb[name].lib_dir)])

    def stop(self, name: str) -> None:
        daemon = self.hb[name] if self.kind[name] == "heartbeat" else self.lab[name]
        assert daemon.stop() == 0, f"{name} ({self.kind[name]}) did not stop cleanly"

    def holders(self, vip: str) -> list[str]:
        return [n for n in NAMES if f"{vip}/24" in self.lab[n].addresses()]

    def steady(self, what: str) -> None:
        """Every VIP on its home, one holder each; heartbeat nodes stable."""
        for home, vip in VIPS.items():
            wait_for(lambda home=home, vip=vip: self.holders(vip) == [home], timeout=30,
                     what=f"{vip} on {home} only ({what})")
        for name in NAMES:
            if self.kind[name] == "heartbeat" and self.hb[name].running():
                wait_for(lambda name=name: self.hb[name].rscstatus() not in (None, "transition"),
                         timeout=30, what=f"heartbeat on {name} to be stable ({what})")

    def outages(self, start: float, end: float) -> dict[str, str]:
        probes = self.services.probes()
        out = {}
        for vip in VIPS.values():
            gap = timeline.outage(timeline.for_target(probes, vip), start, end)
            out[vip] = "-" if gap is None else f"{gap.seconds * 1000:.0f} ms"
        return out

    def answering(self, since: float) -> bool:
        """Every VIP's latest probe (sent after `since`) was answered."""
        probes = self.services.probes()
        for vip in VIPS.values():
            mine = [p for p in timeline.for_target(probes, vip) if p.t > since]
            if not mine or not mine[-1].ok:
                return False
        return True

    def record(self, step: str, start: float) -> None:
        now = time.monotonic()                # the client hears every VIP again
        wait_for(lambda: self.answering(now), timeout=10, what=f"both VIPs to answer ({step})")
        end = time.monotonic()
        self.table.append((step, self.outages(start, end)))
        states = self.sampler.states()
        for vip in VIPS.values():
            two, samples = holders.not_one(states, vip, start, end)
            assert samples == 0, f"{step}: {vip} had two holders for {two:.3f} s"

    def replace(self, name: str, kind: str) -> None:
        start = time.monotonic()
        self.stop(name)
        self.kind[name] = kind
        if kind == "hbd":
            self.install_hbd(name)
        else:
            self.install_heartbeat(name)
        self.start(name)
        self.steady(f"{name} now {kind}")
        self.record(f"{name}: heartbeat -> hbd" if kind == "hbd" else f"{name}: hbd -> heartbeat",
                    start)

    def drill(self, primary: str, label: str) -> None:
        """Stop the primary, its VIP moves to node1; start it, the VIP comes back."""
        vip = VIPS[primary]
        start = time.monotonic()
        self.stop(primary)
        wait_for(lambda: self.holders(vip) == ["node1"], timeout=30,
                 what=f"{vip} to move to node1 ({label})")
        self.record(f"{label}: stop {primary} ({self.kind[primary]})", start)
        back = time.monotonic()
        self.start(primary)
        self.steady(f"{label}: {primary} back")
        self.record(f"{label}: {primary} back (failback)", back)

    def close(self) -> None:
        self.sampler.close()
        self.services.close()
        keep = os.environ.get("HBD_MIGRATION_LOGS")     # a dir: every node's logs, kept
        for name, daemon in self.hb.items():
            daemon.kill()
            if keep:
                Path(keep).mkdir(parents=True, exist_ok=True)
                (Path(keep) / f"{name}-heartbeat.log").write_text(daemon.log_text())
                (Path(keep) / f"{name}-hbd.log").write_text(self.lab[name].log_text())
            tail = (daemon.console_text() + daemon.log_text())[-2500:]
            if tail:
                print(f"===== {name} heartbeat log (tail) =====\n{tail}")
            print(f"===== {name} addresses: {self.lab[name].addresses()}")

    def render(self) -> str:
        vips = list(VIPS.values())
        lines = ["step | " + " | ".join(vips), "---|" + "---|" * len(vips)]
        lines += [f"{step} | " + " | ".join(o[v] for v in vips) for step, o in self.table]
        return "\n".join(lines) + "\n"


@pytest.mark.skipif(unavailable() is not None,
                    reason=f"heartbeat 3.0.6 unavailable: {unavailable()}")
def test_rolling_upgrade_of_the_scenario_and_back(make_lab, tmp_path):
    lab = make_lab()
    run = Rolling(lab, Path(lab.workdir))
    try:
        for name in NAMES:
            run.install_heartbeat(name)
        # together, as a cluster boots: started one by one, each waits for initdead,
        # declares the others dead and runs mach_down for them (heartbeat's own mess)
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(run.start, NAMES))
        run.steady("three heartbeat nodes")
        for step, name in enumerate(("node1", "node0", "node2"), 1):
            run.replace(name, "hbd")
            for primary in ("node0", "node2"):
                run.drill(primary, f"step {step}")
        run.replace("node1", "heartbeat")               # roll back
        run.drill("node0", "rolled back")
    finally:
        table = run.render()
        print(table)
        target = os.environ.get("HBD_MIGRATION_TABLE")
        if target:
            Path(target).write_text(table)
        run.close()


# --- every node's files ---------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_every_nodes_scenario_files_are_read(name, tmp_path):
    """conf/nodeN as shipped, and the layout above (the source document's per-node
    node lists and haresources with the Remac scripts): hbd reads them without an
    error, finds its node, its groups and the scripts."""
    shipped = tmp_path / "shipped"
    shutil.copytree(CONF_ROOT / name, shipped)
    (shipped / "authkeys").chmod(0o600)      # git does not keep the mode
    loaded, problems = load_config(str(shipped), name)
    assert loaded is not None, problems
    assert not [p for p in problems if p.severity is Severity.ERROR], problems
    assert loaded.node_name == name and len(loaded.groups) == 2
    conf = tmp_path / name
    (conf / "resource.d").mkdir(parents=True)
    hacf, haresources, keys = files(name)
    (conf / "ha.cf").write_text(hacf)
    (conf / "haresources").write_text(haresources)
    (conf / "authkeys").write_text(keys)
    (conf / "authkeys").chmod(0o600)
    for script, text in identity.remac_scripts(name).items():
        (conf / "resource.d" / script).write_text(text)
        (conf / "resource.d" / script).chmod(0o755)
    loaded, problems = load_config(str(conf), name)
    assert loaded is not None, problems
    assert not [p for p in problems if p.severity is Severity.ERROR], problems
    assert loaded.nodes == LAYOUT[name][0]
    assert [g.resources[0].name for g in loaded.groups] == \
        [line.split()[1] for line in LAYOUT[name][1].splitlines()]

"""Metrics and notification hooks of a running node during a drill (issue 14).

The scenario's lab; node1 (the standby) gets an hbd.cf with a metrics endpoint on
its own loopback and two notify hooks: one that appends each event (JSON on
stdin) to a file, one that hangs. node0 is powered off and comes back: node1's
scrape shows the takeover (counters and holdings), the hook file holds the
events in order, and the hanging hook neither delays the takeover nor stops
later events (it is killed after `notify_timeout`).
"""

from __future__ import annotations

import json
import os
import sys
import textwrap

from hbd_lab import session as sessions
from hbd_lab.cluster import DAEMON_ENV, HBCTL_ENV, command, wait_for
from hbd_lab.drills import VIPS, DrillRunner, HbdSystem
from tests.netns.conftest import require_netns, unique_prefix

VIP1 = VIPS["node0"][0]
GROUP1 = f"IPaddr::{VIP1}/24/eth0/192.168.32.255"


def scrape(node) -> str:
    code = ("import urllib.request;"
            "print(urllib.request.urlopen('http://127.0.0.1:9694/metrics', timeout=2)"
            ".read().decode())")
    proc = node.ns.run([sys.executable, "-c", code], check=False)
    return proc.stdout if proc.returncode == 0 else ""


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_and_notify_hooks_during_a_takeover_and_failback(tmp_path):
    require_netns()
    prefix = unique_prefix()
    try:
        session = sessions.up(prefix=prefix)
        lab = session.lab
        node1 = lab["node1"]
        events = node1.root / "events.jsonl"
        hook = node1.root / "hook.sh"
        hook.write_text(f"#!/bin/sh\ncat >> {events}\necho >> {events}\n")
        hang = node1.root / "hang.sh"
        hang.write_text("#!/bin/sh\nexec sleep 600\n")
        for script in (hook, hang):
            script.chmod(0o755)
        (node1.config_dir / "hbd.cf").write_text(textwrap.dedent(f"""\
            metrics 127.0.0.1:9694
            notify {hang}
            notify {hook}
            notify_timeout 1
            """))
        node1.stop()
        node1.start()
        wait_for(lambda: metric(scrape(node1), "hbd_comm_up") == 1.0, timeout=20,
                 what="node1's metrics endpoint, communications up")
        installed = os.environ.get(DAEMON_ENV)
        if installed:       # packaging/test-deb.sh: the drill runs the installed package's hbd
            with open(f"/proc/{node1.pid()}/cmdline", "rb") as handle:
                argv = handle.read().decode().split("\0")
            assert installed.split()[0] in argv, argv
        session.services.watch()
        result = DrillRunner(lab, HbdSystem(lab), session.services,
                             deadtime=session.deadtime).run("poweroff", ("node0",))
        assert result.problems == [], result.problems     # the hanging hook delayed nothing
        text = scrape(node1)
        assert metric(text, "hbd_takeovers_total", group=GROUP1) == 1.0, text
        assert metric(text, "hbd_peer_deaths_total", peer="node0") is not None
        wait_for(lambda: metric(scrape(node1), "hbd_group_held", group=GROUP1) == 0.0,
                 timeout=10, what="node1's scrape to show vip1 handed back")
        def order() -> list[str]:
            text = events.read_text() if events.exists() else ""
            return [json.loads(line)["event"] for line in text.splitlines() if line.strip()]
        # hooks run one event at a time, each after the hanging one is killed (1 s)
        wait_for(lambda: "group_lost" in order(), timeout=60, what="the hook to see group_lost")
        order = order()
        wanted = ["peer_dead", "group_gained", "group_lost"]
        seen = [e for e in order if e in wanted or e.startswith("peer_")]
        assert seen.index("peer_dead") < seen.index("group_gained") < seen.index("group_lost")
        assert any(e in ("peer_returned", "peer_joined") for e in seen), order
        status = json.loads(node1.ns.run([*command(HBCTL_ENV, "hbd.cli"), "--run-dir",
                                          str(node1.run_dir), "status", "--json"]).stdout)
        assert status["daemon"]["notify"].get("timeout", 0) >= 1, status["daemon"]["notify"]
    finally:
        sessions.down(prefix)

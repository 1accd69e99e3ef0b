"""`hbd restore` after an unclean exit, and start-up that refuses to join unrestored.

The scenario's cluster (`hbd_lab.cluster.Lab`, timings scaled down): node1
stands in for node0 (absent), holding vip1's whole identity, and is killed
with SIGKILL; `hbd restore` (what systemd's ExecStopPost runs) then gives
node1 back its own IP, MAC, hostname and default route. It is run as
`python -m hbd.commands.restore`, the module `hbd restore` maps to.
"""

from __future__ import annotations

import os
import sys

from hbd_lab.cluster import node_mac, render_authkeys, render_hacf, scenario_template, wait_for
from hbd.resources.journal import JOURNAL_NAME, Journal, JournalFile

FAST = {"keepalive": "200ms", "deadtime": "1", "warntime": "600ms", "initdead": "2",
        "deadping": "1"}
VIP1, VMAC1 = "192.168.32.21/24", "00:1e:68:1e:99:5e"


def install(lab) -> None:
    for name, node in lab.nodes.items():
        hacf, hares = scenario_template(name)
        node.install(render_hacf(hacf, timings=FAST, media=["bcast eth2"]), hares,
                     render_authkeys())


def holds_vip1(node) -> bool:
    return (VIP1 in node.addresses() and node.mac() == VMAC1 and node.hostname() == "nodevir"
            and node.default_routes() == ["192.168.32.254 eth0"])


def is_itself(node, address: str) -> bool:
    return (node.addresses() == [address] and node.mac() == node_mac(node.name, 0)
            and node.hostname() == node.name and node.default_routes() == ["192.168.32.254 eth0"])


def restore(node):
    return node.ns.run([sys.executable, "-m", "hbd.commands.restore", "--state-dir",
                        str(node.state_dir)], check=False, timeout=30)


def test_restore_after_sigkill_makes_the_node_itself_again(make_lab):
    lab = make_lab()
    install(lab)
    lab["node2"].start()
    lab["node1"].start()
    node1 = lab["node1"]
    wait_for(lambda: holds_vip1(node1), timeout=20, what="node1 to hold vip1")
    running = restore(node1)             # a running daemon keeps its identity
    assert running.returncode == 2 and "stop it first" in running.stderr
    assert holds_vip1(node1)
    node1.kill()
    assert holds_vip1(node1)             # nothing released it

    done = restore(node1)

    assert done.returncode == 0, done.stderr
    assert "recovered IPaddr::192.168.32.21" in done.stdout
    assert is_itself(node1, "192.168.32.31/24")
    assert not (node1.state_dir / JOURNAL_NAME).exists()
    again = restore(node1)
    assert again.returncode == 0 and "nothing to restore" in again.stdout


def test_start_refuses_to_join_while_recovery_fails(make_lab):
    lab = make_lab(("node0", "node1"))
    install(lab)
    node1 = lab["node1"]
    journal = Journal()
    journal.push(journal.open_stack("hostname", "", "x" * 100), "Hostname::nodevir", "nodevir")
    os.makedirs(node1.state_dir, exist_ok=True)
    JournalFile(str(node1.state_dir)).save(journal)      # an original no kernel accepts

    run = node1.ns.run(node1.argv(), check=False, timeout=30)

    assert run.returncode == 1, run.stderr
    assert "could not recover hostname" in run.stderr and "refusing to join" in run.stderr
    assert "hbd started" not in run.stderr and "Traceback" not in run.stderr
    failed = restore(node1)
    assert failed.returncode == 1 and "could not recover hostname" in failed.stdout
    assert (node1.state_dir / JOURNAL_NAME).exists()

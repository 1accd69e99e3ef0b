"""The example configurations shipped in conf/node0, conf/node1 and conf/node2.

They describe the source scenario's three-node N+1 cluster: node0 and node2
are primaries, node1 backs both up. They must pass check-config (after the
copy-and-chmod a git checkout needs), agree with each other, and node1's
summary must say it takes over both groups first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hbd.config.agents import AgentDirs
from hbd.config.load import load_config
from hbd.config.model import AuthMethod, AutoFailback, Bcast
from hbd.main import main
from tests.configs.helpers import CONF, check_args, copy_config, run_subprocess

NODES = ("node0", "node1", "node2")


@pytest.mark.parametrize("node", NODES)
def test_shipped_config_passes_with_only_the_single_link_warning(
        node: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = copy_config(CONF / node, tmp_path / node)
    rc = main(check_args(conf, node, tmp_path / "init.d"))
    output = capsys.readouterr().out
    assert rc == 0, output
    assert output.rstrip().endswith("0 error(s), 2 warning(s): configuration OK")
    # the scenario has one heartbeat LAN (bcast eth2) and no STONITH: said once, with what
    # helps; and the shipped authkeys carries the example key, which must be changed
    warnings = [line for line in output.splitlines() if ": warning: " in line]
    [key] = [w for w in warnings if "/authkeys:" in w]
    assert "example" in key.lower()
    [warning] = [w for w in warnings if w is not key]
    assert warning.startswith(f"{conf}/ha.cf:") and "a single heartbeat link (eth2) and no STONITH" in warning
    assert "A second medium" in warning and "STONITH ('stonith_host ...')" in warning
    assert f"{node} (this node)" in output


def test_node1_summary_says_node1_backs_up_both_groups(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    conf = copy_config(CONF / "node1", tmp_path / "node1")
    assert main(check_args(conf, "node1", tmp_path / "init.d")) == 0
    output = capsys.readouterr().out
    assert "nodes (priority order): node0, node2, node1 (this node)" in output
    assert "auth: auth 1, sha1" in output
    groups = output.split("  group ")[1:]
    assert len(groups) == 2
    assert "primary: node0" in groups[0] and "primary: node2" in groups[1]
    for group in groups:
        assert "backup: node1 (this node) takes it over first" in group
    assert "then node2" in groups[0] and "then node0" in groups[1]


def test_shipped_nodes_share_ha_cf_haresources_and_authkeys() -> None:
    for name in ("ha.cf", "haresources", "authkeys"):
        texts = {(CONF / node / name).read_text() for node in NODES}
        assert len(texts) == 1, name


def test_shipped_config_contents(tmp_path: Path) -> None:
    conf = copy_config(CONF / "node0", tmp_path / "node0")
    config, problems = load_config(str(conf), "node0", authkeys_owner=os.getuid(),
                                   dirs=AgentDirs(str(conf / "resource.d"), "", ""))
    assert config is not None, problems
    assert config.nodes == ("node0", "node2", "node1")
    assert config.hacf.media == (Bcast("eth2"),)
    assert (config.keepalive, config.deadtime, config.warntime, config.initdead,
            config.deadping) == (2.0, 60.0, 20.0, 240.0, 60.0)
    assert config.auto_failback is AutoFailback.ON
    assert config.authkeys.signing_key.method is AuthMethod.SHA1
    vip1 = config.groups[0]
    assert [r.name for r in vip1.start_order()] == ["IPaddr", "MacAddr", "Hostname", "DefaultRoute"]
    assert vip1.resources[1].args == ("eth0", "00:1E:68:1E:99:5E")


@pytest.mark.parametrize("node", NODES)
def test_script_form_passes_on_every_node(node: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    conf = copy_config(CONF / node, tmp_path / node)
    (conf / "haresources").write_text("node0 Remac1\nnode2 Remac2\n")
    assert main(check_args(conf, node, tmp_path / "init.d")) == 0
    output = capsys.readouterr().out
    assert f"Remac1 (script {conf}/resource.d/Remac1)" in output


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
@pytest.mark.parametrize("script", sorted(str(p.relative_to(CONF))
                                          for p in CONF.glob("node*/resource.d/*")))
def test_remac_scripts_are_valid_bash_restoring_their_own_node(script: str) -> None:
    path = CONF / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    subprocess.run(["bash", "-n", str(path)], check=True)
    text = path.read_text()
    node = script.split("/")[0]
    own = {"node0": "192.168.32.30", "node1": "192.168.32.31", "node2": "192.168.32.32"}[node]
    assert f"RHOST={node}\n" in text and f"RIP={own}\n" in text
    assert "/sbin/ifconfig" not in text and "route add" not in text
    assert 'echo "Remac' in text and "is running" in text and "is stopped" in text


def test_demo_command_works_as_a_subprocess_taking_the_node_from_nodeinfo(tmp_path: Path) -> None:
    conf = copy_config(CONF / "node1", tmp_path / "node1")
    args = check_args(conf, "node1", tmp_path / "init.d")
    del args[args.index("--node"):args.index("--node") + 2]
    result = run_subprocess(args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "backup: node1 (this node) takes it over first" in result.stdout

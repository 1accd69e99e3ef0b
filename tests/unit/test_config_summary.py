"""The check-config summary and the command's options and exit codes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hbd.config.model import (AuthKeys, ClusterConfig, HaCf, Mcast, PingNode, Resource,
                              ResourceGroup, Ucast)
from hbd.config.summary import format_summary
from hbd.main import main

# two heartbeat links (eth1, eth2): no single-link warning in the counts below
HACF = "keepalive 1\ndeadtime 10\nbcast eth1 eth2\nauto_failback on\nnode node0 node1\n"


def config(**kwargs) -> ClusterConfig:
    hacf = HaCf(nodes=("node0", "node2", "node1"), media=(Ucast("eth1", "10.0.0.2"),
                Mcast("eth2", "225.0.0.1", 694, 1, False)),
                ping_nodes=(PingNode("10.0.0.254", ("10.0.0.254",)),
                            PingNode("gw", ("10.0.0.1", "10.0.0.2"), True)), **kwargs)
    groups = (ResourceGroup("node0", (Resource("IPaddr", ("10.0.0.5",)), Resource("svc")), 1),
              ResourceGroup("node2", (Resource("IPaddr", ("10.0.0.6",)),), 2))
    return ClusterConfig("node1", hacf, groups, AuthKeys.single("crc"), "/etc/ha.d")


def test_summary_lists_everything_with_this_node_marked() -> None:
    text = format_summary(config(), {"svc": "/etc/ha.d/resource.d/svc"})
    assert "nodes (priority order): node0, node2, node1 (this node)" in text
    assert "media: ucast eth1 to 10.0.0.2, mcast eth2 group 225.0.0.1 port 694 ttl 1 loop 0 (UDP port 694)" in text
    assert "timings: keepalive 1s, deadtime 30s, warntime 15s, initdead 30s, deadping 30s" in text
    assert "auth: auth 1, crc: UNAUTHENTICATED - integrity only" in text
    assert "auto_failback: legacy (deprecated)" in text
    assert "ping nodes: 10.0.0.254" in text and "ping groups: gw = 10.0.0.1 10.0.0.2" in text
    assert "start order: IPaddr::10.0.0.5 (native), svc (script /etc/ha.d/resource.d/svc)" in text
    assert "stop order: svc, IPaddr::10.0.0.5" in text
    assert "backup: node1 (this node) takes it over first, then node2" in text
    assert "backup: node1 (this node) takes it over first, then node0" in text


def test_summary_of_a_single_node_cluster_has_no_backup() -> None:
    base = config()
    alone = ClusterConfig("node0", HaCf(nodes=("node0",), media=base.hacf.media), base.groups[:1],
                          AuthKeys.single("sha1", "k"), "/x")
    text = format_summary(alone)
    assert "backup: none" in text and "HMAC" in text and "ping nodes: none" in text


def write(tmp_path: Path, haresources: str = "node0 10.0.0.5 svc\n") -> Path:
    conf = tmp_path / "conf"
    (conf / "scripts").mkdir(parents=True)
    (conf / "ha.cf").write_text(HACF)
    (conf / "haresources").write_text(haresources)
    (conf / "authkeys").write_text("auth 1\n1 sha1 k\n")
    os.chmod(conf / "authkeys", 0o600)
    script = conf / "scripts" / "svc"
    script.write_text("#!/bin/sh\necho running\n")
    os.chmod(script, 0o755)
    return conf


def run(conf: Path, *extra: str) -> list[str]:
    return ["check-config", "--config-dir", str(conf), "--authkeys-owner", str(os.getuid()), *extra]


def test_command_uses_nodeinfo_and_resource_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write(tmp_path)
    (conf / "nodeinfo").write_text("node1\n")
    assert main(run(conf, "--resource-dir", str(conf / "scripts"), "--init-dir", str(tmp_path))) == 0
    out = capsys.readouterr().out
    assert "as node node1 sees it" in out and f"svc (script {conf}/scripts/svc)" in out
    assert out.rstrip().endswith("0 error(s), 0 warning(s): configuration OK")


def test_command_warnings_keep_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write(tmp_path, haresources="node0 10.0.0.5\n")
    with open(conf / "ha.cf", "a") as handle:
        handle.write("compression bz2\n")
    assert main(run(conf, "--node", "node0")) == 0
    out = capsys.readouterr().out
    assert f"{conf}/ha.cf:6: warning: hbd does not implement 'compression' yet" in out
    assert "0 error(s), 1 warning(s): configuration OK" in out


def test_command_errors_exit_1_without_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write(tmp_path)
    assert main(run(conf, "--node", "node0", "--init-dir", str(tmp_path))) == 1
    out = capsys.readouterr().out
    assert "resource script 'svc' not found" in out and "nodes (priority order)" not in out


def test_command_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config-dir", str(tmp_path / "nope"), "--node", "n"]) == 1
    assert "configuration directory not found" in capsys.readouterr().out

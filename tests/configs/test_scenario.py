"""The source scenario's own files, copied as written, through hbd's checker.

tests/configs/scenario/nodeN/ hold the text of the tutorial's sections 1.1-1.4
(node0), 2.1-2.4 (node1) and 3.1-3.4 (node2): comments, odd spacing, the
no-break spaces pasted from the web page and the prose lines. README.md next to
them explains each problem. These tests pin the exact list of problems.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hbd.config.agents import AgentDirs
from hbd.config.hacf import parse_hacf
from hbd.config.haresources import parse_haresources
from hbd.config.load import load_config
from hbd.config.model import AutoFailback, Bcast, ClientKind, PingNode, Problem
from hbd.main import main
from tests.configs.helpers import SCENARIO, brief, check_args, copy_config

E, W = "error", "warning"
AUTHKEYS = [("authkeys", 11, W, "auth is also set on line 1"),
            ("authkeys", 11, W, "signs with crc"),
            ("authkeys", 13, W, "key index 1 is already defined on line 3")]
EXPECTED = {
    "node0": [
        ("ha.cf", 3, W, "U+00A0 on this line and 15 more"),
        ("ha.cf", 11, W, "a single heartbeat link (eth2) and no STONITH"),
        ("ha.cf", 31, W, "udpport comes after the media line 11"),
        ("ha.cf", 53, E, "Illegal directive '如果系統"),
        ("ha.cf", 69, W, "apiauth pingd: hbd has no heartbeat API for pingd"),
        ("ha.cf", 69, W, "apiauth pingd with Pacemaker on: heartbeat 3.0.6 adds 'apiauth pingd' itself"),
        ("ha.cf", 71, W, "hbd does not run it: pingd fed ping scores to Pacemaker"),
        ("ha.cf", 71, W, "respawn program /usr/local/ha/lib/heartbeat/pingd does not exist"),
        ("ha.cf", 77, W, "'crm respawn' turns Pacemaker on: heartbeat 3.0.6 then ignores haresources"),
        ("ha.cf", 85, W, "hbd does not implement 'compression' yet"),
        ("ha.cf", 87, W, "hbd does not implement 'compression_threshold' yet"),
        ("haresources", 1, W, "unusual blank character on this line and"),
        ("haresources", 5, E, "'node-name' is not a node declared in ha.cf (declared: node0, node1)"),
        ("haresources", 11, E, "'OCF:Open' is not a node declared"),
        ("haresources", 15, E, "'LSB格式的腳本"),
        ("haresources", 17, E, "'例如LSB"),
        ("haresources", 21, E, "resource script 'Filesystem' not found"),
        ("haresources", 21, E, "resource script 'httpd' not found"),
        ("haresources", 21, E, "resource script 'tomcat' not found"),
        *AUTHKEYS],
    "node1": [
        ("ha.cf", None, E, "no communication media"),
        ("ha.cf", 5, W, "U+00A0 on this line and 3 more"),
        ("ha.cf", 27, W, "hbd does not run it: ipfail moved groups away"),
        ("ha.cf", 27, W, "respawn program /usr/lib/heartbeat/ipfail does not exist"),
        ("ha.cf", 29, W, "apiauth ipfail: hbd has no heartbeat API for ipfail"),
        *AUTHKEYS],
    "node2": [
        ("ha.cf", None, E, "no communication media"),
        ("ha.cf", 5, W, "U+00A0 on this line and 2 more"),
        ("ha.cf", 25, W, "hbd does not run it: ipfail moved groups away"),
        ("ha.cf", 25, W, "respawn program /usr/lib/heartbeat/ipfail does not exist"),
        ("ha.cf", 27, W, "apiauth ipfail: hbd has no heartbeat API for ipfail"),
        *AUTHKEYS],
}


def expected_for(node: str) -> list[tuple[str, int | None, str, str]]:
    """The expected problems; a respawn program that exists here gives no warning."""
    items = []
    for item in EXPECTED[node]:
        program = item[3].split(" ")[2] if item[3].startswith("respawn program") else None
        if program and os.path.isfile(program) and os.access(program, os.X_OK):
            continue
        items.append(item)
    return items


def load(node: str, tmp_path: Path) -> tuple[object, list[Problem], Path]:
    conf = copy_config(SCENARIO / node, tmp_path / node)
    config, problems = load_config(str(conf), node, authkeys_owner=os.getuid(),
                                   dirs=AgentDirs(str(conf / "resource.d"), str(tmp_path / "init.d"), ""))
    return config, problems, conf


@pytest.mark.parametrize("node", sorted(EXPECTED))
def test_scenario_files_report_exactly_these_problems(node: str, tmp_path: Path) -> None:
    config, problems, _ = load(node, tmp_path)
    expected = expected_for(node)
    assert config is None
    assert brief(problems) == [(f, line, sev) for f, line, sev, _ in expected]
    for problem, (_, _, _, fragment) in zip(problems, expected, strict=False):
        assert fragment in problem.message, (problem, fragment)


@pytest.mark.parametrize("node", sorted(EXPECTED))
def test_scenario_check_config_exits_1_and_prints_each_problem(
        node: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = copy_config(SCENARIO / node, tmp_path / node)
    assert main(check_args(conf, node, tmp_path / "init.d")) == 1
    output = capsys.readouterr().out
    for name, line, severity, fragment in expected_for(node):
        where = f"{conf}/{name}" + (f":{line}" if line else "") + f": {severity}: "
        assert any(ln.startswith(where) and fragment in ln for ln in output.splitlines()), where


def test_node0_ha_cf_as_hbd_reads_it() -> None:
    text = (SCENARIO / "node0" / "ha.cf").read_text(encoding="utf-8")
    hacf, _ = parse_hacf(text, "ha.cf")
    assert hacf.nodes == ("node0", "node1")          # node2 is missing from node0's file
    assert hacf.media == (Bcast("eth2"),)
    assert (hacf.keepalive, hacf.deadtime, hacf.warntime, hacf.initdead) == (2.0, 60.0, 20.0, 240.0)
    assert hacf.deadping == 60.0                      # default: deadtime
    assert hacf.auto_failback is AutoFailback.ON
    assert hacf.ping_nodes == (PingNode("192.168.32.254", ("192.168.32.254",)),
                               PingNode("group1", ("192.168.12.251", "192.168.12.239"), True))
    assert hacf.respawn[0].argv == ("/usr/local/ha/lib/heartbeat/pingd", "-m", "100", "-d", "5s")
    assert hacf.respawn[0].command == "/usr/local/ha/lib/heartbeat/pingd -m 100 -d 5s"
    assert hacf.respawn[0].kind is ClientKind.API_CLIENT and hacf.respawned == ()
    assert hacf.crm is True                           # crm respawn: accepted, haresources still run
    assert hacf.compression == "bz2" and hacf.logfile == "/var/log/ha-log"


def test_node0_haresources_groups_as_written() -> None:
    text = (SCENARIO / "node0" / "haresources").read_text(encoding="utf-8")
    groups, _ = parse_haresources(text, "haresources", ("node0", "node1"))
    assert [(g.primary, g.key, g.line) for g in groups] == [
        ("node0", "Remac1", 1), ("node1", "IPaddr::192.168.60.200/24/eth0/", 21)]
    assert [r.name for r in groups[1].start_order()] == ["IPaddr", "Filesystem", "httpd", "tomcat"]


def test_node1_scenario_passes_once_its_two_errors_are_fixed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = copy_config(SCENARIO / "node1", tmp_path / "node1")
    with open(conf / "ha.cf", "a", encoding="utf-8") as handle:
        handle.write("bcast eth2\n")
    (conf / "authkeys").write_text("auth 1\n1 crc\n")
    assert main(check_args(conf, "node1", tmp_path / "init.d")) == 0
    output = capsys.readouterr().out
    assert "UNAUTHENTICATED" in output
    assert output.count("backup: node1 (this node) takes it over first") == 2
    assert f"Remac2 (script {conf}/resource.d/Remac2)" in output


def test_node0_scenario_with_crm_respawn_loads_once_its_prose_lines_are_fixed(tmp_path: Path) -> None:
    """The source document's node0: `crm respawn`, `respawn ... pingd`, `apiauth pingd` and a
    haresources stay as written; only what heartbeat refuses as well is fixed (the prose
    line without '#', the tutorial's explanation lines, the duplicated authkeys)."""
    conf = copy_config(SCENARIO / "node0", tmp_path / "node0")
    lines = (conf / "ha.cf").read_text(encoding="utf-8").split("\n")
    lines[52] = "#" + lines[52]
    (conf / "ha.cf").write_text("\n".join(lines), encoding="utf-8")
    (conf / "haresources").write_text("node0 Remac1\n")
    (conf / "authkeys").write_text("auth 1\n1 crc\n")
    config, problems = load_config(str(conf), "node0", authkeys_owner=os.getuid(),
                                   dirs=AgentDirs(str(conf / "resource.d"), str(tmp_path / "init.d"), ""))
    assert config is not None, [str(p) for p in problems if p.severity.value == "error"]
    assert config.hacf.crm is True and [g.key for g in config.groups] == ["Remac1"]
    assert config.hacf.respawned == ()                # pingd is replaced, not run
    assert any("'crm respawn' turns Pacemaker on" in p.message for p in problems)

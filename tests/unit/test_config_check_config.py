"""One loading entry point (LoadOptions), whole-configuration checks, check-config's options
and its --json document."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from hbd.commands.check_config import load, load_options
from hbd.config.crosscheck import check_redundancy, check_settings
from hbd.config.load import LoadOptions, load_cluster
from hbd.config.model import Bcast, ClientKind, HaCf, Severity, Stonith, Ucast
from hbd.config.settings import HbdSettings, StopFailure
from hbd.main import build_parser, main

HACF = "keepalive 1\ndeadtime 10\nbcast eth1 eth2\nauto_failback on\nnode node0 node1\n"
UID = os.getuid()
IPFAIL = "/usr/libexec/heartbeat/ipfail"


def make(tmp_path: Path, hacf: str = HACF, hbdcf: str | None = None) -> Path:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "ha.cf").write_text(hacf)
    (conf / "haresources").write_text("node0 10.0.0.5/24/eth0\n")
    (conf / "authkeys").write_text("auth 1\n1 sha1 secret\n")
    os.chmod(conf / "authkeys", 0o600)
    if hbdcf is not None:
        (conf / "hbd.cf").write_text(hbdcf)
    return conf


def options(conf: Path, **kwargs) -> LoadOptions:
    return LoadOptions(str(conf), kwargs.pop("node_name", "node0"), resource_dir="", init_dir="",
                       ocf_root="", authkeys_owner=UID, **kwargs)


# --- LoadOptions and load_cluster ----------------------------------------------------

def test_hbd_cf_is_read_into_the_configuration(tmp_path: Path) -> None:
    conf = make(tmp_path, hbdcf="quorum on\nnotify /no/such/hook\n")
    config, problems = load_cluster(options(conf))
    assert config is not None and config.hbd.quorum is True
    assert config.hbd.source == str(conf / "hbd.cf")
    assert [(Path(p.source).name, p.line) for p in problems] == [("hbd.cf", 1), ("hbd.cf", 2)]
    assert "quorum on has no effect with 2 node(s)" in problems[0].message
    assert "notify program /no/such/hook does not exist" in problems[1].message


def test_no_hbd_cf_means_the_defaults(tmp_path: Path) -> None:
    config, problems = load_cluster(options(make(tmp_path)))
    assert config is not None and problems == [] and config.hbd == HbdSettings()


def test_an_error_in_hbd_cf_refuses_the_configuration(tmp_path: Path) -> None:
    config, problems = load_cluster(options(make(tmp_path, hbdcf="quorum sometimes\n")))
    assert config is None and problems[0].source.endswith("hbd.cf") and problems[0].line == 1


def test_missing_directory_is_a_problem(tmp_path: Path) -> None:
    config, problems = load_cluster(LoadOptions(str(tmp_path / "nope")))
    assert config is None and "configuration directory not found" in problems[0].message


def test_resource_dir_none_is_the_default_and_empty_is_no_directory() -> None:
    assert LoadOptions("/c").agent_dirs.resource_d == "/c/resource.d"
    assert LoadOptions("/c", resource_dir="").agent_dirs.resource_d == ""


def test_a_host_name_peer_is_resolved_with_the_options_resolver(tmp_path: Path) -> None:
    conf = make(tmp_path, hacf=HACF + "ucast eth1 node1.example\n")
    config, _ = load_cluster(options(conf, resolve_host=lambda name: "10.0.0.7"))
    assert config is not None and Ucast("eth1", "10.0.0.7") in config.hacf.media
    config, problems = load_cluster(options(conf))
    assert config is None and "cannot be resolved here" in problems[0].message


def test_a_program_linking_heartbeats_api_is_not_run(tmp_path: Path) -> None:
    if not os.path.exists(IPFAIL):
        if os.environ.get("CI") == "true":
            pytest.fail("heartbeat is not installed in CI")
        pytest.skip("heartbeat is not installed (it provides a real API client binary)")
    renamed = tmp_path / "watcher"                 # an API client under a name hbd cannot know
    shutil.copy(IPFAIL, renamed)
    os.chmod(renamed, 0o755)
    conf = make(tmp_path, hacf=HACF + f"respawn root {renamed} -q\nrespawn root /bin/sh -c true\n")
    config, problems = load_cluster(options(conf))
    assert config is not None
    watcher, shell = config.hacf.respawn
    assert watcher.kind is ClientKind.API_CLIENT and shell.kind is ClientKind.PROGRAM
    assert config.hacf.respawned == (shell,)
    assert any("links heartbeat's client library" in p.message and p.line == 6 for p in problems)


def test_respawn_checks_missing_programs_and_users_as_heartbeat_would(tmp_path: Path) -> None:
    conf = make(tmp_path, hacf=HACF + "respawn nosuchuser-hbd /bin/sh\nrespawn root /no/prog\n")
    config, problems = load_cluster(options(conf))
    assert config is not None                       # hbd starts without them; heartbeat would not
    messages = [p.message for p in problems]
    assert any("user 'nosuchuser-hbd' does not exist" in m and "Invalid uid" in m for m in messages)
    assert any("respawn program /no/prog does not exist" in m and "go back to heartbeat" in m
               for m in messages)


# --- whole-configuration checks ---------------------------------------------------------

def test_single_link_without_stonith_says_what_each_remedy_adds() -> None:
    hacf = HaCf(nodes=("a", "b"), media=(Bcast("eth2"), Ucast("eth2", "10.0.0.2")),
                lines=(("bcast", 3), ("ucast", 2)))
    [problem] = check_redundancy(hacf, HbdSettings(), "ha.cf")
    assert problem.severity is Severity.WARNING and problem.line == 2
    assert "a single heartbeat link (eth2) and no STONITH" in problem.message
    assert "A second medium on another network" in problem.message
    assert "STONITH ('stonith_host ...') makes the node that takes over power" in problem.message
    two_links = HaCf(nodes=("a", "b"), media=(Bcast("eth2"), Bcast("eth0")))
    fenced = HaCf(nodes=("a", "b"), media=(Bcast("eth2"),), stonith=(Stonith("null", ("b",)),))
    alone = HaCf(nodes=("a",), media=(Bcast("eth2"),))
    assert [check_redundancy(h, HbdSettings(), "ha.cf") for h in (two_links, fenced, alone)] == [[]] * 3


def test_fencing_settings_need_a_stonith_device() -> None:
    hacf = HaCf(nodes=("a", "b"), media=(Bcast("eth2"),))
    settings = HbdSettings(on_stop_failure=StopFailure.FENCE, fence_delay=1.0)
    severities = [p.severity for p in check_settings(hacf, settings, "hbd.cf")]
    assert severities == [Severity.ERROR, Severity.WARNING]


# --- check-config -----------------------------------------------------------------------

def test_the_global_config_dir_is_not_overridden_by_the_sub_command(tmp_path: Path) -> None:
    conf = make(tmp_path)
    args = build_parser("check-config").parse_args(["--config-dir", str(conf), "--init-dir", "/x",
                                                    "check-config", "--node", "node0"])
    opts = load_options(args)
    assert (opts.config_dir, opts.init_dir, opts.node_name) == (str(conf), "/x", "node0")
    args = build_parser("check-config").parse_args(["check-config", "--config-dir", str(conf)])
    assert load_options(args).config_dir == str(conf)
    args = build_parser("check-config").parse_args(["check-config"])
    assert load_options(args).config_dir == "/etc/ha.d"


def test_hbd_config_dir_x_check_config_checks_x(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    conf = make(tmp_path)
    rc = main(["--config-dir", str(conf), "check-config", "--node", "node0",
               "--authkeys-owner", str(UID)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"Configuration in {conf} as node node0 sees it" in out


def test_the_old_load_wrapper_is_load_cluster(tmp_path: Path) -> None:
    conf = make(tmp_path)
    args = build_parser("check-config").parse_args(
        ["check-config", "--config-dir", str(conf), "--authkeys-owner", str(UID)])
    config, problems = load(args, "node0")
    assert config is not None and problems == [] and config.node_name == "node0"


def test_json_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = make(tmp_path, hacf=HACF.replace("node node0 node1", "node node0 node1 node2")
                + "compression bz2\n")
    (conf / "haresources").write_text("node0 10.0.0.5/24/eth0\nnode2 10.0.0.6/24/eth0\n")
    assert main(["check-config", "--config-dir", str(conf), "--node", "node1",
                 "--authkeys-owner", str(UID), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == 1 and doc["valid"] is True and doc["node"] == "node1"
    assert (doc["errors"], doc["warnings"]) == (0, 1)
    assert doc["problems"] == [{"file": f"{conf}/ha.cf", "line": 6, "severity": "warning",
                                "message": doc["problems"][0]["message"]}]
    assert doc["nodes"] == ["node0", "node1", "node2"]
    assert doc["groups"] == [
        {"key": "IPaddr::10.0.0.5/24/eth0", "line": 1, "primary": "node0",
         "resources": ["IPaddr::10.0.0.5/24/eth0"], "backup": ["node1", "node2"]},
        {"key": "IPaddr::10.0.0.6/24/eth0", "line": 2, "primary": "node2",
         "resources": ["IPaddr::10.0.0.6/24/eth0"], "backup": ["node1", "node0"]}]


def test_json_of_a_refused_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = make(tmp_path, hacf=HACF + "bogus\n")
    assert main(["check-config", "--config-dir", str(conf), "--node", "node0",
                 "--authkeys-owner", str(UID), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False and doc["errors"] == 1
    assert doc["nodes"] is None and doc["groups"] is None
    assert doc["problems"][0]["severity"] == "error" and doc["problems"][0]["line"] == 6

"""load_config: reading a directory, authkeys permissions, script look-up, ordering."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hbd.config.agents import AgentDirs
from hbd.config.load import load_config, load_or_raise, local_node_name
from hbd.config.model import ConfigError, Severity

# two heartbeat links (eth1, eth2): no single-link warning in the counts below
HACF = "keepalive 1\ndeadtime 10\nbcast eth1 eth2\nauto_failback on\nnode node0 node1\n"
UID = os.getuid()


def make(tmp_path: Path, hacf: str = HACF, haresources: str | None = "node0 10.0.0.5/24/eth0\n",
         authkeys: str = "auth 1\n1 sha1 secret\n", mode: int = 0o600) -> Path:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "ha.cf").write_text(hacf)
    if haresources is not None:
        (conf / "haresources").write_text(haresources)
    (conf / "authkeys").write_text(authkeys)
    os.chmod(conf / "authkeys", mode)
    return conf


def load(conf: Path, node: str | None = "node0", **kwargs):
    kwargs.setdefault("authkeys_owner", UID)
    kwargs.setdefault("dirs", AgentDirs(str(conf / "resource.d"), str(conf / "init.d"), ""))
    return load_config(str(conf), node, **kwargs)


def messages(problems, severity=Severity.ERROR) -> list[str]:
    return [str(p) for p in problems if p.severity is severity]


def test_valid_directory_loads(tmp_path: Path) -> None:
    conf = make(tmp_path)
    config, problems = load(conf, "NODE0")
    assert problems == [] and config is not None
    assert config.node_name == "node0" and config.config_dir == str(conf)
    assert config.groups[0].key == "IPaddr::10.0.0.5/24/eth0"
    assert config.authkeys.signing_key.secret == b"secret"


def test_node_name_from_nodeinfo_then_uname(tmp_path: Path) -> None:
    conf = make(tmp_path)
    assert local_node_name(str(conf)) == os.uname().nodename.lower()
    (conf / "nodeinfo").write_text("Node1\nignored\n")
    assert local_node_name(str(conf)) == "node1"
    config, _ = load(conf, None)
    assert config is not None and config.node_name == "node1"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660])
def test_authkeys_with_any_group_or_other_bit_is_refused(tmp_path: Path, mode: int) -> None:
    conf = make(tmp_path, mode=mode)
    config, problems = load(conf)
    assert config is None
    assert messages(problems) == [f"{conf}/authkeys: error: has mode {mode:04o}: its keys are secrets "
                                  f"and no group or other permission is allowed: run "
                                  f"'chmod 600 {conf}/authkeys'"]


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_authkeys_owner_only_modes_are_accepted(tmp_path: Path, mode: int) -> None:
    config, problems = load(make(tmp_path, mode=mode))
    assert config is not None, problems


def test_authkeys_owner_must_match(tmp_path: Path) -> None:
    conf = make(tmp_path)
    config, problems = load(conf, authkeys_owner=UID + 1)
    assert config is None and f"run 'chown {UID + 1} {conf}/authkeys'" in messages(problems)[0]
    if UID != 0:
        _, problems = load(conf, authkeys_owner=0)
        assert "run 'chown root:root" in messages(problems)[0]


def test_authkeys_symlink_is_refused(tmp_path: Path) -> None:
    conf = make(tmp_path)
    os.rename(conf / "authkeys", conf / "real")
    os.symlink("real", conf / "authkeys")
    config, problems = load(conf)
    assert config is None and "is a symbolic link" in messages(problems)[0]


def test_unreadable_and_binary_files_become_problems(tmp_path: Path) -> None:
    conf = make(tmp_path)
    (conf / "ha.cf").write_bytes(b"keepalive 1\n\xc3\x28 bad\n")
    config, problems = load(conf)
    assert config is None
    assert messages(problems)[0].startswith(f"{conf}/ha.cf:2: error: not valid UTF-8 text (byte 0xc3 at column 1)")
    os.remove(conf / "ha.cf")
    os.mkdir(conf / "ha.cf")
    _, problems = load(conf)
    assert "is a directory" in messages(problems)[0]


def test_missing_haresources_is_only_a_warning(tmp_path: Path) -> None:
    config, problems = load(make(tmp_path, haresources=None))
    assert config is not None and config.groups == ()
    assert "manages no resource groups" in messages(problems, Severity.WARNING)[0]


def test_scripts_are_found_in_resource_dir_then_init_dir(tmp_path: Path) -> None:
    conf = make(tmp_path, haresources="node0 10.0.0.5 first second\n")
    for directory, name in (("resource.d", "first"), ("init.d", "second"), ("resource.d", "second")):
        path = conf / directory / name
        path.parent.mkdir(exist_ok=True)
        path.write_text("#!/bin/sh\n")
        os.chmod(path, 0o755 if directory == "init.d" or name == "first" else 0o644)
    config, problems = load(conf)
    assert config is not None, problems  # a non-executable resource.d/second falls through to init.d


@pytest.mark.parametrize("setup, fragment", [
    ("missing", "resource script 'svc' not found: looked for {conf}/resource.d/svc and {conf}/init.d/svc"),
    ("not-executable", "resource script {conf}/resource.d/svc is not executable: run 'chmod 755"),
    ("directory", "is not a regular file"),
])
def test_script_problems(tmp_path: Path, setup: str, fragment: str) -> None:
    conf = make(tmp_path, haresources="node0 10.0.0.5 svc\n")
    (conf / "resource.d").mkdir()
    if setup == "not-executable":
        (conf / "resource.d" / "svc").write_text("#!/bin/sh\n")
    elif setup == "directory":
        (conf / "resource.d" / "svc").mkdir()
    config, problems = load(conf)
    assert config is None
    assert messages(problems) == [m for m in messages(problems) if m.startswith(f"{conf}/haresources:1: error:")]
    assert fragment.format(conf=conf) in messages(problems)[0]


def test_misspelt_native_resource_gets_a_suggestion(tmp_path: Path) -> None:
    conf = make(tmp_path, haresources="node0 10.0.0.5 Macaddr::eth0::00:1E:68:1E:99:5E\n")
    _, problems = load(conf)
    assert "did you mean the native resource 'MacAddr'?" in messages(problems)[0]


def test_respawn_program_must_exist(tmp_path: Path) -> None:
    conf = make(tmp_path, hacf=HACF + "respawn hacluster /bin/sh\nrespawn hacluster /no/such/ipfail\n")
    config, problems = load(conf)
    assert config is not None
    missing = [p for p in problems if "does not exist" in p.message]
    assert [p.line for p in missing] == [7]


def test_this_node_must_be_declared(tmp_path: Path) -> None:
    _, problems = load(make(tmp_path), "node9")
    assert "this node 'node9' is not declared (nodes: node0, node1): add 'node node9'" in messages(problems)[0]


def test_problems_are_ordered_by_file_then_line(tmp_path: Path) -> None:
    conf = make(tmp_path, hacf="bogus\n" + HACF + "crm on\n", haresources="node7 x\n",
                authkeys="auth 1\n1 md5\n", mode=0o644)
    _, problems = load(conf)
    # ha.cf:7 twice: 'crm on' is a warning, and with no haresources group an error (Pacemaker cluster)
    assert [(Path(p.source).name, p.line) for p in problems] == [
        ("ha.cf", 1), ("ha.cf", 7), ("ha.cf", 7), ("haresources", 1), ("authkeys", None),
        ("authkeys", 1), ("authkeys", 2)]


def test_load_or_raise(tmp_path: Path) -> None:
    conf = make(tmp_path, hacf=HACF + "compression bz2\n")
    config, warnings = load_or_raise(str(conf), "node0", authkeys_owner=UID, dirs=AgentDirs("", "", ""))
    assert config.node_name == "node0" and len(warnings) == 1
    os.chmod(conf / "authkeys", 0o644)
    with pytest.raises(ConfigError) as info:
        load_or_raise(str(conf), "node0", authkeys_owner=UID, dirs=AgentDirs("", "", ""))
    assert "chmod 600" in str(info.value) and info.value.problems


def test_a_script_others_could_change_is_refused_where_the_daemon_would(tmp_path: Path) -> None:
    conf = make(tmp_path, haresources="node0 10.0.0.5 svc\n")
    script = conf / "resource.d" / "svc"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    os.chmod(script, 0o755)
    os.chmod(script.parent, 0o775)               # group-writable: anyone in it picks the code
    config, problems = load(conf)
    assert config is None
    assert any(f"unsafe script {script}: {script.parent} is writable by group: chmod g-w"
               in m for m in messages(problems)), problems

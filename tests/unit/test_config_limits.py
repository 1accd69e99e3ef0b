"""Caps on configuration input (issue 10): bounded reads, error-count caps, odd files."""

from __future__ import annotations

import os
from pathlib import Path

from hbd.config.limits import MAX_ERRORS, max_bytes
from hbd.config.load import LoadOptions, load_cluster, read_text
from hbd.config.model import Severity

HACF = "keepalive 1\ndeadtime 10\nbcast eth1 eth2\nauto_failback on\nnode node0 node1\n"
UID = os.getuid()


def make(tmp_path: Path) -> Path:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "ha.cf").write_text(HACF)
    (conf / "haresources").write_text("node0 10.0.0.5/24/eth0\n")
    (conf / "authkeys").write_text("auth 1\n1 sha1 secret\n")
    os.chmod(conf / "authkeys", 0o600)
    return conf


def load(conf: Path):
    return load_cluster(LoadOptions(str(conf), "node0", resource_dir="", init_dir="", ocf_root="",
                                    authkeys_owner=UID))


def of(problems, name: str):
    return [p for p in problems if Path(p.source).name == name]


def test_a_100_mib_haresources_is_one_error_naming_the_file(tmp_path: Path) -> None:
    conf = make(tmp_path)
    with open(conf / "haresources", "wb") as handle:   # sparse: creating it costs nothing
        handle.truncate(100 * 1024 * 1024)
    config, problems = load(conf)
    assert config is None
    [problem] = problems
    assert problem.source == str(conf / "haresources") and problem.severity is Severity.ERROR
    assert problem.line is None
    assert "file is 104857600 bytes, more than the 1024 KiB hbd reads" in problem.message


def test_every_file_has_a_cap_and_a_larger_read_is_refused(tmp_path: Path) -> None:
    assert {name: max_bytes(name) for name in ("ha.cf", "authkeys", "hbd.cf")} == {
        "ha.cf": 1024 * 1024, "authkeys": 64 * 1024, "hbd.cf": 256 * 1024}
    path = tmp_path / "ha.cf"
    path.write_text("node a\n" * 100)
    text, problems = read_text(str(path), limit=699)
    assert text is None and "file is 700 bytes" in problems[0].message
    text, problems = read_text(str(path), limit=700)
    assert text is not None and problems == []


def test_a_fifo_or_a_directory_is_refused_without_blocking(tmp_path: Path) -> None:
    conf = make(tmp_path)
    os.remove(conf / "ha.cf")
    os.mkfifo(conf / "ha.cf")             # no writer: a blocking open would hang here
    os.remove(conf / "haresources")
    os.mkdir(conf / "haresources")
    config, problems = load(conf)
    assert config is None
    assert "is not a regular file (a FIFO, device or socket)" in of(problems, "ha.cf")[0].message
    assert "is a directory" in of(problems, "haresources")[0].message


def test_parsing_stops_after_the_error_cap_with_one_closing_line(tmp_path: Path) -> None:
    conf = make(tmp_path)
    (conf / "haresources").write_text("bogus-node x\n" * 50_000)      # 650 KB, under the cap
    (conf / "ha.cf").write_text(HACF + "no_such_directive 1\n" * 50_000)
    (conf / "authkeys").write_text("auth 1\n1 sha1 k\n" + "99 none\n" * 5_000)
    config, problems = load(conf)
    assert config is None
    for name in ("ha.cf", "haresources", "authkeys"):
        mine = of(problems, name)
        assert len(mine) <= MAX_ERRORS + 2, name
        assert mine[-1].message.startswith("... and more errors"), name

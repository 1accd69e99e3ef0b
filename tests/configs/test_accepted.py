"""Real-world files that heartbeat 3.0.6 accepts and hbd used to refuse: hbd accepts them now.

Each directory under tests/configs/accepted/ holds a ha.cf whose first
comment says where it comes from, its haresources and authkeys, and:

* `expect.txt`: `FILE:LINE: warning: fragment` lines that hbd must print
  (what hbd does instead of what heartbeat does);
* `node.txt`: the node to check as;
* `stubs.txt` (optional): programs the files name that heartbeat insists on
  finding (a respawned pingd, Pacemaker's daemons), stubbed for the oracle.

`test_heartbeat_accepts_it_too` asks Debian's real heartbeat 3.0.6 about the
same files (`heartbeat_oracle.py`), so the corpus cannot drift into forms
heartbeat refuses. It needs root; in CI (CI=true) a missing privilege or
package is a failure, not a skip.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from hbd.main import main
from tests.configs.heartbeat_oracle import heartbeat_reads, unavailable
from tests.configs.helpers import CONFIGS, check_args, copy_config

ACCEPTED = CONFIGS / "accepted"
CASES = sorted(p.name for p in ACCEPTED.iterdir() if p.is_dir())
_EXPECT = re.compile(r"^(?P<where>\S+: warning:)\s*(?P<fragment>.*)$")


def node_of(case: str) -> str:
    return (ACCEPTED / case / "node.txt").read_text().strip()


def stubs_of(case: str) -> list[str]:
    path = ACCEPTED / case / "stubs.txt"
    return path.read_text().split() if path.exists() else []


def expectations(case: str) -> list[tuple[str, str]]:
    items = []
    for line in (ACCEPTED / case / "expect.txt").read_text().splitlines():
        if line.strip():
            match = _EXPECT.match(line)
            assert match, f"{case}/expect.txt: cannot read {line!r}"
            items.append((match["where"], match["fragment"]))
    return items


def test_every_case_names_its_source() -> None:
    assert CASES
    for case in CASES:
        assert (ACCEPTED / case / "ha.cf").read_text(encoding="utf-8").startswith("# Source: ")
        assert expectations(case)


@pytest.mark.parametrize("case", CASES)
def test_hbd_accepts_it_and_says_what_it_does_instead(
        case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = copy_config(ACCEPTED / case, tmp_path / "conf")
    rc = main(check_args(conf, node_of(case), tmp_path / "init.d"))
    output = capsys.readouterr().out
    assert rc == 0, output
    assert ": error: " not in output
    lines = output.splitlines()
    for where, fragment in expectations(case):
        prefix = f"{conf}/{where}"
        assert any(line.startswith(prefix) and fragment in line for line in lines), (
            f"{case}: no line starting {prefix!r} containing {fragment!r} in:\n{output}")


@pytest.mark.parametrize("case", CASES)
def test_heartbeat_accepts_it_too(case: str, tmp_path: Path) -> None:
    reason = unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"heartbeat oracle unavailable in CI: {reason}")
        pytest.skip(reason)
    verdict = heartbeat_reads(ACCEPTED / case, node_of(case), tmp_path, stubs_of(case))
    assert verdict.accepted, verdict.log

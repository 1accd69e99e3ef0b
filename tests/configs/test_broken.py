"""Every directory under tests/configs/broken/ is a configuration check-config must refuse.

Each case is a full ha.cf + haresources + authkeys (minimal, valid except for
one mistake) with an `expect.txt`: one `FILE[:LINE]: error: fragment` per line,
each of which must match a printed problem line. Optional: `args.txt` (extra
arguments), `mode.txt` (authkeys mode), and a `resource.d/`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hbd.main import main
from tests.configs.helpers import BROKEN, check_args, copy_config, run_subprocess

CASES = sorted(p.name for p in BROKEN.iterdir() if p.is_dir())
_EXPECT = re.compile(r"^(?P<where>\S+: (?:error|warning):)\s*(?P<fragment>.*)$")


def expectations(case: str) -> list[tuple[str, str]]:
    items = []
    for line in (BROKEN / case / "expect.txt").read_text().splitlines():
        if line.strip():
            match = _EXPECT.match(line)
            assert match, f"{case}/expect.txt: cannot read {line!r}"
            items.append((match["where"], match["fragment"]))
    return items


def extra_args(case: str) -> list[str]:
    path = BROKEN / case / "args.txt"
    return path.read_text().split() if path.exists() else []


def assert_reported(conf: Path, case: str, output: str) -> None:
    lines = output.splitlines()
    for where, fragment in expectations(case):
        prefix = f"{conf}/{where}"
        assert any(ln.startswith(prefix) and fragment in ln for ln in lines), (
            f"{case}: no line starting {prefix!r} containing {fragment!r} in:\n{output}")


def test_there_are_at_least_35_cases() -> None:
    assert len(CASES) >= 35
    for case in CASES:
        assert expectations(case), case


@pytest.mark.parametrize("case", CASES)
def test_broken_config_is_refused(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = copy_config(BROKEN / case, tmp_path / "conf")
    rc = main(check_args(conf, "node0", tmp_path / "init.d", extra_args(case)))
    output = capsys.readouterr().out
    assert rc == 1, output
    assert "Traceback" not in output
    assert_reported(conf, case, output)
    assert output.rstrip().endswith("configuration refused")


@pytest.mark.parametrize("case", ["unknown-directive", "authkeys-mode-644", "hacf-invalid-utf8",
                                  "haresources-missing-script"])
def test_broken_config_is_refused_by_the_installed_command(case: str, tmp_path: Path) -> None:
    conf = copy_config(BROKEN / case, tmp_path / "conf")
    result = run_subprocess(check_args(conf, "node0", tmp_path / "init.d", extra_args(case)))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ""
    assert_reported(conf, case, result.stdout)

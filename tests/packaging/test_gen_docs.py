"""packaging/gen_docs.py: man pages and completions come from the argparse
parsers, contain every sub-command, and render without warnings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hbd import __version__
from hbd.cli import VERBS
from hbd.main import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
LAB_VERBS = ("up", "demo", "status", "down", "drill")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    proc = subprocess.run([sys.executable, str(ROOT / "packaging" / "gen_docs.py"), str(out)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    return out


def rendered(path: Path) -> str:
    proc = subprocess.run(["man", "--warnings", "-l", str(path)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "MANWIDTH": "120"}, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return proc.stdout


def test_hbd_page_has_every_command_and_option(generated):
    text = rendered(generated / "man/man8/hbd.8")
    for name in COMMANDS:
        assert f"hbd {name}" in text
    for verb in LAB_VERBS:
        assert f"hbd lab {verb}" in text
    for option in ("--config-dir", "--state-dir", "--run-dir", "--op-timeout"):
        assert option in text
    assert "EXIT STATUS" in text and "SIGHUP" in text and __version__ in text


def test_hbctl_page_has_every_verb(generated):
    text = rendered(generated / "man/man8/hbctl.8")
    for name in [*VERBS, "check-config"]:
        assert f"hbctl {name}" in text
    assert "--version" in text and "--json" in text


def test_config_page(generated):
    text = rendered(generated / "man/man5/hbd.cf.5")
    for directive in ("notify", "metrics", "logformat", "quorum", "on_stop_failure"):
        assert directive in text
    assert f"hbd {__version__}" in text


def test_completions_know_every_command(generated):
    bash_hbd = (generated / "completions/bash/hbd").read_text()
    zsh_hbd = (generated / "completions/zsh/_hbd").read_text()
    bash_hbctl = (generated / "completions/bash/hbctl").read_text()
    zsh_hbctl = (generated / "completions/zsh/_hbctl").read_text()
    for name in COMMANDS:
        assert name in bash_hbd and name in zsh_hbd
    for name in VERBS:
        assert name in bash_hbctl and name in zsh_hbctl
    assert zsh_hbd.startswith("#compdef hbd") and zsh_hbctl.startswith("#compdef hbctl")
    for path in (generated / "completions/bash").iterdir():
        subprocess.run(["bash", "-n", str(path)], check=True, timeout=30)


def test_bash_completion_completes_a_verb(generated):
    script = (f"source {generated}/completions/bash/hbctl; "
              "COMP_WORDS=(hbctl node-st); COMP_CWORD=1; COMP_LINE='hbctl node-st'; "
              "COMP_POINT=${#COMP_LINE}; _shtab_hbctl; printf '%s\\n' \"${COMPREPLY[@]}\"")
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                          check=False)
    assert proc.stdout.split() == ["node-status"], proc.stderr

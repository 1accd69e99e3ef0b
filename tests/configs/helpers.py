"""Shared helpers for the configuration tests: copy a config dir, run check-config.

A git checkout does not keep authkeys at mode 600, so every test works on a
copy in tmp_path whose authkeys is chmod 600 (or the mode a case's `mode.txt`
asks for). The owner check expects the current uid (`--authkeys-owner`), so
the tests also pass when not run as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from hbd.config.model import Problem

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"
CONFIGS = Path(__file__).resolve().parent
BROKEN = CONFIGS / "broken"
SCENARIO = CONFIGS / "scenario"


def copy_config(source: Path, target: Path) -> Path:
    """Copy a config dir (keeping symlinks) and give authkeys the mode wanted."""
    shutil.copytree(source, target, symlinks=True)
    for name in ("authkeys", "authkeys.real"):
        path = target / name
        if path.exists() and not path.is_symlink():
            os.chmod(path, 0o600)
    mode_file = target / "mode.txt"
    if mode_file.exists():
        os.chmod(target / "authkeys", int(mode_file.read_text().strip(), 8))
    return target


def check_args(conf: Path, node: str, init_dir: Path, extra: list[str] | None = None) -> list[str]:
    """The `hbd check-config` arguments for a copied config dir."""
    return ["check-config", "--config-dir", str(conf), "--node", node,
            "--init-dir", str(init_dir), "--authkeys-owner", str(os.getuid()), *(extra or [])]


def hbd_command() -> list[str]:
    """The installed `hbd` entry point next to this Python (the venv's), else `-m hbd`."""
    script = Path(sys.executable).parent / "hbd"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hbd"]


def run_subprocess(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(hbd_command() + args, capture_output=True, text=True, timeout=60,
                          cwd=REPO)


def brief(problems: list[Problem]) -> list[tuple[str, int | None, str]]:
    """(file name, line, severity) for each problem, to compare lists exactly."""
    return [(Path(p.source).name, p.line, p.severity.value) for p in problems]

"""The product and the lab are separate packages; `hbd lab` finds the lab when installed."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from setuptools import find_packages

REPO = Path(__file__).resolve().parents[2]


def test_the_hbd_wheel_holds_no_lab():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = find_packages(where=str(REPO), include=include)
    assert "hbd" in packages and "hbd.core" in packages
    assert not [p for p in packages if "lab" in p.split(".")], packages
    lab = find_packages(where=str(REPO / "lab"))
    assert lab[0] == "hbd_lab" and all(p.startswith("hbd_lab.") for p in lab[1:]), lab


def test_only_the_lab_command_of_hbd_mentions_the_lab_package():
    users = [str(p.relative_to(REPO)) for p in (REPO / "hbd").rglob("*.py")
             if "hbd_lab" in p.read_text(encoding="utf-8")]
    assert users == ["hbd/commands/lab.py"]


def test_hbd_lab_delegates_to_the_installed_lab():
    out = subprocess.run([sys.executable, "-m", "hbd", "lab", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for verb in ("up", "demo", "drill", "down", "render-conf"):
        assert verb in out.stdout


def test_hbd_lab_without_the_lab_says_how_to_get_it():
    code = ("import sys; sys.modules['hbd_lab'] = None; from hbd.main import main; "
            "sys.exit(main(['lab', 'demo']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert "separate package (hbd-lab)" in out.stderr and "Traceback" not in out.stderr

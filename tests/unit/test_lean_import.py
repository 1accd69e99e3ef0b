"""`hbd.resources.lean_import`: submodules without the package body, and the body on demand.

Each check runs in a fresh interpreter (what is imported is process state).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str, path: Path | None = None) -> None:
    env_path = [str(ROOT)] + ([str(path)] if path else [])
    script = f"import sys; sys.path[:0] = {env_path!r}\n" + textwrap.dedent(code)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


def test_netlink_loads_only_the_pyroute2_modules_it_uses():
    run("""
        import sys
        import hbd.resources.netlink
        assert "pyroute2.iproute.linux" in sys.modules
        heavy = [m for m in sys.modules if m.startswith(("pyroute2.ndb", "pyroute2.nftables",
                                                          "pyroute2.ipdb", "pyroute2.ipvs"))]
        assert heavy == [], heavy
        assert "sqlite3" not in sys.modules
    """)


def test_the_package_is_complete_for_whoever_asks_for_more():
    run("""
        import sys
        import hbd.resources.netlink
        import pyroute2
        from pyroute2 import IPRoute, NDB
        from pyroute2.iproute.linux import AsyncIPRoute
        assert pyroute2.AsyncIPRoute is AsyncIPRoute      # one set of modules, not two
        assert pyroute2.__version__ and "pyroute2.ndb.main" in sys.modules
        assert sys.modules["pyroute2"].__file__.endswith("__init__.py")
    """)


def make_package(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import pkg.heavy\nEXECUTED = True\n")
    (pkg / "heavy.py").write_text("HEAVY = 1\n")
    (pkg / "light.py").write_text("LIGHT = 1\n")


def test_body_runs_once_on_the_first_missing_name(tmp_path):
    make_package(tmp_path)
    run("""
        import sys
        from hbd.resources.lean_import import import_submodules
        assert import_submodules("pkg", ["pkg.light"])
        assert "pkg.heavy" not in sys.modules and "EXECUTED" not in vars(sys.modules["pkg"])
        from pkg.light import LIGHT
        import pkg
        assert pkg.__path__ and pkg.__spec__.name == "pkg"       # no body run for these
        assert "pkg.heavy" not in sys.modules
        assert pkg.EXECUTED is True and "pkg.heavy" in sys.modules
        assert pkg.light.LIGHT == 1
    """, tmp_path)


def test_a_missing_submodule_leaves_nothing_behind(tmp_path):
    make_package(tmp_path)
    run("""
        import sys
        from hbd.resources.lean_import import import_submodules
        before = set(sys.modules)
        assert not import_submodules("pkg", ["pkg.light", "pkg.missing"])
        assert set(sys.modules) - before == set()
        import pkg
        assert pkg.EXECUTED is True
        assert not import_submodules("nosuchpackage", ["nosuchpackage.x"])
    """, tmp_path)

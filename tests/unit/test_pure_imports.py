"""hbd.config, hbd.wire and hbd.core stay pure: no clock, network, processes or threads.

Walks every module's imports with `ast` (including `from X import Y` and
submodules such as `asyncio.events`). Imports under `if TYPE_CHECKING:` are
allowed: they never run, and they let a pure class annotate the injected
`rng: random.Random` (STYLE.md: randomness comes in as an argument).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "hbd"
PURE_DIRS = ("config", "wire", "core")
FORBIDDEN = {"asyncio", "socket", "subprocess", "time", "random", "pyroute2", "threading", "select"}
MODULES = sorted(p for d in PURE_DIRS for p in (PACKAGE / d).rglob("*.py"))


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those inside `if TYPE_CHECKING:` bodies."""
    found: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        found.append(node)
        children = list(ast.iter_child_nodes(node))
        if _is_type_checking(node):
            children = [node.test, *node.orelse]  # type: ignore[attr-defined]
        stack.extend(children)
    return found


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            names.update(a.value for a in node.args if isinstance(a, ast.Constant))
    return names


def test_there_are_modules_to_check() -> None:
    assert any(p.parent.name == "config" for p in MODULES)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_module_imports_nothing_impure(path: Path) -> None:
    bad = sorted(n for n in imported_modules(path) if n.split(".")[0] in FORBIDDEN)
    assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}"


def test_checker_catches_submodules_and_from_imports(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import asyncio.events\nfrom time import monotonic\nfrom socket import *\n"
                      "def f():\n    import select\n"
                      "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import random\n")
    roots = {n.split(".")[0] for n in imported_modules(sample)}
    assert roots >= {"asyncio", "time", "socket", "select"}
    assert "random" not in roots


def test_load_is_the_only_config_module_using_os() -> None:
    users = [p.name for p in (PACKAGE / "config").glob("*.py")
             if any(n.split(".")[0] == "os" for n in imported_modules(p))]
    assert users == ["load.py"]

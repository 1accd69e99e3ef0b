"""hbd/wire stays pure: no sockets, clocks, randomness, threads, processes or netlink."""

from __future__ import annotations

import ast
from pathlib import Path

import hbd.wire

FORBIDDEN = {"asyncio", "socket", "subprocess", "time", "random", "threading", "pyroute2", "dpkt"}
WIRE = Path(hbd.wire.__file__).parent


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_wire_modules_import_nothing_impure() -> None:
    modules = sorted(WIRE.glob("*.py"))
    assert len(modules) >= 8
    offenders = {p.name: sorted(imported_roots(p) & FORBIDDEN) for p in modules}
    assert {name: bad for name, bad in offenders.items() if bad} == {}

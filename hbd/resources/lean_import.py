"""Import some modules of a package without running the package's `__init__` first.

Python imports a package before any of its submodules, and runs its
`__init__.py`. pyroute2's (0.9) imports every part of the library (NDB with
sqlite3, multiprocessing, nftables, IPVS, WireGuard, ...): about 6 MB of RSS on
every node, while hbd uses `AsyncIPRoute` and two exception classes, and
pyroute2 offers no lighter entry point (its `minimal` module is itself inside
the package). There is no way to import a submodule without *some* package
module object being in `sys.modules`, so this module makes the real one, by
the documented means, and defers only the execution of its body:

* `importlib.util.find_spec` + `importlib.util.module_from_spec` create the
  package's module object from its spec (`__path__`, `__spec__`, `__file__`
  set as the import system would) without executing it, and it is put in
  `sys.modules` as the import protocol does before executing a module
  (Python reference, "The import system", 5.4.2);
* the named submodules are then imported the ordinary way; they find their
  parent and its `__path__`, and bind their own names;
* the package's body is attached as a module-level `__getattr__` (PEP 562):
  the first time anyone asks the package for a name it does not have yet
  (`from pyroute2 import IPRoute`), `__init__.py` runs in that same module
  object, reusing the submodules already loaded, and the name is returned.
  So the package is complete for whoever needs more; hbd only never asks.

If the package is already imported, nothing is done. If anything does not go
as expected (another layout), the modules this function put in `sys.modules`
are removed again and it returns False: the caller then imports the ordinary
way. tests/unit/test_lean_import.py checks both paths in a fresh interpreter.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any


def import_submodules(package: str, modules: Sequence[str]) -> bool:
    """Import `modules` (inside `package`) without executing `package`'s `__init__`
    yet; True when they are importable by their full names (module docstring)."""
    if package in sys.modules:
        return all(_import(name) for name in modules)
    spec = importlib.util.find_spec(package)
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return False
    module = importlib.util.module_from_spec(spec)
    before = set(sys.modules)
    sys.modules[package] = module
    if not all(_import(name) for name in modules):
        for name in set(sys.modules) - before:
            del sys.modules[name]
        return False
    module.__getattr__ = _completer(module)  # type: ignore[method-assign]
    return True


def _import(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _completer(module: ModuleType) -> Any:
    """PEP 562 `__getattr__`: run the package body once, then answer from it."""
    lock = threading.RLock()
    state = {"done": False}

    def __getattr__(name: str) -> Any:
        if name.startswith("__") or state["done"]:
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")
        with lock:
            if not state["done"]:
                state["done"] = True
                del module.__getattr__
                assert module.__spec__ is not None and module.__spec__.loader is not None
                module.__spec__.loader.exec_module(module)
        return getattr(module, name)

    return __getattr__

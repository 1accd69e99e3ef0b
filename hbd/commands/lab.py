"""`hbd lab ...`: the lab, when it is installed (`hbd-lab`, the repository's lab/ package).

The lab (namespaces, drills, the failover benchmark's systems) is not part of
hbd: `pip install hbd` installs the daemon and hbctl only. In a development
checkout `scripts/bootstrap.sh` installs the sibling package `hbd-lab`
(`pip install -e lab/`), and then `hbd lab VERB` is `hbd-lab VERB`; without
it, this command says how to get it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

LAB_MODULE = "hbd_lab.cli"
MISSING = ("hbd lab: the lab is a separate package (hbd-lab) and is not installed; "
           "in a checkout of the repository run scripts/bootstrap.sh, or "
           "pip install -e lab/")


def _lab():
    try:
        return importlib.import_module(LAB_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] == "hbd_lab":
            return None
        raise


def add_arguments(parser: argparse.ArgumentParser) -> None:
    lab = _lab()
    if lab is not None:
        lab.add_arguments(parser)
    else:
        parser.add_argument("lab_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    lab = _lab()
    if lab is None:
        print(MISSING, file=sys.stderr)
        return 2
    return int(lab.run(args))

"""`hbd restore`: put this node's own network identity back from the journal, then exit.

    hbd restore [--state-dir DIR]

For `ExecStopPost=` in systemd/hbd.service: after the daemon has exited,
however it exited (SIGKILL, a crash, the systemd watchdog), whatever it had
changed of this node's identity and not yet given back (addresses, MAC,
hostname, default routes: the journal `DIR/identity.json`) is restored, as
the daemon's own start-up does (`Identity.recover`), so that a dead daemon
never leaves the node answering for another node's VIP. After a clean stop
the journal is empty and there is nothing to do.

It takes the state dir's lock first, so it never pulls the identity from
under a running daemon. One line per restored record on stdout (the
journal of the unit). Exit status: 0 when everything journaled is back (or
there was nothing to do); 1 when something could not be restored (it stays
in the journal: the next start tries again, and refuses to join until it
succeeds); 2 when the state dir is locked by a running hbd or unusable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from hbd.resources.identity import Identity
from hbd.resources.recovery import Recovery
from hbd.state import StateDir, StateError

DEFAULT_STATE_DIR = "/var/lib/hbd"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR, metavar="DIR",
                        help="the daemon's state dir, holding identity.json "
                             "(default: %(default)s)")


async def _recover(state_dir: str) -> Recovery:
    identity = Identity(state_dir, garp_count=1)
    try:
        return await identity.recover()
    finally:
        await identity.close()


def run(args: argparse.Namespace) -> int:
    state = StateDir(args.state_dir)
    if not os.path.isdir(state.path):
        print(f"nothing to restore: no state dir {state.path}")
        return 0
    try:
        state.lock()
    except StateError as exc:
        print(f"hbd restore: {exc}; stop it first", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"hbd restore: cannot lock {state.path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    recovery = asyncio.run(_recover(state.path))
    for line in recovery.lines:
        print(line)
    if not recovery.lines:
        print("nothing to restore")
    if not recovery.ok:
        print(f"hbd restore: not everything could be restored; it stays in "
              f"{os.path.join(state.path, 'identity.json')} for the next start",
              file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hbd restore", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return parser


if __name__ == "__main__":
    raise SystemExit(run(build_parser().parse_args()))

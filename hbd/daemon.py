"""Process concerns: arguments, configuration, state dir, signals, systemd.

`hbd [--config-dir DIR] [--node NAME] [--state-dir DIR] [--run-dir DIR]` runs
the daemon in the foreground. Start-up, in order:

1. logging to stderr; the configuration is read and checked (any error: every
   problem printed, exit 6, systemd's "not configured");
2. the node's cluster name is fixed (`--node`, else the one saved in the state
   dir at first start, else nodeinfo / `uname -n`), its generation and UUID read;
3. whatever a previous run left changed (a crash while holding the scenario's
   identity) is restored *before* the node joins the cluster;
4. media, ping and the control socket are opened (failure: exit 1 with the
   reason); the core starts; READY=1 goes to systemd.

SIGTERM/SIGINT: graceful shutdown (release in reverse order, tell peers, exit
0); a second SIGINT exits at once. SIGHUP: reload; changes that do not touch
membership or resources (authkeys, logging) apply live, the others are named
in a warning and wait for a restart, and held resources are never dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys

from hbd import logs
from hbd.commands import check_config
from hbd.control import DEFAULT_RUN_DIR
from hbd.config.load import local_node_name
from hbd.config.model import ClusterConfig, Problem
from hbd.state import StateDir, StateError

EXIT_NOTCONFIGURED = 6
DEFAULT_CONFIG_DIR = "/etc/ha.d"
DEFAULT_STATE_DIR = "/var/lib/hbd"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("daemon")
    group.add_argument("--config-dir", default=DEFAULT_CONFIG_DIR, metavar="DIR",
                       help="ha.cf, haresources, authkeys (default: %(default)s)")
    group.add_argument("--node", metavar="NAME",
                       help="this node's cluster name (default: saved at first start, "
                            "else nodeinfo, else uname -n)")
    group.add_argument("--state-dir", default=DEFAULT_STATE_DIR, metavar="DIR",
                       help="generation, UUID, identity journal (default: %(default)s)")
    group.add_argument("--run-dir", default=DEFAULT_RUN_DIR, metavar="DIR",
                       help="control socket (default: %(default)s)")
    check_config.add_script_dir_arguments(group)
    group.add_argument("--op-timeout", type=_positive, default=60.0, metavar="S",
                       help="timeout of one resource script operation (default: %(default)s)")
    group.add_argument("--garp-count", type=int, default=5, metavar="N",
                       help="gratuitous ARPs sent after an address or MAC moves (default: %(default)s)")
    group.add_argument("--garp-interval", type=_positive, default=0.2, metavar="S",
                       help="seconds between gratuitous ARPs (default: %(default)s)")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: must be more than 0 seconds")
    return value


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)


def read_config(args: argparse.Namespace, node: str) -> tuple[ClusterConfig | None, list[Problem]]:
    return check_config.load(args, node)


def run(args: argparse.Namespace) -> int:
    logs.configure()
    log = logs.get("hbd.daemon")
    state = StateDir(args.state_dir)
    try:
        state.prepare()
        state.lock()
        default = local_node_name(args.config_dir) if os.path.isdir(args.config_dir) else ""
        node = state.node_name(args.node, default)
        generation, uuid = state.generation(), state.uuid()
    except (StateError, OSError) as exc:
        print(f"hbd: {exc}", file=sys.stderr)
        return 1
    config, problems = read_config(args, node)
    if config is None:
        _print_problems(problems)
        print(f"hbd: configuration refused ({args.config_dir}); nothing started",
              file=sys.stderr)
        return EXIT_NOTCONFIGURED
    try:
        state.keep_node_name(config.node_name)
    except OSError as exc:
        print(f"hbd: cannot write to the state dir {args.state_dir}: {exc}", file=sys.stderr)
        return 1
    for problem in logs.configure(logfile=config.hacf.logfile, debugfile=config.hacf.debugfile,
                                  logfacility=config.hacf.logfacility,
                                  debug=config.hacf.debug > 0):
        log.warning(problem)
    for problem in problems:
        log.warning(str(problem))
    from hbd.service import Service   # imports the I/O edges only once the config is good
    try:
        return asyncio.run(Service(config, args, state, generation, uuid).run())
    except KeyboardInterrupt:
        return 130


def install_signals(loop: asyncio.AbstractEventLoop, *, on_term, on_hup) -> None:
    presses = {"int": 0}

    def on_int() -> None:
        presses["int"] += 1
        if presses["int"] > 1:
            os._exit(130)
        on_term("SIGINT")

    loop.add_signal_handler(signal.SIGTERM, on_term, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, on_int)
    loop.add_signal_handler(signal.SIGHUP, on_hup)


def new_rng() -> random.Random:
    return random.Random(int.from_bytes(os.urandom(8), "big"))

"""Process concerns: the composition root of a running node.

`hbd [--config-dir DIR] [--node NAME] [--state-dir DIR] [--run-dir DIR] ...`
runs the daemon in the foreground. `run()` turns the command line into
`DaemonOptions` (`hbd/options.py`), and from there nothing sees argparse:

1. logging to stderr; the state dir is locked and the node's cluster name
   fixed (`--node`, else the one saved at first start, else nodeinfo /
   `uname -n`), its generation, UUID and its peers' generations read;
2. the configuration is read and checked (`config.load.load_cluster`): any
   error prints every problem and exits 6, systemd's "not configured";
3. logging as ha.cf/hbd.cf say; `service.Service` does the rest (restore
   leftovers of a crash, open the edges, run the core, stop).

SIGTERM/SIGINT: graceful shutdown (release in reverse order, tell peers, exit
0); a second SIGINT exits at once. SIGHUP: reload (see `service.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable

from hbd import logs
from hbd.config.load import load_cluster, local_node_name
from hbd.config.model import ClusterConfig, Problem
from hbd.options import DaemonOptions
from hbd.state import StateDir, StateError

EXIT_NOTCONFIGURED = 6

Loader = Callable[[], tuple[ClusterConfig | None, list[Problem]]]


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """`hbd` without a sub-command."""
    return run_daemon(DaemonOptions.from_args(args))


def run_daemon(options: DaemonOptions) -> int:
    logs.configure()
    log = logs.get("hbd.daemon")
    state = StateDir(options.state_dir, heartbeat_dir=options.heartbeat_state_dir)
    try:
        state.prepare()
        state.lock()
        default = (local_node_name(options.config_dir)
                   if os.path.isdir(options.config_dir) else "")
        node = state.node_name(options.node, default)
        generation, uuid = state.generation(), state.uuid()
    except (StateError, OSError) as exc:
        print(f"hbd: {exc}", file=sys.stderr)
        return 1
    try:
        peer_generations = state.load_peer_generations()
    except StateError as exc:
        log.warning("peers' generations not loaded; starting without", reason=str(exc))
        peer_generations = {}
    options = options.for_node(node)

    def load() -> tuple[ClusterConfig | None, list[Problem]]:
        return load_cluster(options.load)

    config, problems = load()
    if config is None:
        _print_problems(problems)
        print(f"hbd: configuration refused ({options.config_dir}); nothing started",
              file=sys.stderr)
        return EXIT_NOTCONFIGURED
    try:
        state.keep_node_name(config.node_name)
    except OSError as exc:
        print(f"hbd: cannot write to the state dir {options.state_dir}: {exc}", file=sys.stderr)
        return 1
    for complaint in logs.configure(logfile=config.hacf.logfile,
                                    debugfile=config.hacf.debugfile,
                                    logfacility=config.hacf.logfacility,
                                    debug=config.hacf.debug > 0,
                                    logformat=config.hbd.logformat):
        log.warning(complaint)
    for problem in problems:
        log.warning(str(problem))
    from hbd.service import Service   # imports the I/O edges only once the config is good
    service = Service(config, options, state, generation=generation, uuid=uuid,
                      peer_generations=peer_generations, load=load)
    try:
        return asyncio.run(service.run())
    except KeyboardInterrupt:
        return 130

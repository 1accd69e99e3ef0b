"""`hbd check-config`: validate ha.cf, haresources, authkeys and hbd.cf, and summarise.

Prints every problem as `FILE:LINE: error|warning: message`, then, when there
is no error, what the cluster will do as this node sees it. Exit status 0
when there is no error (warnings allowed), 1 otherwise. Never a traceback:
unexpected I/O or decoding failures become problem lines too.

`--json` prints one JSON object instead (same exit status). Its schema is
stable; fields are only ever added, and `schema` changes if one changes
meaning:

    {
      "schema": 1,
      "config_dir": "/etc/ha.d",
      "node": "node1",                  # this node's name, as used
      "valid": true,                    # no error: the daemon would start
      "errors": 0, "warnings": 1,       # counts of the problems below
      "problems": [                     # file order, then line order
        {"file": "/etc/ha.d/ha.cf", "line": 11,    # line: null for the whole file
         "severity": "warning",                    # "error" | "warning" | "note"
         "message": "..."}
      ],
      "nodes": ["node0", "node2", "node1"],        # ha.cf order (priority); null if invalid
      "groups": [                                  # haresources order; null if invalid
        {"key": "IPaddr::192.168.32.21/24/eth0",   # the group's name on the wire
         "line": 1, "primary": "node0",
         "resources": ["IPaddr::192.168.32.21/24/eth0", "..."],   # start order
         "backup": ["node1", "node2"]}              # takeover order (hbd's N+1 policy)
      ]
    }

The options build a `hbd.config.load.LoadOptions` (`load_options`), the one
loading entry point the daemon uses too. The sub-command's options default
to "not given" (argparse.SUPPRESS), so `hbd --config-dir X check-config`
checks X: the global option is not overridden by the sub-command's default.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
from typing import Any

from hbd.config.agents import DEFAULT_OCF_ROOT, AgentDirs
from hbd.config.authkeys import explain
from hbd.config.load import (DEFAULT_CONFIG_DIR, DEFAULT_INIT_DIR, LoadOptions, load_cluster,
                             local_node_name, script_paths)
from hbd.config.model import ClusterConfig, Problem, Severity
from hbd.config.summary import format_summary
from hbd.core.placement import backup_order

SCHEMA = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-dir", default=argparse.SUPPRESS, metavar="DIR",
                        help="directory holding ha.cf, haresources, authkeys and hbd.cf "
                             f"(default: {DEFAULT_CONFIG_DIR})")
    parser.add_argument("--node", default=argparse.SUPPRESS, metavar="NAME",
                        help="this node's name (default: first line of DIR/nodeinfo, else uname -n)")
    add_script_dir_arguments(parser, suppress=True)
    parser.add_argument("--authkeys-owner", type=int, default=argparse.SUPPRESS, metavar="UID",
                        help="uid that must own authkeys (default: 0, root)")
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the result as one JSON object (schema in 'pydoc "
                             "hbd.commands.check_config')")


def add_script_dir_arguments(parser: Any, *, suppress: bool = False) -> None:
    """--resource-dir, --init-dir, --ocf-root: shared by check-config and the daemon.

    With `suppress`, absent options leave no attribute (a sub-command's
    options then never override the same global ones)."""
    def default(value: str | None) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--resource-dir", default=default(None), metavar="DIR",
                        help="where resource scripts are looked for first (default: DIR/resource.d)")
    parser.add_argument("--init-dir", default=default(DEFAULT_INIT_DIR), metavar="DIR",
                        help=f"where resource scripts are looked for next (default: {DEFAULT_INIT_DIR})")
    parser.add_argument("--ocf-root", default=default(DEFAULT_OCF_ROOT), metavar="DIR",
                        help=f"OCF_ROOT for ocf:PROVIDER:TYPE agents (default: {DEFAULT_OCF_ROOT})")


def resolve_ipv4(name: str) -> str | None:
    """The first IPv4 address of host `name` (as gethostbyname would give), or None."""
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_DGRAM)
    except (OSError, UnicodeError):
        return None
    return str(infos[0][4][0]) if infos else None


def load_options(args: argparse.Namespace, node: str | None = None) -> LoadOptions:
    """The typed load options from a parsed command line (daemon's or check-config's)."""
    return LoadOptions(
        config_dir=getattr(args, "config_dir", DEFAULT_CONFIG_DIR),
        node_name=node if node is not None else getattr(args, "node", None),
        resource_dir=getattr(args, "resource_dir", None),
        init_dir=getattr(args, "init_dir", DEFAULT_INIT_DIR),
        ocf_root=getattr(args, "ocf_root", DEFAULT_OCF_ROOT),
        authkeys_owner=getattr(args, "authkeys_owner", 0),
        resolve_host=resolve_ipv4,
    )


def agent_dirs(args: argparse.Namespace) -> AgentDirs:
    """Where scripts are looked for, from --resource-dir, --init-dir and --ocf-root."""
    return load_options(args).agent_dirs


def load(args: argparse.Namespace, node: str) -> tuple[ClusterConfig | None, list[Problem]]:
    """The configuration of --config-dir; problems instead of exceptions.

    Kept for `hbd/daemon.py` until it calls `load_cluster(load_options(args, node))`
    itself; it is exactly that."""
    return load_cluster(load_options(args, node))


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {"file": problem.source, "line": problem.line, "severity": problem.severity.value,
            "message": problem.message}


def as_json(options: LoadOptions, node: str, config: ClusterConfig | None,
            problems: list[Problem]) -> dict[str, Any]:
    """The `--json` document (schema in the module docstring)."""
    errors = sum(p.severity is Severity.ERROR for p in problems)
    valid = config is not None and not errors
    groups = None
    if config is not None and valid:
        groups = [{"key": g.key, "line": g.line, "primary": g.primary,
                   "resources": [r.spec for r in g.start_order()],
                   "backup": list(backup_order(g, config.nodes, config.groups))}
                  for g in config.groups]
    return {"schema": SCHEMA, "config_dir": options.config_dir, "node": node, "valid": valid,
            "errors": errors,
            "warnings": sum(p.severity is Severity.WARNING for p in problems),
            "problems": [_problem_json(p) for p in problems],
            "nodes": list(config.nodes) if config is not None and valid else None,
            "groups": groups}


def run(args: argparse.Namespace) -> int:
    options = load_options(args)
    node = (options.node_name or local_node_name(options.config_dir)).lower()
    config, problems = load_cluster(dataclasses.replace(options, node_name=node))
    errors = sum(p.severity is Severity.ERROR for p in problems)
    if getattr(args, "json", False):
        print(json.dumps(as_json(options, node, config, problems), indent=2))
        return 1 if errors else 0
    for problem in problems:
        print(problem)
    warnings = sum(p.severity is Severity.WARNING for p in problems)
    if problems:
        print()
    if config is not None and not errors:
        for line in explain(config.authkeys):    # what each method protects against
            print(f"{os.path.join(options.config_dir, 'authkeys')}: note: {line}")
        print(format_summary(config, script_paths(config.groups, options.agent_dirs)))
        print()
    verdict = "configuration refused" if errors else "configuration OK"
    print(f"{errors} error(s), {warnings} warning(s): {verdict}")
    return 1 if errors else 0

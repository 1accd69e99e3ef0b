"""`hbd check-config`: validate ha.cf, haresources and authkeys, and summarise.

Prints every problem as `FILE:LINE: error|warning: message`, then, when there
is no error, what the cluster will do as this node sees it. Exit status 0
when there is no error (warnings allowed), 1 otherwise. Never a traceback:
unexpected I/O or decoding failures become problem lines too.
"""

from __future__ import annotations

import argparse
import os

from hbd.config.agents import DEFAULT_OCF_ROOT, AgentDirs
from hbd.config.load import DEFAULT_INIT_DIR, load_config, local_node_name, script_paths
from hbd.config.model import ClusterConfig, Problem, Severity
from hbd.config.summary import format_summary

DEFAULT_CONFIG_DIR = "/etc/ha.d"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config-dir", default=DEFAULT_CONFIG_DIR, metavar="DIR",
                        help="directory holding ha.cf, haresources and authkeys (default: %(default)s)")
    parser.add_argument("--node", metavar="NAME",
                        help="this node's name (default: first line of DIR/nodeinfo, else uname -n)")
    add_script_dir_arguments(parser)
    parser.add_argument("--authkeys-owner", type=int, default=0, metavar="UID",
                        help="uid that must own authkeys (default: 0, root)")


def add_script_dir_arguments(parser) -> None:
    """--resource-dir, --init-dir, --ocf-root: shared by check-config and the daemon."""
    parser.add_argument("--resource-dir", metavar="DIR",
                        help="where resource scripts are looked for first (default: DIR/resource.d)")
    parser.add_argument("--init-dir", default=DEFAULT_INIT_DIR, metavar="DIR",
                        help="where resource scripts are looked for next (default: %(default)s)")
    parser.add_argument("--ocf-root", default=DEFAULT_OCF_ROOT, metavar="DIR",
                        help="OCF_ROOT for ocf:PROVIDER:TYPE agents (default: %(default)s)")


def agent_dirs(args: argparse.Namespace) -> AgentDirs:
    """Where scripts are looked for, from --resource-dir, --init-dir and --ocf-root."""
    resource_dir = args.resource_dir or os.path.join(args.config_dir, "resource.d")
    return AgentDirs(resource_dir, args.init_dir, args.ocf_root)


def load(args: argparse.Namespace, node: str) -> tuple[ClusterConfig | None, list[Problem]]:
    """The configuration of --config-dir; problems instead of exceptions."""
    if not os.path.isdir(args.config_dir):
        return None, [Problem(args.config_dir, None, Severity.ERROR,
                              "configuration directory not found; give it with --config-dir")]
    try:
        return load_config(args.config_dir, node, dirs=agent_dirs(args),
                           authkeys_owner=getattr(args, "authkeys_owner", 0))
    except (OSError, UnicodeError, ValueError) as exc:  # a bug or a race: say it plainly
        return None, [Problem(args.config_dir, None, Severity.ERROR,
                              f"cannot read the configuration: {exc}")]


def run(args: argparse.Namespace) -> int:
    node = (args.node or local_node_name(args.config_dir)).lower()
    config, problems = load(args, node)
    for problem in problems:
        print(problem)
    errors = sum(p.severity is Severity.ERROR for p in problems)
    warnings = sum(p.severity is Severity.WARNING for p in problems)
    if problems:
        print()
    if config is not None and not errors:
        print(format_summary(config, script_paths(config.groups, agent_dirs(args))))
        print()
    verdict = "configuration refused" if errors else "configuration OK"
    print(f"{errors} error(s), {warnings} warning(s): {verdict}")
    return 1 if errors else 0

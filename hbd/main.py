"""`hbd` command line: the daemon and its operator tools.

`hbd [--config-dir DIR] [--node NAME] [--state-dir DIR] [--run-dir DIR]` with no
sub-command runs the daemon in the foreground (`hbd/daemon.py`). Each sub-command lives in `hbd/commands/<name>.py` and exposes
`add_arguments(parser)` and `run(args) -> int`. This module only maps the
command line onto them, and makes sure no traceback reaches a user.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hbd import __version__, daemon, options

COMMANDS = {
    "check-config": ("hbd.commands.check_config",
                     "validate ha.cf, haresources and authkeys and say what the cluster will do"),
    "lab": ("hbd.commands.lab",
            "the source scenario in network namespaces: up, status, drill, demo, down"),
    "restore": ("hbd.commands.restore",
                "restore this node's own network identity from the journal, then exit"),
    "decode": ("hbd.commands.decode",
               "dissect heartbeat packets (raw UDP payloads or pcap files)"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only`, sub-commands other than `only` are
    listed but their modules are not imported (the daemon stays small in memory)."""
    parser = argparse.ArgumentParser(
        prog="hbd", description="A heartbeat-compatible high-availability cluster daemon: "
        "run it, or one of its operator tools.")
    parser.add_argument("--version", action="version", version=f"hbd {__version__}")
    options.add_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The sub-command named on the command line, if any ('' when help is asked)."""
    if any(a in ("-h", "--help") for a in argv):
        return None
    return next((a for a in argv if a in COMMANDS), "")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    if getattr(args, "command", None) and not hasattr(args, "_run"):
        parser.error(f"cannot run {args.command}")
    try:
        return int(getattr(args, "_run", daemon.run)(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

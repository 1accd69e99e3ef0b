"""The daemon's command line as one typed record (the composition root's input).

`add_arguments(parser)` declares the options on `hbd`'s parser;
`DaemonOptions.from_args(namespace)` turns the parsed namespace into the frozen
record `daemon.run()` and `service.Service` work from. Nothing past this module
sees an `argparse.Namespace`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

from hbd.commands.check_config import add_script_dir_arguments, load_options
from hbd.config.load import LoadOptions
from hbd.control import DEFAULT_RUN_DIR
from hbd.state import HEARTBEAT_STATE_DIR

DEFAULT_CONFIG_DIR = "/etc/ha.d"
DEFAULT_STATE_DIR = "/var/lib/hbd"


@dataclass(frozen=True)
class DaemonOptions:
    load: LoadOptions                 # config dir, node name, script dirs (config.load)
    state_dir: str = DEFAULT_STATE_DIR
    heartbeat_state_dir: str = HEARTBEAT_STATE_DIR
    run_dir: str = DEFAULT_RUN_DIR
    op_timeout: float = 60.0
    garp_count: int = 5
    garp_interval: float = 0.2

    @property
    def config_dir(self) -> str:
        return self.load.config_dir

    @property
    def node(self) -> str | None:
        return self.load.node_name

    def for_node(self, node: str) -> DaemonOptions:
        return replace(self, load=replace(self.load, node_name=node))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DaemonOptions:
        return cls(load=load_options(args), state_dir=args.state_dir,
                   heartbeat_state_dir=args.heartbeat_state_dir, run_dir=args.run_dir,
                   op_timeout=args.op_timeout, garp_count=args.garp_count,
                   garp_interval=args.garp_interval)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("daemon")
    group.add_argument("--config-dir", default=DEFAULT_CONFIG_DIR, metavar="DIR",
                       help="ha.cf, haresources, authkeys, hbd.cf (default: %(default)s)")
    group.add_argument("--node", metavar="NAME",
                       help="this node's cluster name (default: saved at first start, "
                            "else nodeinfo, else uname -n)")
    group.add_argument("--state-dir", default=DEFAULT_STATE_DIR, metavar="DIR",
                       help="generation, UUID, identity journal (default: %(default)s)")
    group.add_argument("--heartbeat-state-dir", default=HEARTBEAT_STATE_DIR, metavar="DIR",
                       help="heartbeat's state dir: identity adopted at first start, "
                            "generation kept current for a rollback (default: %(default)s)")
    group.add_argument("--run-dir", default=DEFAULT_RUN_DIR, metavar="DIR",
                       help="control socket (default: %(default)s)")
    add_script_dir_arguments(group)
    group.add_argument("--op-timeout", type=_positive, default=60.0, metavar="S",
                       help="timeout of one resource script operation (default: %(default)s)")
    group.add_argument("--garp-count", type=_count, default=5, metavar="N",
                       help="gratuitous ARPs sent after an address or MAC moves "
                            "(default: %(default)s)")
    group.add_argument("--garp-interval", type=_positive, default=0.2, metavar="S",
                       help="seconds between gratuitous ARPs (default: %(default)s)")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: must be a finite number of seconds above 0")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text}: must be between 0 and 100")
    return value

"""systemd/hbd.service: a notify service whose command line hbd accepts."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from hbd.main import build_parser

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "hbd.service"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(UNIT)
    return parser


def test_unit_is_type_notify_with_reload_and_no_restart_on_bad_config():
    service = unit()["Service"]
    assert service["Type"] == "notify"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["RestartPreventExitStatus"] == "6"     # daemon.EXIT_NOTCONFIGURED
    assert "WatchdogSec" in service and service["Restart"] == "on-failure"


def test_exec_start_is_a_command_line_hbd_accepts():
    argv = shlex.split(unit()["Service"]["ExecStart"])
    assert argv[:2] == ["/usr/bin/env", "hbd"]
    args = build_parser().parse_args(argv[2:])
    assert (args.config_dir, args.state_dir, args.run_dir) == ("/etc/ha.d", "/var/lib/hbd",
                                                               "/run/hbd")
    assert not hasattr(args, "_run")      # no sub-command: the daemon itself


def test_exec_stop_post_restores_the_identity_from_the_daemons_state_dir():
    from hbd.commands import restore
    service = unit()["Service"]
    argv = shlex.split(service["ExecStopPost"])
    assert argv[:3] == ["/usr/bin/env", "hbd", "restore"]
    args = restore.build_parser().parse_args(argv[3:])
    start = build_parser().parse_args(shlex.split(service["ExecStart"])[2:])
    assert args.state_dir == start.state_dir == "/var/lib/hbd"
    assert service["KillMode"] == "mixed"     # ExecStopPost runs once every process is gone

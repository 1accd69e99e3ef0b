"""`hbctl`: ask a running hbd how the cluster is, or move resource groups.

The verbs follow heartbeat's tools: `cl_status` (`hbstatus`, `nodes`,
`node-status`, `links`, `link-status`, `rscstatus`), `hb_standby` and
`hb_takeover`; `status` and `resources` summarise. Each verb is one request on
the control socket (`hbd.control`); text output reads like cl_status, and
`--json` prints the daemon's data (`docs/hbctl.md` describes it); with the
daemon down, `--json` prints `{"schema": 1, "running": false, "socket": ...,
"error": ...}` and exits 3. (Heartbeat's own `cl_status`, `hb_standby` and
`hb_takeover` are `hbd.hbtools`.)

Exit status: 0 ok; 1 failure (hbd said no, or the exchange failed; also a
dead node or link, as cl_status does); 2 usage; 3 hbd not running;
4 not authorised. Never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hbd import __version__
from hbd.commands import check_config
from hbd.control import (DEFAULT_RUN_DIR, NOT_AUTHORISED, ControlError, NotRunning,
                         PermissionDenied, not_allowed, request_sync, socket_path)
from hbd.statusdoc import not_running_document

GROUP_SETS = ("all", "local", "foreign", "failback")
ALIVE = ("active", "up", "ping")        # cl_status nodestatus exits 0 for these
HOLDING = {"none": "holding no resources", "local": "holding its local resources",
           "foreign": "holding foreign resources", "all": "holding all resources",
           "transition": "resources in transition"}

Shown = tuple[list[str], int]           # lines to print, exit status


# --- text output -------------------------------------------------------------------

def _table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Left-aligned columns, two blanks apart, trailing blanks stripped."""
    widths = [max((len(row[i]) for row in rows if i < len(row)), default=0)
              for i in range(max((len(row) for row in rows), default=0))]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def _node_rows(doc: dict[str, Any]) -> list[list[str]]:
    rows = []
    for node in doc["nodes"]:
        links = ", ".join(f"{name} {state}" for name, state in node["links"].items())
        extra = ["this node" if node["name"] == doc["node"] else links]
        if node["holds"]:
            extra.append("holds " + ", ".join(node["holds"]))
        if node["standby"] not in ("none", "", None):
            extra.append(f"standby {node['standby']}")
        rows.append([node["name"], node["status"], f"({node['type']})",
                     "; ".join(e for e in extra if e)])
    return rows


def _group_rows(doc: dict[str, Any]) -> list[list[str]]:
    rows = []
    for group in doc["groups"]:
        held = f"held by {group['holder'] or 'nobody'}"
        if group["desired"] and group["desired"] != group["holder"]:
            held += f" -> {group['desired']}"
        rows.append([group["key"], held, f"(primary {group['primary']}; {group['state']} here)"])
    return rows


_DAEMON_FIELDS = (("version", "hbd {}"), ("pid", "pid {}"), ("uptime_s", "up {} s"),
                  ("config_dir", "config {}"))


def _daemon_line(daemon: dict[str, Any]) -> list[str]:
    parts = [form.format(daemon[key]) for key, form in _DAEMON_FIELDS
             if daemon.get(key) is not None]
    return ["Daemon: " + ", ".join(parts)] if parts else []


def show_status(data: dict[str, Any], args: argparse.Namespace) -> Shown:
    head = (f"Node {data['node']}: {data['status']}, "
            f"{HOLDING.get(data['rscstatus'], data['rscstatus'])} (rscstatus {data['rscstatus']})")
    state = [f"Communication {'up' if data['comm_up'] else 'not up yet'}",
             f"generation {data['generation']}"]
    if data["standby"] != "none":
        state.append(f"standby {data['standby']}")
    if data["shutting_down"]:
        state.append("shutting down")
    lines = [head, ", ".join(state), *_daemon_line(data.get("daemon") or {}), "Nodes:"]
    lines += _table(_node_rows(data), "  ")
    lines += ["Groups:", *(_table(_group_rows(data), "  ") or ["  (none)"])]
    return lines, 0


def show_nodes(data: dict[str, Any], args: argparse.Namespace) -> Shown:
    return _table([row[:3] for row in _node_rows(data)]), 0


def show_resources(data: dict[str, Any], args: argparse.Namespace) -> Shown:
    return _table(_group_rows(data)), 0


def show_node_status(data: dict[str, Any], args: argparse.Namespace) -> Shown:
    return [data["status"]], 0 if data["status"] in ALIVE else 1


def show_links(data: dict[str, Any], args: argparse.Namespace) -> Shown:
    return _table([[name, state] for name, state in data["links"].items()]), 0


def show_link_status(data: dict[str, Any], args: argparse.Namespace) -> Shown:
    return [data["status"]], 0 if data["status"] == "up" else 1


def show_rscstatus(data: dict[str, Any], args: argparse.Namespace) -> Shown:
    return [data["rscstatus"]], 0


def show_hbstatus(data: dict[str, Any], args: argparse.Namespace) -> Shown:
    return ["hbd is running on this machine."], 0


def show_metrics(data: dict[str, Any], args: argparse.Namespace) -> Shown:
    return [str(data["text"]).rstrip("\n")], 0


def show_change(data: Any, args: argparse.Namespace) -> Shown:
    if isinstance(data, dict) and data.get("message"):
        return [str(data["message"])], 0
    return [f"{args.verb} {args.which} requested"], 0


# --- verbs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verb:
    help: str
    show: Callable[[Any, argparse.Namespace], Shown]
    params: tuple[str, ...] = ()        # positional arguments, sent as args
    change: bool = False


VERBS: dict[str, Verb] = {
    "status": Verb("summary: this node, every node and its links, every group and its holder",
                   show_status),
    "nodes": Verb("list the nodes with their status and type (cl_status listnodes -v)", show_nodes),
    "resources": Verb("list the resource groups and who holds them", show_resources),
    "node-status": Verb("print a node's status: init, up, active, dead or ping "
                        "(exit 1 unless active/up/ping)", show_node_status, ("node",)),
    "links": Verb("list a node's heartbeat links and their status", show_links, ("node",)),
    "link-status": Verb("print a link's status, up or dead (exit 1 unless up)",
                        show_link_status, ("node", "link")),
    "rscstatus": Verb("print what this node holds: none, local, foreign, all or transition",
                      show_rscstatus),
    "hbstatus": Verb("say whether hbd is running on this machine (exit 3 if not)", show_hbstatus),
    "metrics": Verb("print the metrics in Prometheus text format (as the endpoint)",
                    show_metrics),
    "standby": Verb("give groups away to the other node (hb_standby)", show_change, change=True),
    "takeover": Verb("take groups over from the other node (hb_takeover)", show_change,
                     change=True),
}


def _seconds(text: str) -> float:
    """A --timeout value: a finite number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds greater than 0 (e.g. 5 or 0.5), got {text!r}")
    return value


def _add_connection_options(parser: argparse.ArgumentParser, *, run_dir: str = DEFAULT_RUN_DIR,
                            timeout: float | str = 5.0) -> None:
    """--run-dir and --timeout; the verbs take them too (with SUPPRESS defaults)."""
    parser.add_argument("--run-dir", default=run_dir, metavar="DIR",
                        help=f"hbd's run directory, holding hbd.sock (default: {DEFAULT_RUN_DIR})")
    parser.add_argument("--timeout", type=_seconds, default=timeout, metavar="SECONDS",
                        help="how long to wait for hbd's answer (default: 5)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hbctl", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"hbctl (hbd) {__version__}")
    _add_connection_options(parser)
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, verb in VERBS.items():
        p = sub.add_parser(name, help=verb.help, description=verb.help)
        _add_connection_options(p, run_dir=argparse.SUPPRESS, timeout=argparse.SUPPRESS)
        for param in verb.params:
            p.add_argument(param, metavar=param.upper())
        if verb.change:
            p.add_argument("which", nargs="?", default="all", choices=GROUP_SETS,
                           help="which groups: all (default), local, foreign (= failback)")
        else:
            p.add_argument("--json", action="store_true", help="print hbd's answer as JSON")
    help_text = "validate ha.cf, haresources and authkeys (same as 'hbd check-config')"
    check = sub.add_parser("check-config", help=help_text, description=help_text)
    check_config.add_arguments(check)
    return parser


def _fail(message: str, status: int) -> int:
    print(f"hbctl: {message}", file=sys.stderr)
    return status


def _refused(response: dict[str, Any], verb: str) -> int:
    """hbd's no: exit 4 when the user is not allowed, else 1."""
    if response["code"] != NOT_AUTHORISED:
        return _fail(response["error"], 1)
    uid, user = response.get("uid"), response.get("user")
    if isinstance(uid, int):     # refused before hbd read the request: name the verb here
        return _fail(not_allowed(uid, user if isinstance(user, str) else None, verb), 4)
    return _fail(response["error"], 4)


def _ask(args: argparse.Namespace) -> int:
    """Send the verb to hbd, print its answer, return the exit status."""
    verb = VERBS[args.verb]
    params = {name: getattr(args, name) for name in verb.params}
    if verb.change:
        params["which"] = args.which
    path = socket_path(args.run_dir)
    try:
        response = request_sync(path, args.verb, params, timeout=args.timeout)
    except NotRunning as exc:
        if getattr(args, "json", False):
            print(json.dumps(not_running_document(path, str(exc)), indent=2))
            return 3
        if args.verb == "hbstatus":
            print("hbd is stopped on this machine.")
            return 3
        return _fail(str(exc), 3)
    except PermissionDenied as exc:
        return _fail(str(exc), 4)
    except ControlError as exc:
        return _fail(str(exc), 1)
    if not response["ok"]:
        return _refused(response, args.verb)
    try:
        lines, status = verb.show(response["data"], args)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return _fail(f"unexpected answer from hbd ({exc.__class__.__name__}: {exc})", 1)
    if getattr(args, "json", False):
        lines = [json.dumps(response["data"], indent=2)]
    for line in lines:
        print(line)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:            # usage errors (2) and --help (0)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.verb == "check-config":
            return int(check_config.run(args))
        return _ask(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        return _fail(str(exc), 1)


if __name__ == "__main__":
    raise SystemExit(main())

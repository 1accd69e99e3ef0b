"""`cl_status`: heartbeat 3.0.6's status tool, answered by hbd's control socket.

Every sub-command of 3.0.6's cl_status, with its options (`-m` human
readable, `-v` verbose, `-p`/`-n` ping/normal nodes only, `-p NAME` for
hbparameter), its output on stdout and stderr and its exit codes: 0 ok;
1 "normal failure" (heartbeat stopped, node or link dead, parameter unset,
client offline); 11 bad usage (unknown sub-command, missing parameter, bad
option, unknown node); 12 no answer within 5 s; 13 other errors. Errors are
logged the way heartbeat's cl_log does on stderr:

    Dec 05 09:11:28 node1 cl_status: [19124]: ERROR: Cannot signon with heartbeat

The data comes from two read verbs of the control socket, `heartbeat-nodes`
(asked once, as heartbeat's API sign-on) and `parameter`; see
`hbd.control.hbapi` for how hbd reproduces heartbeat's view. The socket is
`$HBD_RUN_DIR/hbd.sock` (default /run/hbd/hbd.sock). `docs/hbctl.md` lists
what differs from heartbeat.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from hbd.hbtools.getopt import Options
from hbd.hbtools.session import Session, SignonFailed

OK, NORMAL_FAIL, PARAMETER_ERROR, TIMEOUT, UNKNOWN_ERROR = 0, 1, 11, 12, 13
ALIVE = ("active", "up", "ping")

HELP = """\
Usage: cl_status <sub-command> [<options>] [<parameters>]

Sub-commands:
clientstatus <node-name> <client-id> [<timeout>]
\tShow the status of heartbeat clients.
hblinkstatus <node-name> <link-name>
\tShow the status of a heartbeat link
hbstatus
\tIndicate if heartbeat is running on the local system.
\tOptions:
\t\t-v\tverbose: also add "listnodes -v" output
listnodes [<option>]
\tList the nodes in the cluster.
\tOptions:
\t\t-p\tlist only 'ping' type nodes
\t\t-n\tlist only 'normal' type nodes
\t\t-v\tverbose: also list type and status,
\t\t\tthen add "listhblinks -v" output
listhblinks <node-name>
\tList the network interfaces used as hearbeat links.
\tOptions:
\t\t-v\tverbose: list link status as well
nodestatus <node-name>
\tList the node status.
nodeweight <node-name>
\tList the node weight.
nodesite <node-name>
\tList the node site.
nodetype <node-name>
\tList the nodes of a given type.
rscstatus
\tShow the status of cluster resources.
hbparameter -p <parameter-name>
\tRetrieve the value of a cluster parameter.
\tAs for the valid parameter names, please refer to the man page.
"""


@dataclass
class Parsed:
    flags: set[str]
    value: dict[str, str]
    operands: list[str]

    @property
    def human(self) -> bool:
        return "m" in self.flags


def _parse(s: Session, cmd: str, words: list[str], optstring: str,
           complaint: str | None) -> Parsed | None:
    """Walk the options; on a bad one log `complaint` and give None (None: ignore it)."""
    options = Options(cmd, words, optstring, s.err)
    parsed = Parsed(set(), {}, options.operands)
    for letter, argument in options:
        if letter == "?":
            if complaint is not None:
                s.log(complaint)
                return None
            continue
        parsed.flags.add(letter)
        if argument is not None:
            parsed.value[letter] = argument
    return parsed


SIMPLE = "Error: getopt returnedcharacter ?."          # heartbeat's words, verbatim
WITH_CODE = "Error: getopt returnedcharacter code ?."


def _node(s: Session, name: str) -> dict[str, Any] | None:
    nodes: list[dict[str, Any]] = s.hb["nodes"]
    for node in nodes:
        if node["name"].lower() == name.lower():
            return node
    return None


def _links(s: Session, node: dict[str, Any], verbose: bool, human: bool) -> None:
    if human:
        s.out.write("\tthis node has the following heartbeat links:\n")
    for link, status in node["links"].items():
        s.out.write(f"\t{link}\t{status}\n" if verbose else f"\t{link}\n")


def _list_nodes(s: Session, normal_only: bool, ping_only: bool, verbose: bool,
                human: bool) -> int:
    if normal_only and ping_only:
        normal_only = ping_only = False
    if human:
        s.out.write("The nodes are as follow:\n")
    for node in s.hb["nodes"]:
        if (normal_only and node["type"] != "normal") or (ping_only and node["type"] != "ping"):
            continue
        if verbose:
            s.out.write(f"\n{node['name']}\t{node['status']}\t(nodetype: {node['type']})\n")
            _links(s, node, True, human)
        else:
            s.out.write(f"{node['name']}\n")
    return OK


def hbstatus(s: Session, cmd: str, words: list[str]) -> int:
    parsed = _parse(s, cmd, words, "mv", None)
    assert parsed is not None
    verbose = "v" in parsed.flags
    if s.failure is not None:
        if s.failure.stopped:
            s.out.write("Heartbeat is stopped on this machine.\n")
        else:
            s.out.write("Heartbeat is apparently running on this machine, "
                        "but refuses my connection\n")
        if verbose and s.failure.reason:
            s.out.write(f"({s.failure.reason})\n")
        return NORMAL_FAIL if s.failure.stopped else OK
    if not verbose:
        s.out.write("Heartbeat is running on this machine.\n")
        return OK
    if parsed.human:
        s.out.write(f"Heartbeat version {s.hb['hbversion']}\n"
                    'Resources controlled by "haresources"\n')
    else:
        s.out.write(f"version:\t{s.hb['hbversion']}\n" 'managed by:\t"haresources"\n')
    return _list_nodes(s, False, False, True, parsed.human)


def listnodes(s: Session, cmd: str, words: list[str]) -> int:
    parsed = _parse(s, cmd, words, "mpnv", WITH_CODE)
    if parsed is None:
        return PARAMETER_ERROR
    flags = parsed.flags
    return _list_nodes(s, "n" in flags, "p" in flags, "v" in flags, parsed.human)


@dataclass(frozen=True)
class NodeQuery:
    """nodestatus, nodeweight, nodesite, nodetype: one node, one value."""

    missing: str          # stderr when the node name is missing
    unknown: str          # stderr when heartbeat does not know the node
    human: str            # -m's sentence: {name} as typed, {value}
    value: Callable[[dict[str, Any]], str]
    status: Callable[[str], int] = lambda value: OK

    def __call__(self, s: Session, cmd: str, words: list[str]) -> int:
        parsed = _parse(s, cmd, words, "m", SIMPLE)
        if parsed is None:
            return PARAMETER_ERROR
        if not parsed.operands:
            s.err.write(self.missing)
            return PARAMETER_ERROR
        name = parsed.operands[0]
        node = _node(s, name)
        if node is None:
            s.err.write(self.unknown)
            return PARAMETER_ERROR
        value = self.value(node)
        s.out.write(self.human.format(name=name, value=value) if parsed.human else f"{value}\n")
        return self.status(value)


NOT_ENOUGH, NO_ENOUGH = "Not enough parameters.\n", "No enough parameter.\n"
INCORRECT = "Error. May be due to incorrect node name\n"

nodestatus = NodeQuery(NOT_ENOUGH, INCORRECT, "The cluster node {name} is {value}\n",
                       lambda node: node["status"],
                       lambda value: OK if value in ALIVE else NORMAL_FAIL)
nodeweight = NodeQuery(NOT_ENOUGH, "Error. Maybe due to incorrect node name.\n",
                       "The weight of the cluster node {name} is {value}\n",
                       lambda node: str(node["weight"]))
nodesite = NodeQuery(NOT_ENOUGH, INCORRECT, "The site of the cluster node {name} is {value}\n",
                     lambda node: node["site"])
nodetype = NodeQuery(NO_ENOUGH, INCORRECT, "The node {name}'s type: {value}\n",
                     lambda node: node["type"])


def listhblinks(s: Session, cmd: str, words: list[str]) -> int:
    parsed = _parse(s, cmd, words, "mv", WITH_CODE)
    if parsed is None:
        return PARAMETER_ERROR
    if not parsed.operands:
        s.err.write(NO_ENOUGH)
        return PARAMETER_ERROR
    node = _node(s, parsed.operands[0])
    if node is None:
        s.log("Cannot start heartbeat link interface walk.")
        s.log("REASON: EINVAL")
        return UNKNOWN_ERROR
    _links(s, node, "v" in parsed.flags, parsed.human)
    return OK


def hblinkstatus(s: Session, cmd: str, words: list[str]) -> int:
    parsed = _parse(s, cmd, words, "m", SIMPLE)
    if parsed is None:
        return PARAMETER_ERROR
    if len(parsed.operands) < 2:
        s.err.write(NO_ENOUGH)
        return PARAMETER_ERROR
    name, link = parsed.operands[:2]
    node = _node(s, name)
    status = node["links"].get(link) if node is not None else None
    if status is None:
        s.log("Cannot get heartbeat link status")
        s.log("REASON: ")
        return UNKNOWN_ERROR
    s.out.write(f"The node {name}'s heartbeat link {link} is {status}\n" if parsed.human
                else f"{status}\n")
    return OK if status == "up" else NORMAL_FAIL


def clientstatus(s: Session, cmd: str, words: list[str]) -> int:
    """hbd runs no heartbeat API clients: offline here and on hbd peers; a heartbeat
    peer cannot be asked (heartbeat's answer when a peer does not reply)."""
    parsed = _parse(s, cmd, words, "m", SIMPLE)
    if parsed is None:
        return PARAMETER_ERROR
    if len(parsed.operands) < 2:
        s.err.write(NO_ENOUGH)
        return PARAMETER_ERROR
    name, client = parsed.operands[:2]
    node = _node(s, name)
    if node is None or (node["name"] != s.hb["node"] and node["status"] == "active"
                        and not node["is_hbd"]):
        s.log(f"Cannot get heartbeat client {client}'s status")
        s.log("REASON: No timely response.")
        return UNKNOWN_ERROR
    s.out.write("offline\n")
    return NORMAL_FAIL


def rscstatus(s: Session, cmd: str, words: list[str]) -> int:
    parsed = _parse(s, cmd, words, "m", SIMPLE)
    if parsed is None:
        return PARAMETER_ERROR
    held = s.hb["rscstatus"]
    s.out.write(f"This node is holding {held} resources.\n" if parsed.human else f"{held}\n")
    return OK


def hbparameter(s: Session, cmd: str, words: list[str]) -> int:
    parsed = _parse(s, cmd, words, "mp:", WITH_CODE)
    if parsed is None:
        return PARAMETER_ERROR
    name = parsed.value.get("p")
    if name is None:
        s.log("parameter name required")
        return PARAMETER_ERROR
    value = s.ask("parameter", {"name": name}).get("value")
    if not isinstance(value, str):
        s.log(f"Cannot get parameter {name}'s value")
        s.log("REASON: ")
        return NORMAL_FAIL
    s.out.write(f"Heartbeat parameter {name}'s value: {value}\n" if parsed.human
                else f"{value}\n")
    return OK


def test(s: Session, cmd: str, words: list[str]) -> int:
    """heartbeat's undocumented self-test: timings, this node, its resources."""
    hb = s.hb
    s.out.write(f"Dead time: {hb['deadtime_ms']}\n keeplive time: {hb['keepalive_ms']}\n"
                f" mynodeid: {hb['node']}\n rsc: {hb['rscstatus']}\n")
    return OK


Command = Callable[[Session, str, list[str]], int]
COMMANDS: dict[str, tuple[Command, bool]] = {       # name -> (function, needs sign-on)
    "hbstatus": (hbstatus, False), "listnodes": (listnodes, True),
    "nodestatus": (nodestatus, True), "nodeweight": (nodeweight, True),
    "nodesite": (nodesite, True), "nodetype": (nodetype, True),
    "listhblinks": (listhblinks, True), "hblinkstatus": (hblinkstatus, True),
    "clientstatus": (clientstatus, True), "rscstatus": (rscstatus, True),
    "hbparameter": (hbparameter, True), "test": (test, True),
}


def run(argv: list[str], out: TextIO, err: TextIO, session: Session | None = None) -> int:
    """cl_status with `argv` (argv[0] is the program); the exit status."""
    if len(argv) == 1 or (len(argv) == 2 and argv[1] == "-h"):
        out.write(HELP)
        return OK
    s = session or Session(out, err)
    entry = COMMANDS.get(argv[1])
    if entry is None:
        s.log(f"{argv[1]}: invalid sub-command.")
        return PARAMETER_ERROR
    command, needs_signon = entry
    try:
        s.signon()
        if s.failure is not None and needs_signon:
            s.log("Cannot signon with heartbeat")
            s.log(f"REASON: {s.failure.reason}")
            return NORMAL_FAIL
        return command(s, argv[1], argv[2:])
    except SignonFailed as exc:          # a later request failed: heartbeat's API error
        s.log(f"REASON: {exc.reason}")
        return UNKNOWN_ERROR
    except (KeyError, TypeError, AttributeError) as exc:     # an answer of another shape
        s.log(f"REASON: unexpected answer from hbd ({exc.__class__.__name__}: {exc})")
        return UNKNOWN_ERROR
    except TimeoutError:                 # heartbeat's alarm(5)
        return TIMEOUT


def main(argv: list[str] | None = None) -> int:
    try:
        return run(sys.argv if argv is None else argv, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
if __name__ == "__main__":
    raise SystemExit(main())

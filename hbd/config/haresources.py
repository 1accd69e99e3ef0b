"""Parse haresources text into `ResourceGroup`s (heartbeat's v1 resource list).

Rules (heartbeat 3.0.6 `ResourceManager`; heartbeat-semantics.md §3.1):

* One resource group per line. A line ending in a backslash continues on the
  next one (joined as the shell's `read` does); problems are reported at the
  line where the group starts.
* `#` at the start of a word starts a comment. Blank lines are ignored.
* The first word is the group's home node, lower-cased; it must be declared by
  a `node` line in ha.cf. The other words are the resources, started left to
  right and stopped right to left. The first resource is the group key, and
  keys must be unique.
* A resource is `NAME` or `NAME::ARG1::ARG2...`. A word that looks like an
  IPv4 address (glob `[0-9]*.[0-9]*.[0-9]*.[0-9]*`) means `IPaddr::WORD`.
* `NATIVE_RESOURCES` are implemented by hbd itself and their arguments are
  checked here. Any other name is a script looked up in resource.d, then
  init.d, or a class-prefixed agent (`heartbeat:`, `lsb:`, `ocf:P:T`, see
  `agents.py`); `load.py` does that look-up because it touches the disk.
* Reading stops after `limits.MAX_ERRORS` errors ("... and more errors").
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Sequence

from hbd.config import values
from hbd.config.agents import check_agent_args, parse_agent
from hbd.config.lexer import (physical_lines, shorten, strip_shell_comment, unusual_blanks,
                              words)
from hbd.config.limits import and_more, full
from hbd.config.model import Problem, Resource, ResourceGroup, Severity

IP_GLOB = "[0-9]*.[0-9]*.[0-9]*.[0-9]*"


def _check_ipaddr(args: tuple[str, ...]) -> str | None:
    if len(args) != 1:
        return "takes one argument, IP[/PREFIX[/IFACE[/BROADCAST]]]"
    parts = args[0].split("/")
    if len(parts) > 4:
        return f"'{args[0]}' has too many '/' parts; write IP[/PREFIX[/IFACE[/BROADCAST]]]"
    problem = values.check_ipv4(parts[0], "address")
    if problem:
        return problem
    if len(parts) > 1 and parts[1]:
        if "." in parts[1]:
            return f"netmask '{parts[1]}' must be a prefix length: write e.g. /24 for 255.255.255.0"
        _, problem = values.check_int(parts[1], 0, 32, "prefix length")
        if problem:
            return problem
    if len(parts) > 2 and parts[2]:
        if parts[2][0].isdigit():  # heartbeat: a digit here means the broadcast address
            if len(parts) > 3:
                return f"'{parts[2]}' is read as the broadcast address; write IP/PREFIX/IFACE/BROADCAST"
            return values.check_ipv4(parts[2], "broadcast address")
        problem = values.check_iface(parts[2])
        if problem:
            return problem
    if len(parts) > 3 and parts[3]:
        return values.check_ipv4(parts[3], "broadcast address")
    return None


def _check_macaddr(args: tuple[str, ...]) -> str | None:
    if len(args) != 2:
        return "takes two arguments: MacAddr::IFACE::MAC, e.g. MacAddr::eth0::00:1E:68:1E:99:5E"
    return values.check_iface(args[0]) or values.check_mac(args[1])


def _check_hostname(args: tuple[str, ...]) -> str | None:
    if len(args) != 1:
        return "takes one argument: Hostname::NAME, e.g. Hostname::nodevir"
    return values.check_hostname(args[0])


def _check_route(args: tuple[str, ...]) -> str | None:
    if len(args) != 1:
        return "takes one argument: DefaultRoute::GATEWAY, e.g. DefaultRoute::192.168.32.254"
    return values.check_ipv4(args[0], "gateway")


# Resources hbd implements itself (no script look-up), with their argument checks.
NATIVE_RESOURCES: dict[str, Callable[[tuple[str, ...]], str | None]] = {
    "IPaddr": _check_ipaddr,
    "IPaddr2": _check_ipaddr,
    "MacAddr": _check_macaddr,
    "Hostname": _check_hostname,
    "DefaultRoute": _check_route,
}


def is_native(resource: Resource) -> bool:
    return resource.name in NATIVE_RESOURCES


def parse_resource(word: str) -> tuple[Resource | None, str | None]:
    """One haresources word as a `Resource`, or a message saying what is wrong."""
    if fnmatch.fnmatchcase(word, IP_GLOB):
        word = f"IPaddr::{word}"
    name, *args = word.split("::")
    if not name:
        return None, f"resource '{word}' has no name before '::'; write NAME::ARG, e.g. IPaddr::10.0.0.5"
    if "/" in name:
        return None, (f"resource '{name}' is a path; write only the script name and put the "
                      "script in resource.d or init.d")
    agent, problem = parse_agent(name, NATIVE_RESOURCES)
    if agent is None:
        return None, f"resource '{word}': {problem}"
    check = NATIVE_RESOURCES.get(name)
    if check:
        problem = check(tuple(args))
        if problem:
            return None, f"resource '{word}': {name} {problem}"
    problem = check_agent_args(agent, args)
    if problem:
        return None, f"resource '{word}': {problem}"
    return Resource(name, tuple(args), word), None


def logical_lines(text: str) -> Iterator[tuple[int, str, list[str]]]:
    """(first line number, joined text, notes) with backslash continuations joined."""
    start: int | None = None
    parts: list[str] = []
    notes: list[str] = []
    for number, line in physical_lines(text):
        start = number if start is None else start
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        if line.rstrip(" \t").endswith("\\") and not line.lstrip().startswith("#"):
            notes.append("blanks after the final backslash stop it from continuing the line; "
                         "remove them")
        parts.append(line)
        yield start, "".join(parts), notes
        start, parts, notes = None, [], []
    if parts:
        yield start or 1, "".join(parts), notes


class _Reader:
    """Collects groups and problems for one haresources file."""

    def __init__(self, source: str, nodes: Sequence[str] | None) -> None:
        self.source = source
        self.nodes = None if nodes is None else tuple(n.lower() for n in nodes)
        self.groups: list[ResourceGroup] = []
        self.key_lines: dict[str, int] = {}
        self.problems: list[Problem] = []
        self.odd_blanks: list[int] = []

    def report(self, line: int | None, message: str, severity: Severity = Severity.ERROR) -> None:
        self.problems.append(Problem(self.source, line, severity, message))

    def read_line(self, number: int, text: str) -> None:
        fields = words(text)
        if not fields:
            return
        if unusual_blanks(text):
            self.odd_blanks.append(number)
        node = fields[0].lower()
        if self.nodes is not None and node not in self.nodes:
            declared = ", ".join(self.nodes) or "none"
            self.report(number, f"'{shorten(fields[0])}' is not a node declared in ha.cf "
                        f"(declared: {declared}); a haresources line starts with the home node "
                        "of its group. If this line is a comment, start it with '#'")
            return
        if len(fields) == 1:
            self.report(number, f"{node} has no resources: list them after the node name, e.g. "
                        f"'{node} IPaddr::192.168.32.21/24/eth0'")
            return
        self.add_group(number, node, fields[1:])

    def add_group(self, number: int, node: str, specs: list[str]) -> None:
        resources: list[Resource] = []
        for spec in specs:
            resource, problem = parse_resource(spec)
            if problem:
                self.report(number, problem)
            elif resource is not None:
                resources.append(resource)
        if len(resources) != len(specs):
            return
        group = ResourceGroup(node, tuple(resources), number)
        if group.key in self.key_lines:
            self.report(number, f"group key '{group.key}' is already used by the group on line "
                        f"{self.key_lines[group.key]}; the first resource names a group, so it "
                        "must be unique")
            return
        self.key_lines[group.key] = number
        self.groups.append(group)


def parse_haresources(text: str, source: str = "haresources",
                      nodes: Sequence[str] | None = None
                      ) -> tuple[tuple[ResourceGroup, ...], list[Problem]]:
    """Parse haresources `text`. With `nodes` (ha.cf's), home nodes are checked."""
    reader = _Reader(source, nodes)
    for number, text_line, notes in logical_lines(text):
        for note in notes:
            reader.report(number, note, Severity.WARNING)
        reader.read_line(number, strip_shell_comment(text_line))
        if full(reader.problems):
            reader.problems.append(and_more(source, number))
            break
    if reader.odd_blanks:
        more = len(reader.odd_blanks) - 1
        where = f"on this line and {more} more" if more else "on this line"
        reader.report(reader.odd_blanks[0], f"unusual blank character {where} (a no-break "
                      "space pasted from a web page?): hbd reads it as a blank, heartbeat's "
                      "shell would not; replace it with an ordinary space", Severity.WARNING)
    return tuple(reader.groups), reader.problems

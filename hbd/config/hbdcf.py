"""Parse hbd.cf, hbd's own settings, into `HbdSettings` (docs/hbd.cf.md).

hbd.cf is optional and lives next to ha.cf; heartbeat never reads it. Its
lexical rules are ha.cf's: one directive per line, `#` starts a comment
anywhere, blanks separate words, directive names are case-sensitive, booleans
are on/off (yes/no, true/false, y/n, 1/0) and times use heartbeat's syntax (a
bare number is seconds, `ms`/`us` suffixes). Commas are ordinary characters
(a `notify` argument may hold one).

Every directive is one row of `HBD_DIRECTIVES`: its handler, whether it may
be repeated, and one line of help. An unknown directive is an error with a
did-you-mean; an ha.cf directive written here is an error that says to move
it. A single-valued directive given twice keeps the last value (warning).
Parsing stops after `limits.MAX_ERRORS` errors.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any
from collections.abc import Callable

from hbd.config import values
from hbd.config.lexer import (BOOL_HELP, parse_bool, physical_lines, shorten, split_directive,
                              strip_comment, suggest, words)
from hbd.config.limits import and_more, full
from hbd.config.model import Problem, Severity
from hbd.config.settings import (HbdSettings, LogFormat, MetricsEndpoint, Notify, StopFailure,
                                 TcpEndpoint, UnixEndpoint)
from hbd.config.timeval import format_seconds, parse_time


@dataclass
class _Builder:
    source: str
    line: int = 0
    problems: list[Problem] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    notify: list[Notify] = field(default_factory=list)
    heartbeat_directives: frozenset[str] = frozenset()   # ha.cf's (for a hint)

    def error(self, message: str) -> None:
        self.problems.append(Problem(self.source, self.line, Severity.ERROR, message))

    def warning(self, message: str) -> None:
        self.problems.append(Problem(self.source, self.line, Severity.WARNING, message))


Handler = Callable[[_Builder, str, str], None]    # builder, directive, rest of the line


def _one_word(b: _Builder, name: str, rest: str) -> str | None:
    fields = words(rest)
    if len(fields) != 1:
        b.error(f"{name} takes one value, got {len(fields)}: write e.g. '{EXAMPLES[name]}'")
        return None
    return fields[0]


def _boolean(b: _Builder, name: str, rest: str) -> None:
    word = _one_word(b, name, rest)
    if word is None:
        return
    value = parse_bool(word)
    if value is None:
        b.error(f"{name}: '{word}' is not a boolean; {BOOL_HELP}")
        return
    b.values[name] = value


def _duration(low: float, high: float, *, optional: bool = False) -> Handler:
    def handle(b: _Builder, name: str, rest: str) -> None:
        word = _one_word(b, name, rest)
        if word is None:
            return
        seconds, problem = parse_time(word)
        if problem or seconds is None:
            b.error(f"{name}: {problem}")
        elif not low <= seconds <= high:
            b.error(f"{name} {format_seconds(seconds)} is out of range; write a time from "
                    f"{format_seconds(low)} to {format_seconds(high)}")
        else:
            b.values[name] = seconds
    return handle


def _enum(kind: type[StopFailure] | type[LogFormat]) -> Handler:
    choices = tuple(member.value for member in kind)

    def handle(b: _Builder, name: str, rest: str) -> None:
        word = _one_word(b, name, rest)
        if word is None:
            return
        if word not in choices:
            hint = suggest(word, choices)
            extra = f" (did you mean '{hint}'?)" if hint else ""
            b.error(f"{name}: '{word}' is not valid{extra}; write one of: {', '.join(choices)}")
            return
        b.values[name] = kind(word)
    return handle


def _notify(b: _Builder, name: str, rest: str) -> None:
    argv = tuple(words(rest))
    if not argv or not argv[0].startswith("/"):
        b.error("notify needs an absolute program path: write 'notify /path/to/program [ARGS]', "
                "e.g. 'notify /usr/local/sbin/page-oncall --team ha'")
        return
    b.notify.append(Notify(argv, b.line))


def metrics_endpoint(text: str) -> tuple[MetricsEndpoint | None, str | None]:
    """(endpoint, None), (None, None) for `off`, or (None, message)."""
    if text == "off":
        return None, None
    if text.startswith("unix:"):
        path = text[len("unix:"):]
        if not path.startswith("/"):
            return None, f"'{text}': write unix:/ABSOLUTE/PATH, e.g. unix:/run/hbd/metrics.sock"
        return UnixEndpoint(path), None
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        return None, (f"'{text}' is not off, HOST:PORT or unix:PATH; write e.g. "
                      "127.0.0.1:9694 or unix:/run/hbd/metrics.sock")
    port, problem = values.check_int(port_text, 1, 65535, "metrics port")
    if problem or port is None:
        return None, problem
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None, f"'{host}' in brackets is not an IPv6 address"
    elif values.check_ipv4(host) is not None and values.check_hostname(host) is not None:
        return None, f"'{host}' is not an IPv4 address, [IPv6] address or host name"
    return TcpEndpoint(host, port), None


_LOCAL = ("localhost", "127.0.0.1", "::1")


def _metrics(b: _Builder, name: str, rest: str) -> None:
    word = _one_word(b, name, rest)
    if word is None:
        return
    endpoint, problem = metrics_endpoint(word)
    if problem:
        b.error(f"metrics: {problem}")
        return
    if isinstance(endpoint, TcpEndpoint) and not (endpoint.host in _LOCAL
                                                  or endpoint.host.startswith("127.")):
        b.warning(f"metrics {word} listens beyond this host: anyone who reaches "
                  f"{endpoint.host}:{endpoint.port} reads the cluster's state; prefer "
                  "127.0.0.1:PORT or unix:PATH behind a reverse proxy")
    b.values[name] = endpoint


@dataclass(frozen=True)
class Directive:
    handler: Handler
    repeatable: bool
    example: str
    help: str


# The one table of hbd.cf directives: add a row (and an `HbdSettings` field) to extend it.
HBD_DIRECTIVES: dict[str, Directive] = {
    "quorum": Directive(_boolean, False, "quorum on",
                        "with 3+ nodes, a partition without a majority takes no group over"),
    "arp_probe": Directive(_boolean, False, "arp_probe on",
                           "probe a group's IPs on the service LAN before a takeover"),
    "arp_probe_wait": Directive(_duration(0.001, 10.0), False, "arp_probe_wait 5ms",
                                "how long a probe waits for an answer"),
    "on_stop_failure": Directive(_enum(StopFailure), False, "on_stop_failure auto",
                                 "auto, reboot, fence or hold when a resource will not stop"),
    "fence_delay": Directive(_duration(0.0, 3600.0), False, "fence_delay 2",
                             "base delay of a non-holder before fencing in a two-node race"),
    "notify": Directive(_notify, True, "notify /usr/local/sbin/ha-notify",
                        "a program run on each cluster event (repeatable)"),
    "notify_timeout": Directive(_duration(0.001, 3600.0), False, "notify_timeout 10",
                                "how long a notify program may run"),
    "metrics": Directive(_metrics, False, "metrics 127.0.0.1:9694",
                         "off, HOST:PORT or unix:PATH for the metrics endpoint"),
    "logformat": Directive(_enum(LogFormat), False, "logformat json", "text or json log lines"),
}
EXAMPLES = {name: d.example for name, d in HBD_DIRECTIVES.items()}


def _illegal(b: _Builder, directive: str) -> None:
    shown = shorten(directive)
    if directive in b.heartbeat_directives:
        b.error(f"'{directive}' is a heartbeat directive: it belongs in ha.cf, not in hbd.cf")
        return
    hint = suggest(directive, HBD_DIRECTIVES)
    advice = (f"did you mean '{hint}'?" if hint else
              f"hbd.cf knows: {', '.join(HBD_DIRECTIVES)}")
    b.error(f"unknown hbd.cf directive '{shown}'; {advice}")


def _apply(b: _Builder, directive: str, rest: str) -> None:
    entry = HBD_DIRECTIVES.get(directive)
    if entry is None:
        _illegal(b, directive)
        return
    if not rest:
        b.error(f"{directive} needs a value: write e.g. '{entry.example}'")
        return
    if not entry.repeatable and directive in b.lines:
        b.warning(f"{directive} is also set on line {b.lines[directive]}; the value on this "
                  "line replaces it")
    b.lines.setdefault(directive, b.line)
    entry.handler(b, directive, rest)


def parse_hbdcf(text: str, source: str = "hbd.cf", *,
                heartbeat_directives: frozenset[str] = frozenset()
                ) -> tuple[HbdSettings, list[Problem]]:
    """Parse hbd.cf `text`; `source` names the file in problems; `heartbeat_directives`
    (ha.cf's directive names) turn an ha.cf line written here into a precise error."""
    b = _Builder(source, heartbeat_directives=heartbeat_directives)
    for number, raw in physical_lines(text):
        b.line = number
        line = strip_comment(raw)
        if not line.strip():
            continue
        directive, rest = split_directive(line)
        _apply(b, directive, rest)
        if full(b.problems):
            b.problems.append(and_more(source, number))
            break
    settings = replace(HbdSettings(), **b.values, notify=tuple(b.notify), source=source,
                       lines=tuple(b.lines.items()))
    return settings, b.problems

"""Parse ha.cf text into a `HaCf`, collecting `Problem`s the way heartbeat does.

Rules (heartbeat 3.0.6, `config.c`; see heartbeat-semantics.md §1):

* One directive per line; `#` starts a comment anywhere; blank lines are ignored.
* Directive names are case-sensitive. An unknown name is an error ("Illegal
  directive"), with a did-you-mean suggestion. `udp` is an old alias of `bcast`.
* Option-list directives split the rest of the line on blanks **and commas**
  and apply each word as if the directive were repeated (`node a b c`). For a
  single-valued directive the last word wins; hbd warns about it.
* `ucast`, `mcast`, `ping_group`, `ucast6`, `mcast6` and the whole-line
  directives `respawn`, `failfast`, `apiauth`, `stonith`, `stonith_host` read
  the rest of the line themselves (`hacf_items.py`).
* Every directive heartbeat 3.0.6 accepts is recognised. Those hbd does not act
  on yet are checked, stored where a later feature needs them, and reported
  with a warning that names them (`NOT_IMPLEMENTED`). Turning on Pacemaker
  (`crm on|yes|respawn...`) or `autojoin other|any` is an error: hbd runs
  haresources clusters only.
* After the last line the defaults are computed and the timings checked
  (`hacf_checks.py`).
"""

from __future__ import annotations

import enum
import re
from typing import Callable

from hbd.config import hacf_items as items
from hbd.config import values
from hbd.config.builder import HaCfBuilder
from hbd.config.hacf_checks import finish
from hbd.config.lexer import (BOOL_HELP, option_tokens, parse_bool, physical_lines, shorten,
                              split_directive, strip_comment, suggest, unusual_blanks)
from hbd.config.model import AutoFailback, HaCf, Problem
from hbd.config.timeval import parse_time

Handler = Callable[[HaCfBuilder, str], None]


class Kind(enum.Enum):
    OPTIONS = "options"   # split on blanks and commas, handler called per word
    LINE = "line"         # handler gets the rest of the line


# --- handler factories ------------------------------------------------------------

def _time(name: str, field: str | None = None) -> Handler:
    def handle(b: HaCfBuilder, text: str) -> None:
        seconds, problem = parse_time(text)
        if problem:
            b.error(f"{name}: {problem}")
        elif field:
            b.set_field(field, seconds)
    return handle


def _bool(name: str, field: str | None = None) -> Handler:
    def handle(b: HaCfBuilder, text: str) -> None:
        value = parse_bool(text)
        if value is None:
            b.error(f"{name}: '{text}' is not a boolean; {BOOL_HELP}")
        elif field:
            b.set_field(field, value)
    return handle


def _int(name: str, low: int, high: int, field: str | None = None, scale: float = 1) -> Handler:
    def handle(b: HaCfBuilder, text: str) -> None:
        value, problem = values.check_int(text, low, high, name)
        if problem:
            b.error(problem)
        elif field and value is not None:
            b.set_field(field, value * scale if scale != 1 else value)
    return handle


def _choice(name: str, choices: tuple[str, ...], field: str | None = None) -> Handler:
    def handle(b: HaCfBuilder, text: str) -> None:
        if text not in choices:
            hint = suggest(text, choices)
            extra = f" (did you mean '{hint}'?)" if hint else ""
            b.error(f"{name}: '{text}' is not valid{extra}; write one of: {', '.join(choices)}")
        elif field:
            b.set_field(field, text)
    return handle


def _path(name: str, field: str | None = None) -> Handler:
    def handle(b: HaCfBuilder, text: str) -> None:
        if not text.startswith("/"):
            b.error(f"{name}: '{text}' is not an absolute path; write e.g. '{name} /var/log/ha-log'")
        elif field:
            b.set_field(field, text)
    return handle


def _string(field: str | None = None) -> Handler:
    def handle(b: HaCfBuilder, text: str) -> None:
        if field:
            b.set_field(field, text)
    return handle


# --- handlers with their own rules ----------------------------------------------

def _node(b: HaCfBuilder, text: str) -> None:
    name = text.lower()
    if name in b.node_lines:
        b.warning(f"node '{name}' is already declared on line {b.node_lines[name]}; "
                  "the duplicate is ignored")
        return
    b.nodes.append(name)
    b.node_lines[name] = b.line


def _udpport(b: HaCfBuilder, text: str) -> None:
    port, problem = values.check_int(text, 1, 65535, "udpport")
    if problem:
        b.error(problem)
        return
    b.set_field("udpport", port)
    if b.first_media_line is not None:
        b.warning(f"udpport comes after the media line {b.first_media_line}; heartbeat "
                  "expects it before bcast/ucast/mcast: move it above them")


def _auto_failback(b: HaCfBuilder, text: str) -> None:
    if text.lower() == "legacy":
        b.warning("Deprecated 'legacy' auto_failback option selected: groups always move back "
                  "to their home node and hb_standby is unavailable; write 'auto_failback on' or 'off'")
        b.set_field("auto_failback", AutoFailback.LEGACY)
        return
    value = parse_bool(text)
    if value is None:
        b.error(f"auto_failback: '{text}' is not valid; write on, off or legacy")
        return
    b.set_field("auto_failback", AutoFailback.ON if value else AutoFailback.OFF)


def _nice_failback(b: HaCfBuilder, text: str) -> None:
    value = parse_bool(text)
    if value is None:
        b.error(f"nice_failback: '{text}' is not a boolean; {BOOL_HELP}")
        return
    mapped = AutoFailback.OFF if value else AutoFailback.LEGACY
    b.warning(f"nice_failback is obsolete; heartbeat reads 'nice_failback {text}' as "
              f"'auto_failback {mapped.value}': write 'auto_failback {mapped.value}' instead")
    b.set_field("auto_failback", mapped)


CRM_OFF = ("off", "false", "no", "n", "0")
CRM_ON = ("on", "true", "yes", "y", "1", "respawn", "minimal", "manual", "ccm-only", "valgrind")


def _crm(name: str) -> Handler:
    def handle(b: HaCfBuilder, text: str) -> None:
        word = text.lower()
        if word in CRM_OFF:
            b.set_field("crm", False)
        elif word in CRM_ON:
            b.error(f"'{name} {text}' turns on Pacemaker (the CRM), which hbd does not run: hbd "
                    f"manages haresources clusters only. Write '{name} off' or remove the line")
        else:
            b.error(f"{name}: '{text}' is not valid; hbd needs '{name} off' (or no {name} line)")
    return handle


def _autojoin(b: HaCfBuilder, text: str) -> None:
    if text == "none":
        return
    if text in ("other", "any"):
        b.error(f"'autojoin {text}' conflicts with haresources (heartbeat: \"R1 style resource "
                "management conflicts with autojoin set\"); write 'autojoin none' or remove the line "
                "and list every node with 'node' lines")
        return
    b.error(f"autojoin: '{text}' is not valid; write 'autojoin none'")


FACILITIES = ("none", "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail",
              "news", "syslog", "user", "uucp", *(f"local{i}" for i in range(8)))
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _env(b: HaCfBuilder, text: str) -> None:
    if not _ENV.match(text):
        b.error(f"env: '{text}' is not NAME=value; write e.g. 'env DEBUG=1'")


DIRECTIVES: dict[str, tuple[Kind, Handler]] = {
    "node": (Kind.OPTIONS, _node),
    "keepalive": (Kind.OPTIONS, _time("keepalive", "keepalive")),
    "deadtime": (Kind.OPTIONS, _time("deadtime", "deadtime")),
    "warntime": (Kind.OPTIONS, _time("warntime", "warntime")),
    "initdead": (Kind.OPTIONS, _time("initdead", "initdead")),
    "deadping": (Kind.OPTIONS, _time("deadping", "deadping")),
    "udpport": (Kind.OPTIONS, _udpport),
    "bcast": (Kind.OPTIONS, items.bcast),
    "ucast": (Kind.LINE, items.ucast),
    "mcast": (Kind.LINE, items.mcast),
    "ucast6": (Kind.LINE, _string()),
    "mcast6": (Kind.LINE, _string()),
    "serial": (Kind.OPTIONS, _path("serial")),
    "baud": (Kind.OPTIONS, _choice("baud", ("9600", "19200", "38400", "57600", "115200",
                                            "230400", "460800"))),
    "ping": (Kind.OPTIONS, items.ping),
    "ping6": (Kind.OPTIONS, _string()),
    "ping_group": (Kind.LINE, items.ping_group),
    "hopfudge": (Kind.OPTIONS, _int("hopfudge", 0, 255, "hopfudge")),
    "auto_failback": (Kind.OPTIONS, _auto_failback),
    "nice_failback": (Kind.OPTIONS, _nice_failback),
    "logfile": (Kind.OPTIONS, _path("logfile", "logfile")),
    "debugfile": (Kind.OPTIONS, _path("debugfile", "debugfile")),
    "logfacility": (Kind.OPTIONS, _choice("logfacility", FACILITIES, "logfacility")),
    "use_logd": (Kind.OPTIONS, _bool("use_logd")),
    "conn_logd_time": (Kind.OPTIONS, _time("conn_logd_time")),
    "syslogmsgfmt": (Kind.OPTIONS, _bool("syslogmsgfmt")),
    "log_badpack": (Kind.OPTIONS, _bool("log_badpack")),
    "debug": (Kind.OPTIONS, _int("debug", 0, 255, "debug")),
    "respawn": (Kind.LINE, items.respawn),
    "failfast": (Kind.LINE, items.failfast),
    "apiauth": (Kind.LINE, items.apiauth),
    "stonith": (Kind.LINE, items.stonith),
    "stonith_host": (Kind.LINE, items.stonith_host),
    "watchdog": (Kind.OPTIONS, items.watchdog),
    "realtime": (Kind.OPTIONS, _bool("realtime")),
    "rtprio": (Kind.OPTIONS, _int("rtprio", 1, 99)),
    "memreserve": (Kind.OPTIONS, _int("memreserve", 0, 10_000_000)),
    "coredumps": (Kind.OPTIONS, _bool("coredumps")),
    "coreroot": (Kind.OPTIONS, _path("coreroot")),
    "hbgenmethod": (Kind.OPTIONS, _choice("hbgenmethod", ("file", "time"), "hbgenmethod")),
    "uuidfrom": (Kind.OPTIONS, _choice("uuidfrom", ("file", "nodename"), "uuidfrom")),
    "msgfmt": (Kind.OPTIONS, _choice("msgfmt", ("classic", "netstring"), "msgfmt")),
    "compression": (Kind.OPTIONS, _choice("compression", ("zlib", "bz2"), "compression")),
    "compression_threshold": (Kind.OPTIONS, _int("compression_threshold", 0, 1_000_000,
                                                 "compression_threshold")),
    "traditional_compression": (Kind.OPTIONS, _bool("traditional_compression",
                                                    "traditional_compression")),
    "max_rexmit_delay": (Kind.OPTIONS, _int("max_rexmit_delay", 1, 3_600_000,
                                            "max_rexmit_delay", scale=0.001)),
    "autojoin": (Kind.OPTIONS, _autojoin),
    "cluster": (Kind.OPTIONS, _string("cluster")),
    "crm": (Kind.OPTIONS, _crm("crm")),
    "pacemaker": (Kind.OPTIONS, _crm("pacemaker")),
    "crm_daemon_dir": (Kind.OPTIONS, _path("crm_daemon_dir")),
    "crmd_spawns_pengine": (Kind.OPTIONS, _bool("crmd_spawns_pengine")),
    "record_config_changes": (Kind.OPTIONS, _bool("record_config_changes")),
    "record_pengine_inputs": (Kind.OPTIONS, _bool("record_pengine_inputs")),
    "enable_config_writes": (Kind.OPTIONS, _bool("enable_config_writes")),
    "quorum_server": (Kind.OPTIONS, _string()),
    "env": (Kind.OPTIONS, _env),
    "use_apphbd": (Kind.OPTIONS, _bool("use_apphbd")),
}

# Option-list directives that name items (several words make several items).
MULTI = frozenset({"node", "bcast", "ping", "ping6", "serial", "env"})

_SERIAL = "it only matters for serial links, and hbd talks over UDP (bcast, ucast, mcast)"
_PACEMAKER = "only Pacemaker (crm) uses it"
_COMPRESS = ("hbd never compresses; heartbeat only compresses large API/CRM messages, "
             "which a haresources cluster does not send")
NOT_IMPLEMENTED: dict[str, str] = {
    "serial": "hbd talks over UDP only: use bcast, ucast or mcast",
    "baud": _SERIAL, "hopfudge": _SERIAL,
    "ucast6": "hbd's media are IPv4 only: use ucast", "mcast6": "hbd's media are IPv4 only: use mcast",
    "ping6": "hbd's ping nodes are IPv4 only: use ping",
    "watchdog": "no watchdog device is fed",
    "respawn": "", "failfast": "the program is not started",
    "realtime": "", "rtprio": "", "memreserve": "", "coredumps": "", "coreroot": "",
    "use_logd": "hbd writes its log itself (logfile, debugfile, logfacility)",
    "conn_logd_time": "hbd does not use logd", "syslogmsgfmt": "", "log_badpack": "",
    "env": "no client programs are respawned", "use_apphbd": "",
    "compression": _COMPRESS, "compression_threshold": _COMPRESS,
    "traditional_compression": _COMPRESS,
    **{name: _PACEMAKER for name in ("crm_daemon_dir", "crmd_spawns_pengine", "record_config_changes",
                                     "record_pengine_inputs", "enable_config_writes", "quorum_server")},
}


def _illegal(b: HaCfBuilder, directive: str) -> None:
    shown = shorten(directive)
    if directive.lower() in DIRECTIVES:
        b.error(f"Illegal directive '{shown}': directive names are lower-case; "
                f"write '{directive.lower()}'")
        return
    hint = suggest(directive, DIRECTIVES)
    advice = (f"did you mean '{hint}'?" if hint else
              "if this line is a comment, start it with '#'")
    b.error(f"Illegal directive '{shown}' (heartbeat 3.0.6 has no such ha.cf directive); {advice}")


def _note_repeat(b: HaCfBuilder, name: str, tokens: list[str]) -> None:
    if name in MULTI or name not in DIRECTIVES or DIRECTIVES[name][0] is Kind.LINE:
        return
    if name in b.directive_lines and name != "watchdog":
        b.warning(f"{name} is also set on line {b.directive_lines[name]}; "
                  "the value on this line replaces it")
    if len(tokens) > 1:
        b.warning(f"{name} has several values ({' '.join(tokens)}); heartbeat applies each "
                  f"and keeps the last ({tokens[-1]}): write just one")


def _apply(b: HaCfBuilder, directive: str, rest: str) -> None:
    name = directive
    if name == "udp":
        b.warning("directive 'udp' is the old name of 'bcast'; write 'bcast'")
        name = "bcast"
    entry = DIRECTIVES.get(name)
    if entry is None:
        _illegal(b, directive)
        return
    kind, handler = entry
    b.written.append((name, rest))
    tokens = option_tokens(rest) if kind is Kind.OPTIONS else [rest]
    if not rest or not tokens:
        b.error(f"{name} needs a value (e.g. '{name} ...'); write it after the directive name")
        return
    _note_repeat(b, name, tokens)
    b.directive_lines.setdefault(name, b.line)
    for token in tokens:
        handler(b, token)
    if name in NOT_IMPLEMENTED:
        _not_implemented(b, name)


def _not_implemented(b: HaCfBuilder, name: str) -> None:
    hint = NOT_IMPLEMENTED[name]
    if name == "respawn" and b.respawn and b.respawn[-1].line == b.line:
        hint = items.program_hint(b.respawn[-1].argv)
    b.warning(f"hbd does not implement '{name}' yet; it is ignored" + (f" ({hint})" if hint else ""))


def _report_blanks(b: HaCfBuilder, lines: list[tuple[int, list[str]]]) -> None:
    if not lines:
        return
    first, names = lines[0]
    where = f"on this line and {len(lines) - 1} more" if len(lines) > 1 else "on this line"
    b.warning(f"unusual blank character {', '.join(names)} {where} (a no-break space pasted "
              "from a web page?): hbd reads it as a blank, but heartbeat would take it as part "
              "of a word and reject the line; replace it with an ordinary space", line=first)


def parse_hacf(text: str, source: str = "ha.cf") -> tuple[HaCf, list[Problem]]:
    """Parse ha.cf `text`; `source` names the file in problems."""
    b = HaCfBuilder(source)
    odd: list[tuple[int, list[str]]] = []
    for number, raw in physical_lines(text):
        b.line = number
        line = strip_comment(raw)
        if not line.strip():
            continue
        if unusual_blanks(line):
            odd.append((number, unusual_blanks(line)))
        directive, rest = split_directive(line)
        _apply(b, directive, rest)
    _report_blanks(b, odd)
    return finish(b), b.problems

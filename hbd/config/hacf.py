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
* Every directive heartbeat 3.0.6 accepts is recognised, and every file
  heartbeat accepts is accepted: where hbd behaves differently it says so
  with a warning naming the line. Those hbd does not act on are checked,
  stored where a later feature needs them, and reported (`NOT_IMPLEMENTED`);
  those hbd reads but whose daemon side is still to come are reported too
  (`PENDING`). Turning on Pacemaker (`crm on|yes|respawn...`) is a warning:
  heartbeat would ignore haresources, hbd runs the haresources cluster the
  directory describes. `autojoin other|any` is an error, as in heartbeat.
  Values heartbeat reads with C's atoi keep atoi's reading (`hacf_values.py`).
* An hbd setting written in ha.cf (e.g. `quorum on`) is an error that says to
  move it to hbd.cf: heartbeat would refuse the file.
* Parsing stops after `limits.MAX_ERRORS` errors ("... and more errors").
* After the last line the defaults are computed and the timings checked
  (`hacf_checks.py`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from hbd.config import hacf_items as items
from hbd.config.builder import HaCfBuilder
from hbd.config.hacf_checks import finish
from hbd.config.hacf_values import Handler, atoi, boolean, choice, path, string, time_value
from hbd.config.hbdcf import HBD_DIRECTIVES
from hbd.config.lexer import (BOOL_HELP, option_tokens, parse_bool, physical_lines, shorten,
                              split_directive, strip_comment, suggest, unusual_blanks)
from hbd.config.limits import and_more, full
from hbd.config.model import AutoFailback, HaCf, Problem


class Kind(enum.Enum):
    OPTIONS = "options"   # split on blanks and commas, handler called per word
    LINE = "line"         # handler gets the rest of the line


# --- handlers with their own rules ----------------------------------------------

def _node(b: HaCfBuilder, text: str) -> None:
    name = text.lower()
    if name in b.node_lines:
        b.warning(f"node '{name}' is already declared on line {b.node_lines[name]}; "
                  "the duplicate is ignored")
        return
    b.nodes.append(name)
    b.node_lines[name] = b.line


_port = atoi("udpport", 1, 65535, "udpport")


def _udpport(b: HaCfBuilder, text: str) -> None:
    _port(b, text)
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
            b.set_field("crm", True)
            b.warning(f"'{name} {text}' turns Pacemaker on: heartbeat 3.0.6 then ignores "
                      "haresources (\"This file is not used because pacemaker is enabled\") and "
                      "runs Pacemaker's daemons, or refuses to start where they are not installed "
                      "(Debian 12: \"Failed to add pacemaker client child\"). hbd never runs "
                      "Pacemaker: it runs the haresources cluster this directory describes. "
                      f"Write '{name} off' to say so")
        else:
            b.error(f"{name}: '{text}' is not valid; write '{name} off' (hbd runs haresources "
                    "clusters, never Pacemaker)")
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


# glibc's facility names (heartbeat's cl_syslogfac_str2int), case-sensitive, and `none`
FACILITIES = ("none", "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "mark",
              "news", "security", "syslog", "user", "uucp", *(f"local{i}" for i in range(8)))
_facility = choice("logfacility", FACILITIES, "logfacility")


def _logfacility(b: HaCfBuilder, text: str) -> None:
    _facility(b, text)
    if text == "mark":
        b.warning("logfacility mark is syslog's internal 'mark' facility: heartbeat accepts it, "
                  "but hbd's syslog handler does not know it and logs nothing to syslog; write "
                  "e.g. 'logfacility daemon'")


DIRECTIVES: dict[str, tuple[Kind, Handler]] = {
    "node": (Kind.OPTIONS, _node),
    "keepalive": (Kind.OPTIONS, time_value("keepalive", "keepalive")),
    "deadtime": (Kind.OPTIONS, time_value("deadtime", "deadtime")),
    "warntime": (Kind.OPTIONS, time_value("warntime", "warntime")),
    "initdead": (Kind.OPTIONS, time_value("initdead", "initdead")),
    "deadping": (Kind.OPTIONS, time_value("deadping", "deadping")),
    "udpport": (Kind.OPTIONS, _udpport),
    "bcast": (Kind.OPTIONS, items.bcast),
    "ucast": (Kind.LINE, items.ucast),
    "mcast": (Kind.LINE, items.mcast),
    "ucast6": (Kind.LINE, string()),
    "mcast6": (Kind.LINE, string()),
    "serial": (Kind.OPTIONS, path("serial")),
    "baud": (Kind.OPTIONS, choice("baud", ("9600", "19200", "38400", "57600", "115200",
                                            "230400", "460800"))),
    "ping": (Kind.OPTIONS, items.ping),
    "ping6": (Kind.OPTIONS, string()),
    "ping_group": (Kind.LINE, items.ping_group),
    "hopfudge": (Kind.OPTIONS, atoi("hopfudge", 0, 255, "hopfudge")),
    "auto_failback": (Kind.OPTIONS, _auto_failback),
    "nice_failback": (Kind.OPTIONS, _nice_failback),
    "logfile": (Kind.OPTIONS, path("logfile", "logfile")),
    "debugfile": (Kind.OPTIONS, path("debugfile", "debugfile")),
    "logfacility": (Kind.OPTIONS, _logfacility),
    "use_logd": (Kind.OPTIONS, boolean("use_logd")),
    "conn_logd_time": (Kind.OPTIONS, time_value("conn_logd_time")),
    "syslogmsgfmt": (Kind.OPTIONS, boolean("syslogmsgfmt")),
    "log_badpack": (Kind.OPTIONS, boolean("log_badpack")),
    "debug": (Kind.OPTIONS, atoi("debug", 0, 255, "debug")),
    "respawn": (Kind.LINE, items.respawn),
    "failfast": (Kind.LINE, items.failfast),
    "apiauth": (Kind.LINE, items.apiauth),
    "stonith": (Kind.LINE, items.stonith),
    "stonith_host": (Kind.LINE, items.stonith_host),
    "watchdog": (Kind.OPTIONS, items.watchdog),
    "realtime": (Kind.OPTIONS, boolean("realtime")),
    "rtprio": (Kind.OPTIONS, atoi("rtprio", 1, 99)),
    "memreserve": (Kind.OPTIONS, atoi("memreserve", 0, 10_000_000)),
    "coredumps": (Kind.OPTIONS, boolean("coredumps")),
    "coreroot": (Kind.OPTIONS, path("coreroot")),
    "hbgenmethod": (Kind.OPTIONS, choice("hbgenmethod", ("file", "time"), "hbgenmethod")),
    "uuidfrom": (Kind.OPTIONS, choice("uuidfrom", ("file", "nodename"), "uuidfrom")),
    "msgfmt": (Kind.OPTIONS, choice("msgfmt", ("classic", "netstring"), "msgfmt")),
    "compression": (Kind.OPTIONS, choice("compression", ("zlib", "bz2"), "compression")),
    "compression_threshold": (Kind.OPTIONS, atoi("compression_threshold", 1, 1_000_000,
                                                 "compression_threshold")),
    "traditional_compression": (Kind.OPTIONS, boolean("traditional_compression",
                                                    "traditional_compression")),
    "max_rexmit_delay": (Kind.OPTIONS, atoi("max_rexmit_delay", 1, 3_600_000,
                                            "max_rexmit_delay", scale=0.001)),
    "autojoin": (Kind.OPTIONS, _autojoin),
    "cluster": (Kind.OPTIONS, string("cluster")),
    "crm": (Kind.OPTIONS, _crm("crm")),
    "pacemaker": (Kind.OPTIONS, _crm("pacemaker")),
    "crm_daemon_dir": (Kind.OPTIONS, path("crm_daemon_dir")),
    "crmd_spawns_pengine": (Kind.OPTIONS, boolean("crmd_spawns_pengine")),
    "record_config_changes": (Kind.OPTIONS, boolean("record_config_changes")),
    "record_pengine_inputs": (Kind.OPTIONS, boolean("record_pengine_inputs")),
    "enable_config_writes": (Kind.OPTIONS, boolean("enable_config_writes")),
    "quorum_server": (Kind.OPTIONS, string()),
    "env": (Kind.OPTIONS, items.env),
    "use_apphbd": (Kind.OPTIONS, boolean("use_apphbd")),
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
    "failfast": "the program is not started",
    "realtime": "", "rtprio": "", "memreserve": "", "coredumps": "", "coreroot": "",
    "use_logd": "hbd writes its log itself (logfile, debugfile, logfacility)",
    "conn_logd_time": "hbd does not use logd", "syslogmsgfmt": "", "log_badpack": "",
    "use_apphbd": "",
    "compression": _COMPRESS, "compression_threshold": _COMPRESS,
    "traditional_compression": _COMPRESS,
    **{name: _PACEMAKER for name in ("crm_daemon_dir", "crmd_spawns_pengine", "record_config_changes",
                                     "record_pengine_inputs", "enable_config_writes", "quorum_server")},
}

# Directives whose meaning the model holds (model.py documents heartbeat's
# semantics) but that the daemon does not act on yet: each still gets a
# warning, so that nothing is silently dropped. Remove a name once the daemon
# implements it. For respawn, only entries hbd would run are reported.
PENDING: dict[str, str] = {}


def _illegal(b: HaCfBuilder, directive: str) -> None:
    shown = shorten(directive)
    if directive.lower() in DIRECTIVES:
        b.error(f"Illegal directive '{shown}': directive names are lower-case; "
                f"write '{directive.lower()}'")
        return
    if directive in HBD_DIRECTIVES:
        b.error(f"'{directive}' is an hbd setting, not a heartbeat directive: move the line to "
                "hbd.cf next to ha.cf (heartbeat 3.0.6 refuses an ha.cf that holds it)")
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
    elif name in PENDING:
        _pending(b, name)


def _not_implemented(b: HaCfBuilder, name: str) -> None:
    hint = NOT_IMPLEMENTED[name]
    b.warning(f"hbd does not implement '{name}' yet; it is ignored" + (f" ({hint})" if hint else ""))


def _pending(b: HaCfBuilder, name: str) -> None:
    if name == "respawn" and not (b.respawn and b.respawn[-1].line == b.line and b.respawn[-1].runs):
        return
    if name == "watchdog" and (b.watchdog_line != b.line or b.fields.get("watchdog") is None):
        return
    what = PENDING[name]
    if name == "respawn":
        what = f"{b.respawn[-1].argv[0]} is not started"
    b.warning(f"hbd reads '{name}' as heartbeat does, but its daemon does not act on it yet: "
              f"{what}")


def _report_blanks(b: HaCfBuilder, lines: list[tuple[int, list[str]]]) -> None:
    if not lines:
        return
    first, names = lines[0]
    where = f"on this line and {len(lines) - 1} more" if len(lines) > 1 else "on this line"
    b.warning(f"unusual blank character {', '.join(names)} {where} (a no-break space pasted "
              "from a web page?): hbd reads it as a blank, but heartbeat would take it as part "
              "of a word and reject the line; replace it with an ordinary space", line=first)


def parse_hacf(text: str, source: str = "ha.cf", *,
               resolve: Callable[[str], str | None] | None = None) -> tuple[HaCf, list[Problem]]:
    """Parse ha.cf `text`; `source` names the file in problems.

    `resolve` turns a ucast peer's host name into an IPv4 address (None when it
    does not resolve); without it, host names are refused.
    """
    b = HaCfBuilder(source, resolve=resolve)
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
        if full(b.problems):
            b.problems.append(and_more(source, number))
            break
    _report_blanks(b, odd)
    return finish(b), b.problems

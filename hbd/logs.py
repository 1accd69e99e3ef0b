"""Logging: structlog on top of the standard library's handlers.

Where lines go, as heartbeat's ha.cf says, with one rule added for systemd:

* `logfile FILE`: every line at info and above, appended to FILE;
* `debugfile FILE`: every line at debug and above (both files are reopened
  when logrotate moves them: no signal needed);
* `logfacility NAME` (e.g. `local0`, `daemon`): syslog through /dev/log,
  unless `none`;
* stderr, when not run by systemd.

Run by systemd (stderr is the journal: `JOURNAL_STREAM` names it), each line
reaches the journal exactly once: as a native journal entry (`MESSAGE`,
`PRIORITY`, `SYSLOG_IDENTIFIER=hbd`, `SYSLOG_FACILITY` from `logfacility`,
and every key of the line as `HBD_<KEY>`: `HBD_NODE`, `HBD_GROUP`,
`HBD_KIND`, `HBD_REASON`, ...), and neither on stderr nor through syslog
(journald forwards to a syslog daemon itself when it is set up to). If the
journal socket cannot be written, the line goes to stderr instead.

Lines in heartbeat's words (`hblog.py`, logger `hbd.hblog`) go to syslog and
the journal under the identifier `heartbeat`, as `info: TEXT` / `WARN: TEXT`,
so that log monitors written for heartbeat keep matching; hbd's own lines
keep the identifier `hbd`. `HBD_SYSLOG_SOCKET` names another syslog socket
than /dev/log (the lab collects each node's syslog on one of its own).

Formats (`logformat`): `text` (default) is `TIMESTAMP LEVEL: event key='value' ...`,
one line each, e.g. (one line)
`2026-01-02T03:04:05.678+01:00 info: node node1: is dead (deadtime) node='node0'
kind='node' status='dead' reason='deadtime'`;
`json` is one JSON object per line with `ts`, `level`, `logger`, `event` and the
keys. Timestamps are ISO 8601 in local time with the UTC offset, to the
millisecond; syslog and the journal stamp lines themselves, so theirs carry none.
Line breaks inside a value are escaped, so every line of a log file starts
with its timestamp.
"""

from __future__ import annotations

import datetime
import enum
import json
import logging
import logging.handlers
import os
import socket
import struct
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import structlog

_FACILITIES = logging.handlers.SysLogHandler.facility_names
_HANDLER_TAG = "_hbd_handler"
HBLOG = "hbd.hblog"          # hblog.LOGGER: lines in heartbeat's words
JOURNAL_SOCKET = "/run/systemd/journal/socket"
SYSLOG_SOCKET = "/dev/log"
FORMATS = ("text", "json")
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4,
             logging.INFO: 6, logging.DEBUG: 7}
_FIRST = ("timestamp", "level", "event", "logger")
# Notices name their subject; lines about a group say which one as `group`.
_GROUP_KINDS = ("group", "holder")


# --- rendering --------------------------------------------------------------------

def iso_timestamp(created: float) -> str:
    """`2026-01-02T03:04:05.678+01:00`: local time with its offset."""
    stamp = datetime.datetime.fromtimestamp(created).astimezone()
    return stamp.isoformat(timespec="milliseconds")


def _add_timestamp(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    record = event.get("_record")
    event["timestamp"] = iso_timestamp(record.created if record is not None else time.time())
    return event


def add_notice_fields(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Enums as their values; a line about a group (kind group/holder) names it
    as `group`."""
    for key, value in event.items():
        if isinstance(value, enum.Enum):
            event[key] = value.value
    if event.get("kind") in _GROUP_KINDS and "group" not in event and "subject" in event:
        event["group"] = event["subject"]
    return event


def _text(event: Mapping[str, Any], *, level: bool = True) -> str:
    head = []
    if "timestamp" in event:
        head.append(str(event["timestamp"]))
    if level:
        head.append(f"{event.get('level', 'info')}:")
    head.append(str(event.get("event", "")).replace("\n", "\\n"))
    tail = [f"{key}={value!r}" for key, value in event.items()
            if key not in _FIRST and not key.startswith("_")]
    return " ".join(head + tail)


def render_text(_logger: Any, _name: str, event: dict[str, Any]) -> str:
    return _text(event)


def render_json(_logger: Any, _name: str, event: dict[str, Any]) -> str:
    out: dict[str, Any] = {}
    if "timestamp" in event:
        out["ts"] = event["timestamp"]
    for key in ("level", "logger", "event"):
        if key in event:
            out[key] = event[key]
    out.update((k, v) for k, v in event.items() if k not in _FIRST and not k.startswith("_"))
    return json.dumps(out, default=str, ensure_ascii=False)


def _formatter(*, timestamps: bool, fmt: str = "text") -> logging.Formatter:
    processors: list[Any] = []
    if timestamps:
        processors.append(_add_timestamp)
    processors += [add_notice_fields, structlog.processors.format_exc_info,
                   structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                   render_json if fmt == "json" else render_text]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name],
        processors=processors)


# --- the journal ------------------------------------------------------------------

def journal_field(key: str) -> str:
    """`HBD_` + the key in upper case, with anything but A-Z, 0-9 and _ as _."""
    name = "".join(c if c.isascii() and c.isalnum() else "_" for c in key.upper())
    return f"HBD_{name}"[:64]


def journal_datagram(fields: list[tuple[str, str]]) -> bytes:
    """systemd's native journal protocol: `KEY=value` lines, or a length-prefixed
    value when it holds a line break."""
    out = bytearray()
    for key, value in fields:
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalHandler(logging.Handler):
    """Send each record to journald as one native entry; stderr if that fails."""

    def __init__(self, path: str, *, facility: int | None, fallback: TextIO) -> None:
        super().__init__()
        self.path = path
        self.facility = facility
        self.fallback = fallback
        self.failed = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def entry(self, record: logging.LogRecord) -> list[tuple[str, str]]:
        if isinstance(record.msg, dict):
            event = dict(record.msg)
        else:
            event = {"event": record.getMessage()}
        event.setdefault("logger", record.name)
        if record.exc_info and not event.get("exc_info"):
            event["exc_info"] = record.exc_info
        event = dict(structlog.processors.format_exc_info(None, "", event))   # -> "exception"
        add_notice_fields(None, "", event)
        if record.name == HBLOG:
            message, ident = f"{_hb_level(record.levelno)}: {record.getMessage()}", "heartbeat"
        else:
            message, ident = _text(event, level=False), "hbd"
        fields = [("MESSAGE", message),
                  ("PRIORITY", str(_PRIORITY.get(record.levelno, 6))),
                  ("SYSLOG_IDENTIFIER", ident)]
        if self.facility is not None:
            fields.append(("SYSLOG_FACILITY", str(self.facility)))
        fields += [(journal_field(k), str(v)) for k, v in event.items()
                   if k not in ("event", "level") and not k.startswith("_")]
        return fields

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = self.entry(record)
            self.sock.sendto(journal_datagram(fields), self.path)
        except OSError:
            self.failed += 1
            try:
                self.fallback.write(fields[0][1] + "\n")
                self.fallback.flush()
            except (OSError, ValueError):
                pass
        except Exception:   # noqa: BLE001 -- a log line must never take the daemon down
            self.handleError(record)

    def close(self) -> None:
        self.sock.close()
        super().close()


def _hb_level(levelno: int) -> str:
    return {logging.DEBUG: "debug", logging.WARNING: "WARN", logging.ERROR: "ERROR",
            logging.CRITICAL: "CRIT"}.get(levelno, "info")


class SyslogHandler(logging.handlers.SysLogHandler):
    """syslog with hbd's identifier, or `heartbeat` for lines in heartbeat's words."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == HBLOG:
            self.ident = f"heartbeat[{os.getpid()}]: "
            return f"{_hb_level(record.levelno)}: {record.getMessage()}"
        self.ident = f"hbd[{os.getpid()}]: "
        return super().format(record)


def syslog_socket() -> str:
    """The syslog socket (`HBD_SYSLOG_SOCKET` overrides /dev/log)."""
    return os.environ.get("HBD_SYSLOG_SOCKET") or SYSLOG_SOCKET


def under_journald(stream: TextIO) -> bool:
    """Whether `stream` is the journal's stream (systemd sets JOURNAL_STREAM=DEV:INODE)."""
    value = os.environ.get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(part) for part in value.split(":"))
        info = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (info.st_dev, info.st_ino) == (dev, ino)


def journal_socket() -> str:
    """The journal's socket (`HBD_JOURNAL_SOCKET` overrides it, for tests)."""
    return os.environ.get("HBD_JOURNAL_SOCKET") or JOURNAL_SOCKET


# --- handlers ---------------------------------------------------------------------

def _facility(logfacility: str | None, problems: list[str]) -> int | None:
    name = (logfacility or "").lower()
    if not name or name == "none":
        return None
    if name not in _FACILITIES:
        problems.append(f"logfacility {logfacility}: unknown syslog facility")
        return None
    return _FACILITIES[name]


def _files(logfile: str | None, debugfile: str | None, fmt: str,
           problems: list[str]) -> list[logging.Handler]:
    handlers: list[logging.Handler] = []
    for path, level in ((logfile, logging.INFO), (debugfile, logging.DEBUG)):
        if not path:
            continue
        try:
            # reopened when logrotate (or anyone) moves the file away
            handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
        except OSError as exc:
            problems.append(f"cannot open log file {path}: {exc.strerror}")
            continue
        handler.setLevel(level)
        handler.setFormatter(_formatter(timestamps=True, fmt=fmt))
        handlers.append(handler)
    return handlers


def _handlers(*, logfile: str | None, debugfile: str | None, logfacility: str | None,
              debug: bool, stream: TextIO, fmt: str,
              journal: bool | None) -> tuple[list[logging.Handler], list[str]]:
    problems: list[str] = []
    facility = _facility(logfacility, problems)
    journald = under_journald(stream) if journal is None else journal
    console_level = logging.DEBUG if debug else logging.INFO
    handlers: list[logging.Handler] = []
    if journald and os.path.exists(journal_socket()):
        handler: logging.Handler = JournalHandler(journal_socket(), facility=facility,
                                                  fallback=stream)
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(_formatter(timestamps=not journald, fmt=fmt))
    handler.setLevel(console_level)
    handlers.append(handler)
    handlers += _files(logfile, debugfile, fmt, problems)
    # under journald, syslog would be a second copy of every line in the journal
    if facility is not None and not journald and os.path.exists(syslog_socket()):
        syslog = SyslogHandler(syslog_socket(), facility)
        syslog.setLevel(logging.INFO)
        syslog.setFormatter(_formatter(timestamps=False, fmt=fmt))
        handlers.append(syslog)
    return handlers, problems


def format_name(logformat: object) -> tuple[str, list[str]]:
    """`text` or `json` from a string or an enum (hbd.cf's LogFormat)."""
    name = str(getattr(logformat, "value", logformat) or "text").lower()
    if name in FORMATS:
        return name, []
    return "text", [f"logformat {name}: unknown format (text or json); using text"]


def configure(*, logfile: str | None = None, debugfile: str | None = None,
              logfacility: str | None = None, debug: bool = False,
              stream: TextIO | None = None, logformat: object = "text",
              journal: bool | None = None) -> list[str]:
    """(Re)configure logging; returns problems (unopenable files) to log as warnings.

    `logformat` is `text` or `json` (or hbd.cf's LogFormat); `journal` forces the
    journal on or off (default: on when stderr is the journal's stream)."""
    fmt, problems = format_name(logformat)
    root = logging.getLogger("hbd")
    for old in [h for h in root.handlers if getattr(h, _HANDLER_TAG, False)]:
        root.removeHandler(old)
        old.close()
    handlers, more = _handlers(logfile=logfile, debugfile=debugfile, logfacility=logfacility,
                               debug=debug, stream=stream or sys.stderr, fmt=fmt,
                               journal=journal)
    for handler in handlers:
        setattr(handler, _HANDLER_TAG, True)
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if (debug or debugfile) else logging.INFO)
    root.propagate = False
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars,
                    structlog.stdlib.filter_by_level,
                    structlog.stdlib.add_log_level,
                    structlog.stdlib.add_logger_name,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    return problems + more


def get(name: str = "hbd") -> Any:
    return structlog.get_logger(name if name.startswith("hbd") else f"hbd.{name}")


def get_stdlib(name: str) -> logging.Logger:
    """A plain logger under hbd's (for lines that are text, not events: hblog)."""
    return logging.getLogger(name)


LOG_PERIOD = 10.0


class LogLimiter:
    """At most one log line per (medium, cause) every `period` seconds.

    A line that does get through carries `suppressed=N`, the number of lines
    with the same key held back since the previous one.
    """

    def __init__(self, logger: Any, *, period: float = LOG_PERIOD,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._period = period
        self._clock = clock
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def log(self, level: str, event: str, *, medium: str, cause: str, **fields: Any) -> bool:
        """Log unless the same (medium, cause) was logged recently; True if logged."""
        key = (medium, cause)
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self._period:
            self._last[key] = (last[0], last[1] + 1)
            return False
        self._last[key] = (now, 0)
        suppressed = last[1] if last is not None else 0
        getattr(self._logger, level)(event, medium=medium, cause=cause,
                                     suppressed=suppressed, **fields)
        return True

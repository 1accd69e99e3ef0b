"""Logging: structlog on top of the standard library's handlers.

Where lines go, as heartbeat's ha.cf says:

* `logfile FILE`: every line at info and above, appended to FILE;
* `debugfile FILE`: every line at debug and above;
* `logfacility NAME` (e.g. `local0`, `daemon`): syslog through /dev/log, unless
  `none`; under systemd, journald already collects stderr, so syslog is skipped
  when /dev/log is missing;
* stderr always (journald when run by systemd: no timestamp then, journald
  stamps the line itself).

Each line is `LEVEL event key=value ...`, one line per state change with the
node, medium, group and reason as keys, e.g.
`info node node1 is dead node=node1 kind=node status=dead`.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time
from typing import Any, Callable

import structlog

_FACILITIES = logging.handlers.SysLogHandler.facility_names
_HANDLER_TAG = "_hbd_handler"


def _formatter(*, timestamps: bool) -> logging.Formatter:
    pre: list = [structlog.stdlib.add_log_level]
    if timestamps:
        pre.insert(0, structlog.processors.TimeStamper(fmt="iso", utc=True))
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.KeyValueRenderer(
                        key_order=["timestamp", "level", "event"], drop_missing=True,
                        sort_keys=False)],
    )


def _handlers(*, logfile: str | None, debugfile: str | None, logfacility: str | None,
              debug: bool, stream) -> tuple[list[logging.Handler], list[str]]:
    under_journald = bool(os.environ.get("JOURNAL_STREAM"))
    handlers: list[logging.Handler] = []
    problems: list[str] = []
    console = logging.StreamHandler(stream)
    console.setLevel(logging.DEBUG if debug else logging.INFO)
    console.setFormatter(_formatter(timestamps=not under_journald))
    handlers.append(console)
    for path, level in ((logfile, logging.INFO), (debugfile, logging.DEBUG)):
        if not path:
            continue
        try:
            handler = logging.FileHandler(path, encoding="utf-8")
        except OSError as exc:
            problems.append(f"cannot open log file {path}: {exc.strerror}")
            continue
        handler.setLevel(level)
        handler.setFormatter(_formatter(timestamps=True))
        handlers.append(handler)
    facility = (logfacility or "").lower()
    if facility and facility != "none":
        if facility not in _FACILITIES:
            problems.append(f"logfacility {logfacility}: unknown syslog facility")
        elif os.path.exists("/dev/log"):
            handler = logging.handlers.SysLogHandler("/dev/log", _FACILITIES[facility])
            handler.setLevel(logging.INFO)
            handler.setFormatter(_formatter(timestamps=False))
            handler.ident = f"hbd[{os.getpid()}]: "
            handlers.append(handler)
    return handlers, problems


def configure(*, logfile: str | None = None, debugfile: str | None = None,
              logfacility: str | None = None, debug: bool = False, stream=None) -> list[str]:
    """(Re)configure logging; returns problems (unopenable files) to log as warnings."""
    root = logging.getLogger("hbd")
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_TAG, False)]:
        root.removeHandler(handler)
        handler.close()
    handlers, problems = _handlers(logfile=logfile, debugfile=debugfile,
                                   logfacility=logfacility, debug=debug,
                                   stream=stream or sys.stderr)
    for handler in handlers:
        setattr(handler, _HANDLER_TAG, True)
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if (debug or debugfile) else logging.INFO)
    root.propagate = False
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars,
                    structlog.stdlib.filter_by_level,
                    structlog.stdlib.add_log_level,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    return problems


def get(name: str = "hbd"):
    return structlog.get_logger(name if name.startswith("hbd") else f"hbd.{name}")


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

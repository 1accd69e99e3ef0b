"""`hb_standby` and `hb_takeover`: heartbeat 3.0.6's scripts, answered by hbd.

Same arguments as heartbeat's: one optional word, `all` (default), `local`,
`foreign` or `failback` (= foreign). Same usage errors, exit 1:

    $ hb_standby sideways
    /usr/share/heartbeat/hb_standby: wrong resources(sideways).     (stdout)
    usage:                                                          (stdout)
    /usr/share/heartbeat/hb_standby [all|foreign|local|failback]    (stderr)

hb_standby says `Going standby [foreign].` on stderr (with a date when stderr
is not a terminal, as heartbeat's ha_log does) and hb_takeover says nothing.
Where heartbeat's scripts write into heartbeat's FIFO and exit 0 whatever
happens (or hang while nobody reads it), these send `standby`/`takeover` on
hbd's control socket and exit 1 with the reason on stderr when hbd does not
take the request.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from hbd.hbtools.session import Session, SignonFailed

GROUP_SETS = ("all", "foreign", "local", "failback")


def _usage(prog: str, out: TextIO, err: TextIO) -> int:
    out.write("usage:\n")
    err.write(f"{prog} [all|foreign|local|failback]\n")
    return 1


def _which(prog: str, args: list[str], out: TextIO, err: TextIO) -> str | int:
    """The group set asked for, or the exit status of a usage error."""
    if len(args) >= 2:
        out.write(f"{prog}: too many arguments\n")
        return _usage(prog, out, err)
    which = args[0] if args else "all"
    if which == "--help" or not which:
        return _usage(prog, out, err)
    if which not in GROUP_SETS:
        out.write(f"{prog}: wrong resources({which}).\n")
        return _usage(prog, out, err)
    return which


def _send(verb: str, which: str, prog: str, err: TextIO, session: Session | None) -> int:
    s = session or Session(sys.stdout, err, program=prog)
    try:
        s.ask(verb, {"which": which})
    except SignonFailed as exc:
        reason = "hbd is not running" if exc.stopped else exc.reason
        err.write(f"{prog}: {reason}\n")
        return 1
    except TimeoutError:
        err.write(f"{prog}: hbd did not answer in time\n")
        return 1
    return 0


def standby(argv: list[str], out: TextIO, err: TextIO, session: Session | None = None) -> int:
    """hb_standby [all|foreign|local|failback]: give those groups to the other node."""
    prog = argv[0]
    which = _which(prog, argv[1:], out, err)
    if isinstance(which, int):
        return which
    which = "foreign" if which == "failback" else which
    stamp = "" if err.isatty() else time.strftime("%b %d %H:%M:%S ")
    err.write(f"{stamp}Going standby [{which}].\n")
    return _send("standby", which, prog, err, session)


def takeover(argv: list[str], out: TextIO, err: TextIO, session: Session | None = None) -> int:
    """hb_takeover [all|foreign|local|failback]: take those groups from the other node."""
    prog = argv[0]
    which = _which(prog, argv[1:], out, err)
    if isinstance(which, int):
        return which
    return _send("takeover", which, prog, err, session)


def hb_standby(argv: list[str] | None = None) -> int:
    return standby(sys.argv if argv is None else argv, sys.stdout, sys.stderr)


def hb_takeover(argv: list[str] | None = None) -> int:
    return takeover(sys.argv if argv is None else argv, sys.stdout, sys.stderr)

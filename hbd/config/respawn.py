"""Which `respawn` programs hbd runs, and which heartbeat API clients it replaces.

Heartbeat 3.0.6 starts every `respawn USER COMMAND` program and restarts it
when it dies (`model.Respawn` has the exact rules). Some of those programs are
heartbeat *API clients*: they sign on to heartbeat's client API (libhbclient)
and cannot work without it. hbd offers no heartbeat API, so it does not run
them, and says what takes their place:

* `ipfail` moved groups away from a node that lost its ping nodes: hbd does
  that itself from the `ping` / `ping_group` lines;
* `pingd` fed ping scores to Pacemaker; in a haresources cluster hbd's own
  ping handling is the equivalent;
* `dopd` (DRBD's outdate-peer daemon), the Pacemaker daemons (`ccm`, `cib`,
  `crmd`, `attrd`, `stonithd`, `mgmtd`) and the SNMP agent need the API and
  have no equivalent: they are not run, and the warning says so.

A program is an API client when its name is one of `API_CLIENTS`, or (checked
by `load.py`, which reads the file) when the executable links heartbeat's
client libraries. Every other program is run as heartbeat would run it.
"""

from __future__ import annotations

import posixpath

from hbd.config.model import ClientKind

_PING = "hbd's own ping handling (the ping and ping_group lines) does its job"
_NO_API = "hbd offers no heartbeat API and has no equivalent, so what it did is not done"
_PACEMAKER = "a Pacemaker daemon; hbd runs haresources clusters, not Pacemaker"

# program name -> what happens instead (heartbeat API clients)
API_CLIENTS: dict[str, str] = {
    "ipfail": "ipfail moved groups away from a node that lost its ping nodes; " + _PING,
    "pingd": "pingd fed ping scores to Pacemaker; in a haresources cluster " + _PING,
    "dopd": ("dopd (DRBD's outdate-peer daemon) needs heartbeat's API; " + _NO_API
             + ": DRBD's drbd-peer-outdater handler cannot reach a peer, configure "
             "another DRBD fence-peer handler"),
    "hbagent": "the heartbeat SNMP agent needs heartbeat's API; " + _NO_API
               + " (hbd's metrics endpoint, hbd.cf 'metrics', is the replacement)",
    **{name: _PACEMAKER for name in ("ccm", "cib", "crmd", "attrd", "stonithd", "mgmtd")},
}

# Libraries that mark an executable as a heartbeat API client.
API_LIBRARIES = (b"libhbclient.so", b"libccmclient.so")
LINKED_REASON = ("it links heartbeat's client library (libhbclient), and hbd offers no "
                 "heartbeat API")


def program_name(argv: tuple[str, ...]) -> str:
    return posixpath.basename(argv[0]) if argv else ""


def classify(argv: tuple[str, ...]) -> tuple[ClientKind, str]:
    """(kind, why) for a respawn command, from its program name alone."""
    reason = API_CLIENTS.get(program_name(argv))
    if reason is not None:
        return ClientKind.API_CLIENT, reason
    return ClientKind.PROGRAM, ""


def replaced_warning(argv: tuple[str, ...], reason: str) -> str:
    """The warning for an API client that hbd does not run."""
    return (f"respawn {argv[0]}: heartbeat runs this heartbeat API client; hbd does not run "
            f"it: {reason}")

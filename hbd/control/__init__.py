"""The control socket: how `hbctl` and heartbeat's tool shims talk to a running hbd.

A unix stream socket, `RUN_DIR/hbd.sock`, one JSON request line and one JSON
answer line per connection (`docs/hbctl.md`). The package:

| module | what |
|---|---|
| `protocol` | verbs, limits, error classes, `Request`, framing and parsing of a line |
| `auth` | `Authorizer` (SO_PEERCRED + ha.cf `apiauth`), `NameCache` (look-ups off the loop) |
| `server` | `ControlServer`: credentials, per-uid slots, bounded reads, counted refusals |
| `client` | `request` (asyncio) and `request_sync` (hbctl, cl_status, hb_standby, ...) |
| `answers` | `ControlHandler` (what the service implements) and `respond()` |
| `hbapi` | heartbeat 3.0.6's API view (node order, links, parameters) for cl_status |

Everything other modules use is importable from `hbd.control` itself.
"""

from hbd.control.answers import ControlHandler, answer, parse_admin, query, respond
from hbd.control.auth import (CHANGE_CLIENTS, READ_CLIENTS, Accounts, Authorizer, LookupBusy,
                              NameCache, Peer, Rights)
from hbd.control.client import request, request_sync
from hbd.control.protocol import (BAD_REQUEST, CHANGE_VERBS, DEFAULT_RUN_DIR, DOC_VERBS, FAILED,
                                  HEARTBEAT_VERBS, INTERNAL, MAX_DEPTH, MAX_REQUEST, METRICS_VERBS,
                                  MAX_RESPONSE, NOT_AUTHORISED, READ_VERBS, SOCKET_NAME, VERBS,
                                  BadRequest, ControlError, ControlTimeout, NotAuthorised,
                                  NotRunning, PermissionDenied, Request, RequestFailed, TooDeep,
                                  decode_response, encode, nesting_exceeds, not_allowed,
                                  parse_request, socket_path)
from hbd.control.server import (MAX_CLIENTS, MAX_PER_USER, MAX_PRIVILEGED, READ_TIMEOUT,
                                ControlServer, Handler, SocketInUse, peer_credentials)

__all__ = [
                              "BAD_REQUEST",
                              "CHANGE_CLIENTS",
                              "CHANGE_VERBS",
                              "DEFAULT_RUN_DIR",
                              "DOC_VERBS",
                              "FAILED",
                              "HEARTBEAT_VERBS",
                              "METRICS_VERBS",
                              "INTERNAL",
                              "MAX_CLIENTS",
                              "MAX_DEPTH",
                              "MAX_PER_USER",
                              "MAX_PRIVILEGED",
                              "MAX_REQUEST",
                              "MAX_RESPONSE",
                              "NOT_AUTHORISED",
                              "READ_CLIENTS",
                              "READ_TIMEOUT",
                              "READ_VERBS",
                              "SOCKET_NAME",
                              "VERBS",
                              "Accounts",
                              "Authorizer",
                              "BadRequest",
                              "ControlError",
                              "ControlHandler",
                              "ControlServer",
                              "ControlTimeout",
                              "Handler",
                              "LookupBusy",
                              "NameCache",
                              "NotAuthorised",
                              "NotRunning",
                              "Peer",
                              "PermissionDenied",
                              "Request",
                              "RequestFailed",
                              "Rights",
                              "SocketInUse",
                              "TooDeep",
                              "answer",
                              "decode_response",
                              "encode",
                              "nesting_exceeds",
                              "not_allowed",
                              "parse_admin",
                              "parse_request",
                              "peer_credentials",
                              "query",
                              "request",
                              "request_sync",
                              "respond",
                              "socket_path",
]

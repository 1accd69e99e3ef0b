"""What the daemon answers: the typed handler protocol and the pure answering helpers.

`hbd.service.Service` implements `ControlHandler`; `respond(request, handler)`
is the whole answer for an authorised request (the server's handler is
`lambda request: respond(request, service)`, made async). Read verbs are
answered from the status document (`hbd.statusdoc`), heartbeat's API verbs
from it and the configuration (`hbd.control.hbapi`); change verbs become an
`AdminRequested` fed to the core and are answered at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol

from hbd import __version__
from hbd.config.model import ClusterConfig
from hbd.control.hbapi import heartbeat_nodes, parameter
from hbd.control.protocol import (CHANGE_VERBS, DOC_VERBS, READ_VERBS, BadRequest, Request,
                                  RequestFailed)
from hbd.core.events import AdminRequested, AdminVerb, GroupSet
from hbd.core.status import ClusterStatus
from hbd.statusdoc import NotInDocument, read_answer, status_document

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class ControlHandler(Protocol):
    """What the control socket needs from the running daemon."""

    def cluster_status(self) -> ClusterStatus | None:
        """The core's snapshot; None while the daemon is starting."""

    def daemon_info(self) -> dict[str, object]:
        """The status document's `daemon` part (the version is added here)."""

    def request_admin(self, event: AdminRequested) -> None:
        """Feed an operator's standby/takeover to the core."""

    def cluster_config(self) -> ClusterConfig:
        """The configuration the core runs with (heartbeat's node order, media, parameters)."""

    def metrics_text(self) -> str:
        """The metrics in Prometheus text format (as the endpoint serves them)."""


def query(request: Request, document: Mapping[str, Any],
          config: ClusterConfig | None = None) -> Any:
    """The `data` for a read verb, from a status document (and, for heartbeat's API
    verbs, the configuration)."""
    if request.verb not in READ_VERBS:
        raise BadRequest(f"'{request.verb}' is not a read verb")
    if request.verb in DOC_VERBS:
        try:
            return read_answer(request.verb, request.args, document)
        except NotInDocument as exc:
            raise BadRequest(str(exc)) from None
    if config is None:
        raise BadRequest(f"'{request.verb}' needs the daemon's configuration")
    if request.verb == "heartbeat-nodes":
        return heartbeat_nodes(document, config)
    name = request.args.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest("'parameter' needs a parameter name (args.name)")
    return {"name": name, "value": parameter(config.hacf, name)}


def parse_admin(request: Request) -> AdminRequested:
    """The core event for `standby`/`takeover`; args `{"which": all|local|foreign|failback}`."""
    try:
        verb = AdminVerb(request.verb)
    except ValueError:
        raise BadRequest(f"'{request.verb}' is not a change verb") from None
    word = request.args.get("which", "all")
    try:
        which = GroupSet.parse(word) if isinstance(word, str) else None
    except ValueError:
        which = None
    if which is None:
        raise BadRequest(f"unknown group set {str(word)[:40]!r}: "
                         "use all, local, foreign or failback")
    return AdminRequested(verb, which)


def answer(request: Request, status: ClusterStatus, *,
           extra: Mapping[str, Any] = _EMPTY, config: ClusterConfig | None = None) -> Any:
    """An AdminRequested to feed for change verbs, else the `data` for the read verb."""
    if request.verb in CHANGE_VERBS:
        return parse_admin(request)
    return query(request, status_document(status, extra=extra), config)


def respond(request: Request, handler: ControlHandler) -> Any:
    """The daemon's whole answer to an authorised request."""
    status = handler.cluster_status()
    if status is None:
        raise RequestFailed("hbd is still starting: try again in a moment")
    if request.verb == "metrics":
        return {"text": handler.metrics_text()}
    extra = {"version": __version__, **handler.daemon_info()}
    result = answer(request, status, extra=extra, config=handler.cluster_config())
    if not isinstance(result, AdminRequested):
        return result
    handler.request_admin(result)
    which = result.which.value
    return {"verb": request.verb, "which": which,
            "message": f"{request.verb} {which} requested: follow it with 'hbctl resources'"}

"""The status document: a `ClusterStatus` as plain JSON data.

`hbctl status --json` prints it, and the control socket's read verbs answer
with it or with a slice of it. Its shape is a public interface, versioned by
the `"schema"` key and described key by key in `docs/hbctl.md`:

* the top level is this node's view of itself (`node`, `status`, ...);
* `nodes` and `groups` are lists in the core's order (this node first, then
  its peers, then ping nodes; groups in haresources order);
* `links` and `counters` are objects whose key order is meaningful too;
* `daemon` carries what only the running process knows (pid, uptime, version,
  media and control-socket counters); the runtime supplies it as `extra`.

`running` is always true here; `not_running_document()` is what
`hbctl status --json` prints when no daemon answers (same `schema`, with
`running: false`, the socket path and the reason).

Enum values are heartbeat's own words (`active`, `dead`, `up`, ...).
`read_answer()` gives the `data` of each read verb of the control protocol,
always the document or a slice of it. Pure: no I/O, no clock; the same status
always gives the same document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from hbd.core.status import ClusterStatus, GroupView, NodeView

SCHEMA = 1

# The top-level keys, in the order they appear in the document.
TOP_KEYS = ("schema", "running", "node", "status", "generation", "comm_up", "shutting_down",
            "standby", "rscstatus", "nodes", "groups", "counters", "daemon")
NODE_KEYS = ("name", "type", "status", "links", "generation", "holds", "standby", "pings",
             "is_hbd")
GROUP_KEYS = ("key", "primary", "state", "holder", "desired", "backups")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def node_document(view: NodeView) -> dict[str, Any]:
    """One entry of `nodes`."""
    return {
        "name": view.name,
        "type": view.type,
        "status": view.status.value,
        "links": {name: status.value for name, status in view.links},
        "generation": view.generation,
        "holds": list(view.holds),
        "standby": view.standby,
        "pings": view.pings,
        "is_hbd": view.is_hbd,
    }


def group_document(view: GroupView) -> dict[str, Any]:
    """One entry of `groups`."""
    return {
        "key": view.key,
        "primary": view.primary,
        "state": view.state.value,
        "holder": view.holder,
        "desired": view.desired,
        "backups": list(view.backups),
    }


def status_document(status: ClusterStatus, *, extra: Mapping[str, Any] = _EMPTY) -> dict[str, Any]:
    """The whole document for `status`, with `extra` copied under `"daemon"`."""
    return {
        "schema": SCHEMA,
        "running": True,
        "node": status.node,
        "status": status.status.value,
        "generation": status.generation,
        "comm_up": status.comm_up,
        "shutting_down": status.shutting_down,
        "standby": status.standby,
        "rscstatus": status.rscstatus,
        "nodes": [node_document(view) for view in status.nodes],
        "groups": [group_document(view) for view in status.groups],
        "counters": {name: value for name, value in status.counters},
        "daemon": dict(extra),
    }


NOT_RUNNING_KEYS = ("schema", "running", "socket", "error")


def not_running_document(socket: str, error: str) -> dict[str, Any]:
    """The document when no daemon answers on `socket`; `error` says why."""
    return {"schema": SCHEMA, "running": False, "socket": socket, "error": error}


# --- the read verbs' answers -------------------------------------------------------

class NotInDocument(ValueError):
    """A read request names something the document does not have, or nothing."""


def find_node(document: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The `nodes` entry called `name` (node names compare case-insensitively)."""
    nodes: list[dict[str, Any]] = document["nodes"]
    for node in nodes:
        if node["name"].lower() == name.lower():
            return node
    return None


def _name_arg(verb: str, args: Mapping[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value:
        raise NotInDocument(f"'{verb}' needs a {name} name (args.{name})")
    return value


def _node_arg(verb: str, args: Mapping[str, Any], document: Mapping[str, Any]) -> dict[str, Any]:
    name = _name_arg(verb, args, "node")
    node = find_node(document, name)
    if node is None:
        known = ", ".join(n["name"] for n in document["nodes"])
        raise NotInDocument(f"unknown node '{name}': the nodes are {known}")
    return node


def _pick(document: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: document[key] for key in keys}


def _node_status(verb: str, args: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    node = _node_arg(verb, args, doc)
    return {"node": node["name"], "type": node["type"], "status": node["status"]}


def _links(verb: str, args: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    node = _node_arg(verb, args, doc)
    return {"node": node["name"], "links": node["links"]}


def _link_status(verb: str, args: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    node = _node_arg(verb, args, doc)
    link = _name_arg(verb, args, "link")
    if link not in node["links"]:
        known = ", ".join(node["links"]) or "none"
        raise NotInDocument(f"{node['name']} has no link '{link}': its links are {known}")
    return {"node": node["name"], "link": link, "status": node["links"][link]}


def _hbstatus(verb: str, args: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"running": True, **_pick(doc, "node", "status", "shutting_down"),
            "version": doc["daemon"].get("version")}


Reader = Callable[[str, Mapping[str, Any], Mapping[str, Any]], Any]

READ_ANSWERS: dict[str, Reader] = {
    "status": lambda verb, args, doc: dict(doc),
    "nodes": lambda verb, args, doc: _pick(doc, "node", "nodes"),
    "resources": lambda verb, args, doc: _pick(doc, "node", "rscstatus", "standby", "groups"),
    "node-status": _node_status,
    "links": _links,
    "link-status": _link_status,
    "rscstatus": lambda verb, args, doc: _pick(doc, "node", "rscstatus"),
    "hbstatus": _hbstatus,
}


def read_answer(verb: str, args: Mapping[str, Any], document: Mapping[str, Any]) -> Any:
    """The `data` a read verb answers with; NotInDocument for unknown names."""
    reader = READ_ANSWERS.get(verb)
    if reader is None:
        raise NotInDocument(f"'{verb}' is not a read verb")
    return reader(verb, args, document)

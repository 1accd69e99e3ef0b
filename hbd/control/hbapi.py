"""Heartbeat 3.0.6's API view of a running hbd, for the `cl_status` shim.

What heartbeat's client API answers, rebuilt from the status document and the
configuration (pure; checked against the real heartbeat in
tests/netns/test_hbtools.py):

* **node order**: heartbeat's node walk lists the nodes in the reverse of the
  order their `node`, `ping` and `ping_group` lines appear in ha.cf; names
  are lower case;
* **links**: one per medium name (the interface), duplicates merged, in ha.cf
  order. A ping node or ping group has one link named after itself, up while
  it answers. For this node, a link is up if the medium hears our own packets
  (bcast, ucast, mcast with loop on), dead for mcast with loop off;
* **weight** 100 and **site** "" for every node (hbd has no `hb_setweight`);
* **parameters**: heartbeat records the value of each directive in its table
  as written (the last word of the last line wins) and fills in its defaults
  and computed values (`parameter()`); media, node, ping and whole-line
  directives (apiauth, respawn, stonith) are not parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hbd import __version__
from hbd.config.lexer import option_tokens
from hbd.config.model import ClusterConfig, HaCf, Mcast

HEARTBEAT_VERSION = "3.0.6"
WEIGHT = 100
SITE = ""

# Directives heartbeat 3.0.6 records as parameters, with its default (None: no default).
RECORDED: dict[str, str | None] = {
    "cluster": "linux-ha", "hopfudge": "1", "keepalive": "1000ms", "deadtime": "30000ms",
    "deadping": None, "initdead": None, "warntime": None, "watchdog": None, "baud": "19200",
    "udpport": None, "logfacility": None, "logfile": None, "debugfile": None,
    "auto_failback": "legacy", "rtprio": None, "hbgenmethod": "file", "realtime": "true",
    "debug": None, "msgfmt": "classic", "use_logd": None, "conn_logd_time": "60",
    "log_badpack": "true", "coredumps": "true", "coreroot": None, "crm": "false",
    "autojoin": "none", "uuidfrom": "file", "compression": "zlib",
    "compression_threshold": "2", "traditional_compression": "no", "max_rexmit_delay": "250",
    "record_config_changes": "on", "record_pengine_inputs": "on",
    "enable_config_writes": "on", "memreserve": "6500", "quorum_server": None,
}


def hbversion() -> str:
    """`hbparameter -p hbversion`: heartbeat's protocol version, then what runs it."""
    return f"{HEARTBEAT_VERSION} (hbd {__version__})"


def _written(hacf: HaCf, directive: str) -> str | None:
    """The value heartbeat records for `directive`: last word of its last line."""
    value = None
    for name, rest in hacf.written:
        if name == directive and option_tokens(rest):
            value = option_tokens(rest)[-1]
    return value


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _computed(hacf: HaCf, name: str) -> str | None:
    deadtime_ms = _ms(hacf.deadtime)
    if name == "warntime":
        return f"{deadtime_ms // 2}ms"
    if name == "deadping":
        return f"{deadtime_ms}ms"
    if name == "initdead":
        initdead = (deadtime_ms if deadtime_ms > 10000 else
                    12000 if deadtime_ms < 6000 else 2 * deadtime_ms)
        return f"{initdead}ms"
    if name == "udpport":
        return str(hacf.udpport)
    if name == "debug":
        return "0"
    if name == "use_logd" and not (hacf.logfile or hacf.debugfile) \
            and (hacf.logfacility or "none") == "none":
        return "yes"
    return None


def parameter(hacf: HaCf, name: str) -> str | None:
    """`cl_status hbparameter -p NAME` as heartbeat answers it for this ha.cf (None: unset)."""
    if name == "hbversion":
        return hbversion()
    if name == "pacemaker":            # heartbeat keeps it equal to crm
        name = "crm"
    if name not in RECORDED:
        return None
    written = _written(hacf, name)
    if written is not None:
        return written
    return RECORDED[name] if RECORDED[name] is not None else _computed(hacf, name)


# --- nodes and links ---------------------------------------------------------------------

def node_order(hacf: HaCf) -> list[str]:
    """Node names (lower case) in the order heartbeat's API walks them."""
    names: list[str] = []
    for directive, rest in hacf.written:
        tokens = option_tokens(rest)
        if directive in ("node", "ping"):
            names += [token.lower() for token in tokens]
        elif directive == "ping_group" and tokens:
            names.append(tokens[0].lower())
    return list(reversed(dict.fromkeys(names)))


def _media_links(hacf: HaCf) -> dict[str, str]:
    """Link name -> this node's own status on it (see the module doc)."""
    links: dict[str, str] = {}
    for medium in hacf.media:
        hears_itself = not isinstance(medium, Mcast) or medium.loop
        if hears_itself or links.get(medium.iface) != "up":
            links[medium.iface] = "up" if hears_itself else "dead"
    return links


def _links(node: Mapping[str, Any], me: str, own: dict[str, str]) -> dict[str, str]:
    if node["type"] == "ping":
        return {node["name"]: "up" if node["status"] == "ping" else "dead"}
    if node["name"] == me:
        return dict(own)
    heard = node["links"]
    links = {name: heard.get(name, "dead") for name in own}
    links.update((name, status) for name, status in heard.items() if name not in links)
    return links


def api_nodes(document: Mapping[str, Any], config: ClusterConfig) -> list[dict[str, Any]]:
    """Every node of the status document as heartbeat's API shows it, in its order."""
    by_name = {node["name"].lower(): node for node in document["nodes"]}
    order = [name for name in node_order(config.hacf) if name in by_name]
    order += [name for name in by_name if name not in order]
    own = _media_links(config.hacf)
    return [{"name": name, "type": by_name[name]["type"], "status": by_name[name]["status"],
             "weight": WEIGHT, "site": SITE, "is_hbd": by_name[name]["is_hbd"],
             "links": _links(by_name[name], document["node"], own)} for name in order]


def heartbeat_nodes(document: Mapping[str, Any], config: ClusterConfig) -> dict[str, Any]:
    """The `heartbeat-nodes` verb's data: all cl_status needs but parameters."""
    return {"node": document["node"], "rscstatus": document["rscstatus"],
            "hbversion": hbversion(), "keepalive_ms": _ms(config.keepalive),
            "deadtime_ms": _ms(config.deadtime), "nodes": api_nodes(document, config)}

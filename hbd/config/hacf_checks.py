"""Defaults and whole-file checks applied after the last ha.cf line.

Defaults are heartbeat 3.0.6's (heartbeat-semantics.md §1.2):

* keepalive 1 s, deadtime 30 s, warntime deadtime/2, deadping deadtime;
* initdead: deadtime if deadtime > 10 s, 12 s if deadtime < 6 s, else
  2 × deadtime; then at least deadtime.

Checks (fatal in heartbeat unless marked warning here):

* keepalive > 0; deadtime > 2 × keepalive; initdead >= deadtime (warning if
  it is below 2 × deadtime); deadping > 2 × keepalive when given;
  warntime strictly between keepalive and deadtime (warning);
* at least one medium; at least one node and at most 100;
* ping_group names do not clash with node names;
* auto_failback unset means the deprecated `legacy` mode (warning);
* with Pacemaker on, an apiauth line for one of the clients heartbeat then
  authorises itself makes heartbeat refuse the file (warning: hbd accepts it).

Checks that need the other files or this node's name live in `load.py`.
"""

from __future__ import annotations

from typing import Any

from hbd.config.builder import HaCfBuilder
from hbd.config.model import HaCf
from hbd.config.timeval import as_written, format_seconds as fmt

MAX_NODES = 100


def default_initdead(deadtime: float) -> float:
    """Heartbeat's computed initdead for a given deadtime."""
    if deadtime > 10.0:
        initdead = deadtime
    elif deadtime < 6.0:
        initdead = 12.0
    else:
        initdead = 2.0 * deadtime
    return max(initdead, deadtime)


def _line(b: HaCfBuilder, *fields: str) -> int | None:
    for name in fields:
        if name in b.field_lines:
            return b.field_lines[name]
    return None


def _check_keepalive_deadtime(b: HaCfBuilder, keepalive: float, deadtime: float) -> None:
    if keepalive <= 0:
        b.error("keepalive must be more than 0; write e.g. 'keepalive 1' (seconds) "
                "or 'keepalive 500ms'", line=_line(b, "keepalive"))
        return
    if deadtime <= 2 * keepalive:
        b.error(f"deadtime {fmt(deadtime)} must be more than twice keepalive {fmt(keepalive)}: "
                f"raise deadtime above {fmt(2 * keepalive)} or lower keepalive",
                line=_line(b, "deadtime", "keepalive"))


def _check_warntime(b: HaCfBuilder, keepalive: float, deadtime: float, warntime: float) -> None:
    if "warntime" in b.fields and not keepalive < warntime < deadtime:
        b.warning(f"warntime {fmt(warntime)} should lie between keepalive {fmt(keepalive)} and "
                  f"deadtime {fmt(deadtime)} (e.g. {fmt(deadtime / 2)}); outside it the "
                  "late-heartbeat warning is useless", line=_line(b, "warntime"))


def _check_initdead(b: HaCfBuilder, deadtime: float, initdead: float) -> None:
    if "initdead" not in b.fields:
        return
    line = _line(b, "initdead")
    if initdead < deadtime:
        b.error(f"initdead {fmt(initdead)} must be at least deadtime {fmt(deadtime)}: "
                f"write 'initdead {as_written(2 * deadtime)}' or more", line=line)
    elif initdead < 2 * deadtime:
        b.warning(f"initdead {fmt(initdead)} is less than twice deadtime {fmt(deadtime)}; "
                  "at boot the network may need longer: heartbeat recommends "
                  f"at least {fmt(2 * deadtime)}", line=line)


def _check_deadping(b: HaCfBuilder, keepalive: float, deadping: float) -> None:
    if "deadping" in b.fields and keepalive > 0 and deadping <= 2 * keepalive:
        b.error(f"deadping {fmt(deadping)} must be more than twice keepalive {fmt(keepalive)}: "
                f"raise it above {fmt(2 * keepalive)}", line=_line(b, "deadping"))


def _timings(b: HaCfBuilder) -> dict[str, float]:
    keepalive = b.fields.get("keepalive", 1.0)
    deadtime = b.fields.get("deadtime", 30.0)
    warntime = b.fields.get("warntime", deadtime / 2)
    initdead = b.fields.get("initdead", default_initdead(deadtime))
    deadping = b.fields.get("deadping", deadtime)
    _check_keepalive_deadtime(b, keepalive, deadtime)
    _check_warntime(b, keepalive, deadtime, warntime)
    _check_initdead(b, deadtime, initdead)
    _check_deadping(b, keepalive, deadping)
    return {"keepalive": keepalive, "deadtime": deadtime, "warntime": warntime,
            "initdead": initdead, "deadping": deadping}


def _check_lists(b: HaCfBuilder) -> None:
    if not b.media:
        other = sorted(name for name in ("serial", "ucast6", "mcast6") if name in b.directive_lines)
        unused = (f" (hbd cannot use the {', '.join(other)} media: it would see no peer and take "
                  "every group over)") if other else ""
        b.error("no communication media" + unused + ": add at least one of 'bcast IFACE', "
                "'ucast IFACE PEER-IP' or 'mcast IFACE GROUP PORT TTL LOOP' "
                "(e.g. 'bcast eth2')", line=None)
    if not b.nodes:
        b.error("no 'node' line: declare every cluster node by its uname -n, "
                "e.g. 'node node0' and 'node node1'", line=None)
    elif len(b.nodes) > MAX_NODES:
        b.error(f"{len(b.nodes)} nodes declared; heartbeat allows at most {MAX_NODES}",
                line=b.node_lines[b.nodes[MAX_NODES]])
    for ping in b.ping_nodes:
        if ping.is_group and ping.name.lower() in b.node_lines:
            b.error(f"ping_group name '{ping.name}' is also a node name; rename the group",
                    line=b.ping_lines[ping.name])
    if "auto_failback" not in b.directive_lines and "nice_failback" not in b.directive_lines:
        b.warning("no auto_failback line: heartbeat then uses the deprecated 'legacy' mode; "
                  "write 'auto_failback on' (groups return home) or 'auto_failback off'",
                  line=None)


# apiauth lines heartbeat 3.0.6 adds itself when Pacemaker is on (observed: a second
# one is "Duplicate apiauth directive" and heartbeat does not start)
CRM_APIAUTH = ("cib", "stonithd", "attrd", "crmd", "pingd")


def _check_crm_apiauth(b: HaCfBuilder) -> None:
    if not b.fields.get("crm"):
        return
    for entry in b.apiauth:
        if entry.client in CRM_APIAUTH:
            b.warning(f"apiauth {entry.client} with Pacemaker on: heartbeat 3.0.6 adds "
                      f"'apiauth {entry.client}' itself and then refuses this file (\"Duplicate "
                      f"apiauth directive for API client {entry.client}\"); hbd accepts it, but "
                      "this node could not go back to heartbeat as it is: remove this line or "
                      "the crm line", line=entry.line)


def finish(b: HaCfBuilder) -> HaCf:
    """Apply defaults, run the whole-file checks, and build the `HaCf`."""
    timings = _timings(b)
    _check_lists(b)
    _check_crm_apiauth(b)
    values: dict[str, Any] = {**b.fields, **timings}
    return HaCf(
        nodes=tuple(b.nodes), media=tuple(b.media), ping_nodes=tuple(b.ping_nodes),
        respawn=tuple(b.respawn), apiauth=tuple(b.apiauth), stonith=tuple(b.stonith),
        env=tuple(b.env), written=tuple(b.written), lines=tuple(b.directive_lines.items()),
        **values,
    )


__all__ = ["finish", "default_initdead", "MAX_NODES"]

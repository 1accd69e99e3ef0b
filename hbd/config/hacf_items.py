"""ha.cf directives that build structured items: media, ping nodes, processes.

* `bcast IF...` (alias `udp`) and `ping ADDR...` are option-list directives:
  one medium or ping node per word.
* `ucast IF PEER`, `mcast IF GROUP PORT TTL LOOP` and `ping_group NAME ADDR...`
  parse the whole line, as heartbeat's media plugins do.
* `respawn`, `failfast`, `apiauth`, `stonith` and `stonith_host` take the rest
  of the line as one string.

Each handler receives the builder and its text and reports problems on the
builder's current line.
"""

from __future__ import annotations

import ipaddress
import posixpath

from hbd.config import values
from hbd.config.builder import HaCfBuilder
from hbd.config.lexer import option_tokens, words
from hbd.config.model import ApiAuth, Bcast, Mcast, PingNode, Respawn, Stonith, Ucast

MCAST_RANGE = ipaddress.IPv4Network("224.0.0.0/4")


def bcast(b: HaCfBuilder, iface: str) -> None:
    problem = values.check_iface(iface)
    if problem:
        b.error(f"bcast: {problem}")
        return
    b.add_medium(Bcast(iface))


def ucast(b: HaCfBuilder, rest: str) -> None:
    fields = words(rest)
    usage = "write 'ucast IFACE PEER-IPv4', e.g. 'ucast eth2 10.160.100.31'"
    if len(fields) != 2:
        what = "an interface and a peer address" if len(fields) < 2 else "one peer per line"
        b.error(f"ucast needs {what}: {usage}")
        return
    iface, peer = fields
    problem = values.check_iface(iface) or values.check_ipv4(peer, "ucast peer")
    if problem:
        b.error(f"ucast: {problem}")
        return
    b.add_medium(Ucast(iface, peer))


def _mcast_fields(b: HaCfBuilder, fields: list[str]) -> Mcast | None:
    iface, group, port_text, ttl_text, loop_text = fields
    problem = values.check_iface(iface) or values.check_ipv4(group, "mcast group")
    if problem is None and ipaddress.IPv4Address(group) not in MCAST_RANGE:
        problem = f"mcast group {group} is not a multicast address (224.0.0.0 to 239.255.255.255)"
    port, port_problem = values.check_int(port_text, 1, 65535, "mcast port")
    ttl, ttl_problem = values.check_int(ttl_text, 0, 255, "mcast ttl")
    loop, loop_problem = values.check_int(loop_text, 0, 1, "mcast loop")
    problem = problem or port_problem or ttl_problem or loop_problem
    if problem or port is None or ttl is None or loop is None:
        b.error(f"mcast: {problem}")
        return None
    return Mcast(iface, group, port, ttl, bool(loop))


def mcast(b: HaCfBuilder, rest: str) -> None:
    fields = words(rest)
    if len(fields) != 5:
        b.error(f"mcast needs 5 fields, got {len(fields)}: write 'mcast IFACE GROUP PORT TTL LOOP', "
                "e.g. 'mcast eth2 225.0.0.1 694 1 0'")
        return
    medium = _mcast_fields(b, fields)
    if medium is not None:
        b.add_medium(medium)


def ping(b: HaCfBuilder, address: str) -> None:
    problem = values.check_ipv4(address, "ping node")
    if problem:
        b.error(f"ping: {problem}")
        return
    b.add_ping_node(PingNode(address, (address,)))


def ping_group(b: HaCfBuilder, rest: str) -> None:
    fields = option_tokens(rest)
    if len(fields) < 2:
        b.error("ping_group needs a name and at least one address: "
                "write 'ping_group NAME IP [IP...]', e.g. 'ping_group group1 192.168.12.251'")
        return
    name, addresses = fields[0], fields[1:]
    for address in addresses:
        problem = values.check_ipv4(address, f"ping_group {name} member")
        if problem:
            b.error(f"ping_group: {problem}")
            return
    b.add_ping_node(PingNode(name, tuple(dict.fromkeys(addresses)), is_group=True))


def _program(b: HaCfBuilder, directive: str, rest: str) -> Respawn | None:
    fields = words(rest)
    if len(fields) < 2 or not fields[1].startswith("/"):
        b.error(f"{directive} needs a user and an absolute program path: write "
                f"'{directive} USER /path/to/program [ARGS]', e.g. "
                f"'{directive} hacluster /usr/lib/heartbeat/ipfail'")
        return None
    return Respawn(fields[0], tuple(fields[1:]), b.line)


def respawn(b: HaCfBuilder, rest: str) -> None:
    item = _program(b, "respawn", rest)
    if item is not None:
        b.respawn.append(item)


def failfast(b: HaCfBuilder, rest: str) -> None:
    _program(b, "failfast", rest)


def program_hint(argv: tuple[str, ...]) -> str:
    """Extra words for the 'not implemented' warning of respawn lines."""
    name = posixpath.basename(argv[0]) if argv else ""
    if name == "pingd":
        return "pingd is a Pacemaker component and does nothing in a haresources cluster"
    if name == "ipfail":
        return "ipfail is not needed: hbd moves groups away from a node that lost its ping nodes by itself"
    return f"{argv[0]} is not started" if argv else ""


def apiauth(b: HaCfBuilder, rest: str) -> None:
    fields = words(rest)
    if not fields:
        b.error("apiauth needs a client name: write 'apiauth CLIENT uid=USER[,USER] gid=GROUP[,GROUP]'")
        return
    ids: dict[str, tuple[str, ...]] = {"uid": (), "gid": ()}
    for field in fields[1:]:
        key, sep, value = field.partition("=")
        if not sep or key not in ids or not value:
            b.error(f"apiauth: '{field}' is not uid=NAMES or gid=NAMES "
                    "(names separated by commas, no blanks)")
            return
        ids[key] = ids[key] + tuple(v for v in value.split(",") if v)
    b.apiauth.append(ApiAuth(fields[0], ids["uid"], ids["gid"]))
    if fields[0] not in API_CLIENTS:
        b.warning(f"apiauth {fields[0]}: hbd has no heartbeat API for {fields[0]}, the line "
                  f"grants nothing; only apiauth {', '.join(API_CLIENTS)} entries give "
                  "users access to hbctl")


# apiauth clients that mean something to hbd: who may use hbctl (see docs/hbctl.md)
API_CLIENTS = ("hbctl", "cl_status", "hb_standby")


def stonith(b: HaCfBuilder, rest: str) -> None:
    fields = words(rest)
    if len(fields) != 2:
        b.error("stonith needs a device type and its configuration file: "
                "write 'stonith TYPE /path/to/config', e.g. 'stonith baytech /etc/ha.d/conf/stonith.baytech'")
        return
    b.stonith.append(Stonith(fields[0], (fields[1],), "*", from_file=True))


def stonith_host(b: HaCfBuilder, rest: str) -> None:
    fields = words(rest)
    if len(fields) < 2:
        b.error("stonith_host needs a host (or *) and a device type: "
                "write 'stonith_host HOST|* TYPE [PARAMS...]'")
        return
    b.stonith.append(Stonith(fields[1], tuple(fields[2:]), fields[0].lower()))


def watchdog(b: HaCfBuilder, device: str) -> None:
    if "watchdog" in b.fields:
        b.error(f"watchdog is already set on line {b.field_lines['watchdog']}; specify it only once")
        return
    if not device.startswith("/"):
        b.error(f"watchdog '{device}' is not a device path; write e.g. 'watchdog /dev/watchdog'")
        return
    b.set_field("watchdog", device)

"""ha.cf directives that build structured items: media, ping nodes, processes.

* `bcast IF...` (alias `udp`) and `ping ADDR...` are option-list directives:
  one medium or ping node per word.
* `ucast IF PEER`, `mcast IF GROUP PORT TTL LOOP` and `ping_group NAME ADDR...`
  parse the whole line, as heartbeat's media plugins do. Like them, hbd reads
  the first fields it needs and ignores extra words (with a warning):
  `ucast eth1 10.0.0.2 10.0.0.3` unicasts to 10.0.0.2 only. A ucast peer may
  be a host name, resolved once when the configuration is read (heartbeat
  resolves it at start with gethostbyname), if a resolver is given.
* `respawn`, `failfast`, `apiauth`, `stonith` and `stonith_host` take the rest
  of the line as one string. Respawned heartbeat API clients (ipfail, pingd,
  ...) are kept but marked as not run (`respawn.py`).
* `watchdog` and `env` are option-list directives with their own rules.

Each handler receives the builder and its text and reports problems on the
builder's current line.
"""

from __future__ import annotations

import ipaddress
import re

from hbd.config import values
from hbd.config.builder import HaCfBuilder
from hbd.config.lexer import option_tokens, words
from hbd.config.model import ApiAuth, Bcast, ClientKind, Mcast, PingNode, Respawn, Stonith, Ucast
from hbd.config.respawn import classify, replaced_warning

MCAST_RANGE = ipaddress.IPv4Network("224.0.0.0/4")


def bcast(b: HaCfBuilder, iface: str) -> None:
    problem = values.check_iface(iface)
    if problem:
        b.error(f"bcast: {problem}")
        return
    b.add_medium(Bcast(iface))


def _peer_address(b: HaCfBuilder, peer: str) -> str | None:
    """The IPv4 address of a ucast peer written as an address or a host name."""
    if values.check_ipv4(peer) is None:
        return peer
    if values.check_hostname(peer) is not None or peer.replace(".", "").isdigit():
        b.error(f"ucast: ucast peer '{peer}' is not an IPv4 address (write four numbers 0-255, "
                "e.g. 192.168.32.21)")
        return None
    address = b.resolve(peer) if b.resolve is not None else None
    if address is None:
        how = "does not resolve to an IPv4 address" if b.resolve else "cannot be resolved here"
        b.error(f"ucast: peer host name '{peer}' {how} (heartbeat: \"ucast: cannot resolve "
                "hostname\"); write the peer's IPv4 address")
        return None
    b.warning(f"ucast peer '{peer}' is a host name, resolved to {address} when the "
              "configuration was read (heartbeat resolves it once at start too); write the "
              "address, so that a name-service failure cannot stop the node from starting")
    return address


def ucast(b: HaCfBuilder, rest: str) -> None:
    fields = words(rest)
    if len(fields) < 2:
        b.error("ucast needs an interface and a peer address: write 'ucast IFACE PEER-IPv4', "
                "e.g. 'ucast eth2 10.160.100.31'")
        return
    iface, peer, *extra = fields
    if extra:
        b.warning(f"ucast: heartbeat 3.0.6 uses only the first peer of a ucast line ({peer}) "
                  f"and ignores '{' '.join(extra)}'; hbd does the same: write one "
                  f"'ucast {iface} ADDRESS' line per peer")
    problem = values.check_iface(iface)
    if problem:
        b.error(f"ucast: {problem}")
        return
    address = _peer_address(b, peer)
    if address is not None:
        b.add_medium(Ucast(iface, address))


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
    if len(fields) < 5:
        b.error(f"mcast needs 5 fields, got {len(fields)}: write 'mcast IFACE GROUP PORT TTL LOOP', "
                "e.g. 'mcast eth2 225.0.0.1 694 1 0'")
        return
    if len(fields) > 5:
        b.warning(f"mcast: heartbeat 3.0.6 reads the first 5 fields and ignores "
                  f"'{' '.join(fields[5:])}'; hbd does the same: remove them")
    medium = _mcast_fields(b, fields[:5])
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


_USER_AND_REST = re.compile(r"^\s*(\S+)\s+(.*?)\s*$")


def _program(b: HaCfBuilder, directive: str, rest: str) -> Respawn | None:
    fields = words(rest)
    match = _USER_AND_REST.match(rest)
    if len(fields) < 2 or not fields[1].startswith("/") or match is None:
        b.error(f"{directive} needs a user and an absolute program path: write "
                f"'{directive} USER /path/to/program [ARGS]', e.g. "
                f"'{directive} hacluster /usr/lib/heartbeat/ipfail'")
        return None
    argv = tuple(fields[1:])
    kind, _ = classify(argv)
    return Respawn(fields[0], argv, b.line, match.group(2), kind)


def respawn(b: HaCfBuilder, rest: str) -> None:
    item = _program(b, "respawn", rest)
    if item is None:
        return
    b.respawn.append(item)
    if item.kind is ClientKind.API_CLIENT:
        b.warning(replaced_warning(item.argv, classify(item.argv)[1]))


def failfast(b: HaCfBuilder, rest: str) -> None:
    _program(b, "failfast", rest)


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
    b.apiauth.append(ApiAuth(fields[0], ids["uid"], ids["gid"], b.line))
    if fields[0] not in API_CLIENTS:
        b.warning(f"apiauth {fields[0]}: hbd has no heartbeat API for {fields[0]}, the line "
                  f"is accepted and grants nothing; only apiauth {', '.join(API_CLIENTS)} "
                  "entries give users access to hbctl")


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
    if b.watchdog_line is not None:
        b.error(f"watchdog is already set on line {b.watchdog_line}; specify it only once "
                "(heartbeat: \"Watchdog device multiply specified\")")
        return
    b.watchdog_line = b.line
    if not device.startswith("/"):
        b.warning(f"watchdog '{device}' is not a device path: heartbeat 3.0.6 cannot open it "
                  "(\"Cannot open watchdog device\") and runs without a watchdog; hbd does the "
                  "same: write e.g. 'watchdog /dev/watchdog'")
        return
    b.set_field("watchdog", device)


def env(b: HaCfBuilder, pair: str) -> None:
    name, sep, value = pair.partition("=")
    if not name:
        b.error(f"env: '{pair}' has no name before '='; write NAME=value, e.g. 'env DEBUG=1'")
        return
    if not sep:
        b.warning(f"env: '{pair}' has no '=value': heartbeat exports an undefined value as "
                  f"HA_{name}; hbd ignores the word: write 'env {name}=VALUE'")
        return
    b.env.append((name, value))

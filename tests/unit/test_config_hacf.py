"""ha.cf parsing: every heartbeat 3.0.6 directive, typed fields, defaults and checks."""

from __future__ import annotations

import pytest

from hbd.config.hacf import DIRECTIVES, NOT_IMPLEMENTED, parse_hacf
from hbd.config.hacf_checks import default_initdead
from hbd.config.model import (ApiAuth, AutoFailback, Bcast, HaCf, Mcast, PingNode, Problem,
                              Severity, Stonith, Ucast)

BASE = "node node0\nbcast eth0\nauto_failback on\n"
BASE_LINES = BASE.count("\n")


def parse(extra: str = "", base: str = BASE) -> tuple[HaCf, list[Problem]]:
    return parse_hacf(base + extra, "ha.cf")


def errors(problems: list[Problem]) -> list[str]:
    return [p.message for p in problems if p.severity is Severity.ERROR]


def warnings(problems: list[Problem]) -> list[str]:
    return [p.message for p in problems if p.severity is Severity.WARNING]


# One valid example line for every directive heartbeat 3.0.6 accepts (semantics §1.2).
EXAMPLES = {
    "node": "node node1", "keepalive": "keepalive 1", "deadtime": "deadtime 30",
    "warntime": "warntime 10", "initdead": "initdead 60", "deadping": "deadping 30",
    "udpport": "udpport 694", "bcast": "bcast eth1", "ucast": "ucast eth1 10.0.0.2",
    "mcast": "mcast eth1 225.0.0.1 694 1 0", "ucast6": "ucast6 eth1 fe80::1",
    "mcast6": "mcast6 eth1 ff02::1:2 694 1 0", "serial": "serial /dev/ttyS0", "baud": "baud 19200",
    "ping": "ping 10.0.0.254", "ping6": "ping6 fe80::1", "ping_group": "ping_group g 10.0.0.1",
    "hopfudge": "hopfudge 1", "auto_failback": "auto_failback off", "nice_failback": "nice_failback on",
    "logfile": "logfile /var/log/ha-log", "debugfile": "debugfile /var/log/ha-debug",
    "logfacility": "logfacility local0", "use_logd": "use_logd yes", "conn_logd_time": "conn_logd_time 60",
    "syslogmsgfmt": "syslogmsgfmt true", "log_badpack": "log_badpack false", "debug": "debug 1",
    "respawn": "respawn hacluster /usr/lib/heartbeat/ipfail", "failfast": "failfast hacluster /bin/true",
    "apiauth": "apiauth ipfail uid=hacluster", "stonith": "stonith baytech /etc/ha.d/conf/stonith.baytech",
    "stonith_host": "stonith_host * baytech 10.0.0.3 mylogin mysecretpassword",
    "watchdog": "watchdog /dev/watchdog", "realtime": "realtime on", "rtprio": "rtprio 5",
    "memreserve": "memreserve 6500", "coredumps": "coredumps true", "coreroot": "coreroot /var/lib/heartbeat/cores",
    "hbgenmethod": "hbgenmethod time", "uuidfrom": "uuidfrom nodename", "msgfmt": "msgfmt netstring",
    "compression": "compression zlib", "compression_threshold": "compression_threshold 2",
    "traditional_compression": "traditional_compression no", "max_rexmit_delay": "max_rexmit_delay 250",
    "autojoin": "autojoin none", "cluster": "cluster mycluster", "crm": "crm off", "pacemaker": "pacemaker no",
    "crm_daemon_dir": "crm_daemon_dir /usr/lib/heartbeat", "crmd_spawns_pengine": "crmd_spawns_pengine yes",
    "record_config_changes": "record_config_changes on", "record_pengine_inputs": "record_pengine_inputs on",
    "enable_config_writes": "enable_config_writes on", "quorum_server": "quorum_server qs.example",
    "env": "env DEBUG=1", "use_apphbd": "use_apphbd no",
}


def test_every_directive_has_an_example() -> None:
    assert set(EXAMPLES) == set(DIRECTIVES)


@pytest.mark.parametrize("directive", sorted(EXAMPLES))
def test_every_heartbeat_directive_is_recognised(directive: str) -> None:
    _, problems = parse(EXAMPLES[directive] + "\n")
    assert errors(problems) == []
    not_implemented = [m for m in warnings(problems) if "does not implement" in m]
    if directive in NOT_IMPLEMENTED:
        assert not_implemented == [m for m in not_implemented if f"'{directive}'" in m] != []
        assert "it is ignored" in not_implemented[0]
    else:
        assert not_implemented == []


def test_defaults_are_heartbeats() -> None:
    hacf, problems = parse()
    assert errors(problems) == [] and warnings(problems) == []
    assert (hacf.keepalive, hacf.deadtime, hacf.warntime, hacf.initdead, hacf.deadping) == (
        1.0, 30.0, 15.0, 30.0, 30.0)
    assert hacf.udpport == 694 and hacf.msgfmt == "classic" and hacf.crm is False


@pytest.mark.parametrize("deadtime, initdead", [(30.0, 30.0), (11.0, 11.0), (10.0, 20.0),
                                                (6.0, 12.0), (5.0, 12.0), (2.5, 12.0)])
def test_initdead_default_is_computed_as_heartbeat_does(deadtime: float, initdead: float) -> None:
    assert default_initdead(deadtime) == initdead
    hacf, _ = parse(f"keepalive 0.5\ndeadtime {deadtime}\n")
    assert hacf.initdead == initdead and hacf.warntime == deadtime / 2 and hacf.deadping == deadtime


def test_typed_fields() -> None:
    hacf, problems = parse(
        "keepalive 500ms\ndeadtime 5\nwarntime 2\ninitdead 10\ndeadping 4\nudpport 695\n"
        "ucast eth1 10.0.0.2\nmcast eth2 239.1.1.1 700 2 1\nping 10.0.0.254, 10.0.0.253\n"
        "ping_group pg 10.0.1.1,10.0.1.2\nrespawn hacluster /usr/lib/heartbeat/ipfail -x\n"
        "apiauth ipfail uid=a,b gid=c\nstonith_host NODE1 baytech p1 p2\nwatchdog /dev/watchdog\n"
        "logfile /var/log/x\ndebugfile /var/log/y\nlogfacility daemon\ndebug 3\nmsgfmt netstring\n"
        "hbgenmethod time\nuuidfrom nodename\ncompression bz2\ncompression_threshold 4\n"
        "traditional_compression yes\nmax_rexmit_delay 500\nhopfudge 3\ncluster c1\n")
    assert errors(problems) == []
    assert (hacf.keepalive, hacf.deadtime, hacf.warntime, hacf.initdead, hacf.deadping) == (
        0.5, 5.0, 2.0, 10.0, 4.0)
    assert hacf.udpport == 695
    assert hacf.media == (Bcast("eth0"), Ucast("eth1", "10.0.0.2"), Mcast("eth2", "239.1.1.1", 700, 2, True))
    assert hacf.ping_nodes == (PingNode("10.0.0.254", ("10.0.0.254",)),
                               PingNode("10.0.0.253", ("10.0.0.253",)),
                               PingNode("pg", ("10.0.1.1", "10.0.1.2"), True))
    assert hacf.respawn[0].user == "hacluster" and hacf.respawn[0].argv[-1] == "-x"
    assert hacf.apiauth == (ApiAuth("ipfail", ("a", "b"), ("c",)),)
    assert hacf.stonith == (Stonith("baytech", ("p1", "p2"), "node1"),)
    assert (hacf.watchdog, hacf.logfile, hacf.debugfile, hacf.logfacility, hacf.debug) == (
        "/dev/watchdog", "/var/log/x", "/var/log/y", "daemon", 3)
    assert (hacf.msgfmt, hacf.hbgenmethod, hacf.uuidfrom) == ("netstring", "time", "nodename")
    assert (hacf.compression, hacf.compression_threshold, hacf.traditional_compression) == ("bz2", 4, True)
    assert (hacf.max_rexmit_delay, hacf.hopfudge, hacf.cluster) == (0.5, 3, "c1")
    assert ("udpport", "695") in hacf.written


def test_option_lists_split_on_blanks_and_commas_and_lower_case_nodes() -> None:
    hacf, problems = parse("node Node1,NODE2  node3\nbcast eth1, eth2\n")
    assert hacf.nodes == ("node0", "node1", "node2", "node3")
    assert [m.iface for m in hacf.media] == ["eth0", "eth1", "eth2"]
    assert errors(problems) == []


def test_single_value_directive_keeps_the_last_word_with_a_warning() -> None:
    hacf, problems = parse("keepalive 1 2\n")
    assert hacf.keepalive == 2.0
    assert any("several values" in m for m in warnings(problems))


def test_repeated_directive_line_warns() -> None:
    hacf, problems = parse("deadtime 20\ndeadtime 40\n")
    assert hacf.deadtime == 40.0
    assert any("also set on line 4" in m for m in warnings(problems))


def test_comments_anywhere_and_blank_lines() -> None:
    hacf, problems = parse("\n   # comment\nkeepalive 2 # two seconds, not 2 # 3\n\n")
    assert hacf.keepalive == 2.0 and problems == []


def test_udp_is_an_alias_of_bcast() -> None:
    hacf, problems = parse("udp eth9\n")
    assert Bcast("eth9") in hacf.media
    assert any("'udp' is the old name of 'bcast'" in m for m in warnings(problems))


def test_unknown_directive_is_an_error_with_a_suggestion() -> None:
    _, problems = parse("deadtiem 10\n")
    assert problems[0].line == BASE_LINES + 1
    assert "Illegal directive 'deadtiem'" in problems[0].message and "'deadtime'" in problems[0].message


@pytest.mark.parametrize("value", ["on", "yes", "respawn", "minimal", "manual", "ccm-only", "valgrind", "true"])
def test_crm_on_is_accepted_with_a_warning_saying_what_hbd_does(value: str) -> None:
    hacf, problems = parse(f"crm {value}\n")
    assert errors(problems) == [] and hacf.crm is True
    [warning] = warnings(problems)
    assert "heartbeat 3.0.6 then ignores haresources" in warning
    assert "runs the haresources cluster this directory describes" in warning and "crm off" in warning


def test_crm_with_a_value_heartbeat_refuses_is_an_error() -> None:
    _, problems = parse("crm sometimes\n")
    assert "write 'crm off'" in errors(problems)[0]


@pytest.mark.parametrize("value", ["other", "any"])
def test_autojoin_conflicts_with_haresources(value: str) -> None:
    _, problems = parse(f"autojoin {value}\n")
    assert "conflicts with haresources" in errors(problems)[0]


@pytest.mark.parametrize("value, mode", [("on", AutoFailback.OFF), ("off", AutoFailback.LEGACY)])
def test_nice_failback_maps_like_heartbeat_with_a_warning(value: str, mode: AutoFailback) -> None:
    hacf, problems = parse(f"nice_failback {value}\n", base="node node0\nbcast eth0\n")
    assert hacf.auto_failback is mode
    assert any("obsolete" in m for m in warnings(problems))


def test_auto_failback_values() -> None:
    for text, mode in (("on", AutoFailback.ON), ("no", AutoFailback.OFF), ("legacy", AutoFailback.LEGACY)):
        hacf, problems = parse(f"auto_failback {text}\n", base="node node0\nbcast eth0\n")
        assert hacf.auto_failback is mode
    assert any("Deprecated 'legacy'" in m for m in warnings(problems))
    _, problems = parse("", base="node node0\nbcast eth0\n")
    assert any("no auto_failback line" in m for m in warnings(problems))


@pytest.mark.parametrize("extra, fragment", [
    ("keepalive 0\n", "keepalive must be more than 0"),
    ("keepalive 5\ndeadtime 10\n", "must be more than twice keepalive"),
    ("deadtime 10\ninitdead 9\n", "initdead 9s must be at least deadtime 10s"),
    ("keepalive 2\ndeadtime 10\ndeadping 4\n", "deadping 4s must be more than twice keepalive 2s"),
    ("udpport 0\n", "udpport 0 is out of range"),
    ("keepalive 5s\n", "write 5"),
    ("warntime 1min\n", "write 60"),
    ("ucast eth1\n", "needs an interface and a peer address"),
    ("ucast eth1 10.0.0\n", "is not an IPv4 address"),
    ("ucast eth1 host.example\n", "cannot be resolved here"),
    ("mcast eth1 225.0.0.1 694 1\n", "5 fields"),
    ("mcast eth1 225.0.0.1 0 1 0\n", "mcast port 0 is out of range"),
    ("mcast eth1 240.0.0.1 694 1 0\n", "not a multicast address"),
    ("bcast this-name-is-too-long0\n", "longer than 15"),
    ("ping 10.0.0\n", "ping node '10.0.0' is not an IPv4 address"),
    ("ping_group node0 10.0.0.1\n", "is also a node name"),
    ("baud 12345\n", "write one of: 9600"),
    ("logfacility locl0\n", "did you mean 'local0'"),
    ("env =1\n", "has no name before '='"),
    ("apiauth ipfail user=x\n", "is not uid=NAMES or gid=NAMES"),
    ("stonith baytech\n", "stonith needs a device type"),
    ("keepalive\n", "keepalive needs a value"),
    ("hopfudge 256\n", "hopfudge 256 is out of range"),
])
def test_invalid_values_are_errors(extra: str, fragment: str) -> None:
    _, problems = parse(extra)
    assert any(fragment in m for m in errors(problems)), problems


def test_warntime_outside_keepalive_deadtime_is_a_warning() -> None:
    _, problems = parse("keepalive 2\ndeadtime 10\nwarntime 12\n")
    assert errors(problems) == [] and any("warntime 12s should lie between" in m for m in warnings(problems))


def test_initdead_below_twice_deadtime_is_a_warning() -> None:
    _, problems = parse("deadtime 10\ninitdead 15\n")
    assert errors(problems) == [] and any("less than twice deadtime" in m for m in warnings(problems))


def test_no_media_no_nodes_too_many_nodes() -> None:
    _, problems = parse_hacf("auto_failback on\n", "ha.cf")
    assert any("no communication media" in m for m in errors(problems))
    assert any("no 'node' line" in m for m in errors(problems))
    many = " ".join(f"n{i}" for i in range(101))
    _, problems = parse(f"node {many}\n")
    assert any("heartbeat allows at most 100" in m for m in errors(problems))


def test_duplicate_node_and_medium_are_warned() -> None:
    hacf, problems = parse("node node0\nbcast eth0\n")
    assert hacf.nodes == ("node0",) and hacf.media == (Bcast("eth0"),)
    assert len(warnings(problems)) == 2 and errors(problems) == []


def test_udpport_after_media_warns() -> None:
    _, problems = parse("udpport 700\n")
    assert any("udpport comes after the media line 2" in m for m in warnings(problems))


def test_no_break_spaces_are_blanks_with_one_warning() -> None:
    hacf, problems = parse("keepalive 2\u00a0\nnode\u00a0\u00a0node1\n")
    assert hacf.keepalive == 2.0 and hacf.nodes == ("node0", "node1")
    assert [p.line for p in problems] == [4]
    assert "U+00A0 on this line and 1 more" in problems[0].message


def test_long_prose_line_is_shortened_in_the_message() -> None:
    _, problems = parse("這是一個" + "很長" * 30 + "的說明\n")
    assert "..." in problems[0].message and "start it with '#'" in problems[0].message

"""ha.cf forms heartbeat 3.0.6 accepts (checked against Debian's heartbeat): hbd accepts them
too, does what heartbeat does, and says so with a warning naming the line."""

from __future__ import annotations

import pytest

from hbd.config.hacf import PENDING, parse_hacf
from hbd.config.model import ClientKind, HaCf, Mcast, Problem, Respawn, Severity, Ucast

BASE = "node node0\nbcast eth0\nauto_failback on\n"
LINE = BASE.count("\n") + 1


def parse(extra: str, **kwargs) -> tuple[HaCf, list[Problem]]:
    return parse_hacf(BASE + extra, "ha.cf", **kwargs)


def only_warnings(problems: list[Problem]) -> list[str]:
    assert [p for p in problems if p.severity is Severity.ERROR] == [], problems
    return [p.message for p in problems]


def test_ucast_with_several_peers_uses_the_first_as_heartbeat_does() -> None:
    hacf, problems = parse("ucast eth1 10.0.0.2 10.0.0.3\n")
    assert Ucast("eth1", "10.0.0.2") in hacf.media and Ucast("eth1", "10.0.0.3") not in hacf.media
    [message] = only_warnings(problems)
    assert "uses only the first peer of a ucast line (10.0.0.2) and ignores '10.0.0.3'" in message
    assert problems[0].line == LINE


def test_a_ucast_host_name_is_resolved_once_through_the_given_resolver() -> None:
    asked: list[str] = []

    def resolve(name: str) -> str | None:
        asked.append(name)
        return "10.0.0.9" if name == "node1.example" else None

    hacf, problems = parse("ucast eth1 node1.example\n", resolve=resolve)
    assert Ucast("eth1", "10.0.0.9") in hacf.media and asked == ["node1.example"]
    assert "resolved to 10.0.0.9" in only_warnings(problems)[0]
    _, problems = parse("ucast eth1 nowhere.example\n", resolve=resolve)
    assert "does not resolve to an IPv4 address" in problems[0].message
    assert problems[0].severity is Severity.ERROR


def test_mcast_extra_words_are_ignored_as_heartbeat_does() -> None:
    hacf, problems = parse("mcast eth1 225.0.0.1 694 1 0 extra\n")
    assert Mcast("eth1", "225.0.0.1", 694, 1, False) in hacf.media
    assert "ignores 'extra'" in only_warnings(problems)[0]


@pytest.mark.parametrize("line, field, value, read", [
    ("max_rexmit_delay 250ms", "max_rexmit_delay", 0.25, 250),
    ("compression_threshold 2(K)", "compression_threshold", 2, 2),
    ("hopfudge 1x", "hopfudge", 1, 1),
    ("debug 2foo", "debug", 2, 2),
])
def test_numbers_are_read_with_atoi_like_heartbeat(line: str, field: str, value: float,
                                                   read: int) -> None:
    hacf, problems = parse(line + "\n")
    assert getattr(hacf, field) == value
    assert any(f"heartbeat reads '{line.split()[1]}' as {read}" in m for m in only_warnings(problems))


@pytest.mark.parametrize("facility", ["security", "mark", "authpriv", "local7"])
def test_every_glibc_facility_heartbeat_accepts_is_accepted(facility: str) -> None:
    hacf, problems = parse(f"logfacility {facility}\n")
    assert hacf.logfacility == facility
    only_warnings(problems)


def test_env_lines_are_kept_and_a_word_without_value_is_ignored_with_a_warning() -> None:
    hacf, problems = parse("env DEBUG=1,HOME=/tmp\nenv FOO\n")
    assert hacf.env == (("DEBUG", "1"), ("HOME", "/tmp"))
    assert any("'FOO' has no '=value'" in m for m in only_warnings(problems))


def test_a_relative_watchdog_is_not_used_as_heartbeat_cannot_open_it() -> None:
    hacf, problems = parse("watchdog watchdog\n")
    assert hacf.watchdog is None
    assert "runs without a watchdog" in only_warnings(problems)[0]


def test_watchdog_is_typed_and_reported_while_the_daemon_lacks_it() -> None:
    hacf, problems = parse("watchdog /dev/watchdog\n")
    assert hacf.watchdog == "/dev/watchdog"
    messages = only_warnings(problems)
    assert ("watchdog" in PENDING) == any("does not act on it yet" in m for m in messages)


def test_respawn_entries_are_typed_and_api_clients_are_not_run() -> None:
    hacf, problems = parse("respawn hacluster /usr/lib/heartbeat/ipfail\n"
                           "respawn root   /usr/local/bin/watcher  -q  \"a b\"\n"
                           "respawn hacluster /usr/lib/heartbeat/dopd\n")
    ipfail, watcher, dopd = hacf.respawn
    assert ipfail == Respawn("hacluster", ("/usr/lib/heartbeat/ipfail",), LINE,
                             "/usr/lib/heartbeat/ipfail", ClientKind.API_CLIENT)
    assert watcher.kind is ClientKind.PROGRAM and watcher.runs
    assert watcher.command == '/usr/local/bin/watcher  -q  "a b"'     # what heartbeat gives sh -c
    assert watcher.argv == ("/usr/local/bin/watcher", "-q", '"a', 'b"')
    assert dopd.kind is ClientKind.API_CLIENT and hacf.respawned == (watcher,)
    messages = only_warnings(problems)
    assert any("ipfail moved groups away from a node that lost its ping nodes" in m for m in messages)
    assert any("drbd-peer-outdater handler cannot reach a peer" in m for m in messages)


def test_apiauth_for_api_clients_is_accepted_and_hbctl_keeps_its_meaning() -> None:
    hacf, problems = parse("apiauth pingd gid=haclient uid=hacluster\napiauth hbctl uid=ops\n")
    assert [a.client for a in hacf.apiauth] == ["pingd", "hbctl"]
    [message] = only_warnings(problems)
    assert message.startswith("apiauth pingd: hbd has no heartbeat API for pingd")


def test_crm_on_with_apiauth_pingd_warns_that_heartbeat_refuses_the_file() -> None:
    _, problems = parse("apiauth pingd uid=root\ncrm respawn\n")
    assert any("Duplicate apiauth directive for API client pingd" in m for m in only_warnings(problems))
    assert [p.line for p in problems if "Duplicate" in p.message] == [LINE]


def test_only_serial_media_is_refused_because_hbd_would_see_no_peer() -> None:
    _, problems = parse_hacf("node a b\nserial /dev/ttyS0\nauto_failback on\n", "ha.cf")
    assert any("cannot use the serial media" in p.message for p in problems
               if p.severity is Severity.ERROR)

"""hbd.cf: hbd's own settings, one table of directives, defaults and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hbd.config.hacf import parse_hacf
from hbd.config.hacf import DIRECTIVES as HACF_DIRECTIVES
from hbd.config.hbdcf import HBD_DIRECTIVES, metrics_endpoint, parse_hbdcf
from hbd.config.model import Problem, Severity
from hbd.config.settings import (HbdSettings, LogFormat, Notify, StopFailure, TcpEndpoint,
                                 UnixEndpoint)


def errors(problems: list[Problem]) -> list[str]:
    return [p.message for p in problems if p.severity is Severity.ERROR]


def warnings(problems: list[Problem]) -> list[str]:
    return [p.message for p in problems if p.severity is Severity.WARNING]


def test_an_empty_file_gives_the_documented_defaults() -> None:
    settings, problems = parse_hbdcf("# nothing set\n\n", "/etc/ha.d/hbd.cf")
    assert problems == []
    assert settings == HbdSettings(source="/etc/ha.d/hbd.cf")
    assert (settings.quorum, settings.arp_probe, settings.arp_probe_wait) == (False, True, 0.005)
    assert settings.on_stop_failure is StopFailure.AUTO and settings.fence_delay is None
    assert (settings.notify, settings.notify_timeout) == ((), 10.0)
    assert settings.metrics is None and settings.logformat is LogFormat.TEXT


def test_every_directive_is_read() -> None:
    text = ("quorum on\narp_probe off   # not on this LAN\narp_probe_wait 20ms\n"
            "on_stop_failure fence\nfence_delay 2\nnotify /usr/local/sbin/page --team ha,db\n"
            "notify /bin/logger\nnotify_timeout 500ms\nmetrics unix:/run/hbd/metrics.sock\n"
            "logformat json\n")
    settings, problems = parse_hbdcf(text)
    assert problems == []
    assert settings.quorum is True and settings.arp_probe is False
    assert settings.arp_probe_wait == 0.02 and settings.fence_delay == 2.0
    assert settings.on_stop_failure is StopFailure.FENCE
    assert settings.notify == (Notify(("/usr/local/sbin/page", "--team", "ha,db"), 6),
                               Notify(("/bin/logger",), 7))
    assert settings.notify_timeout == 0.5
    assert settings.metrics == UnixEndpoint("/run/hbd/metrics.sock")
    assert settings.logformat is LogFormat.JSON
    assert settings.line_of("notify") == 6 and settings.line_of("quorum") == 1


def test_every_directive_has_an_example_that_parses() -> None:
    for name, directive in HBD_DIRECTIVES.items():
        _, problems = parse_hbdcf(directive.example + "\n")
        assert problems == [], name


@pytest.mark.parametrize("text, fragment", [
    ("quorom on\n", "unknown hbd.cf directive 'quorom'; did you mean 'quorum'?"),
    ("keepalive 2\n", "'keepalive' is a heartbeat directive: it belongs in ha.cf"),
    ("quorum maybe\n", "quorum: 'maybe' is not a boolean"),
    ("quorum on off\n", "quorum takes one value, got 2"),
    ("arp_probe_wait 5s\n", "a bare number is already seconds: write 5"),
    ("arp_probe_wait 20\n", "out of range"),
    ("on_stop_failure rebot\n", "did you mean 'reboot'?"),
    ("notify page-oncall\n", "notify needs an absolute program path"),
    ("metrics 9694\n", "is not off, HOST:PORT or unix:PATH"),
    ("metrics unix:relative.sock\n", "write unix:/ABSOLUTE/PATH"),
    ("metrics [::zz]:9694\n", "is not an IPv6 address"),
    ("metrics 127.0.0.1:70000\n", "metrics port 70000 is out of range"),
    ("logformat yaml\n", "write one of: text, json"),
    ("fence_delay\n", "fence_delay needs a value"),
])
def test_mistakes_are_errors_naming_the_line(text: str, fragment: str) -> None:
    _, problems = parse_hbdcf("# hbd.cf\n" + text, "hbd.cf",
                              heartbeat_directives=frozenset(HACF_DIRECTIVES))
    assert any(fragment in m for m in errors(problems)), problems
    assert all(p.line == 2 for p in problems)


def test_a_repeated_setting_keeps_the_last_value_with_a_warning() -> None:
    settings, problems = parse_hbdcf("logformat json\nlogformat text\n")
    assert settings.logformat is LogFormat.TEXT
    assert "also set on line 1" in warnings(problems)[0]


@pytest.mark.parametrize("text, endpoint", [
    ("off", None), ("127.0.0.1:9694", TcpEndpoint("127.0.0.1", 9694)),
    ("localhost:9694", TcpEndpoint("localhost", 9694)), ("[::1]:9694", TcpEndpoint("::1", 9694)),
    ("unix:/run/hbd/m.sock", UnixEndpoint("/run/hbd/m.sock")),
])
def test_metrics_endpoints(text: str, endpoint: object) -> None:
    assert metrics_endpoint(text) == (endpoint, None)


def test_metrics_beyond_this_host_is_a_warning() -> None:
    settings, problems = parse_hbdcf("metrics 0.0.0.0:9694\n")
    assert settings.metrics == TcpEndpoint("0.0.0.0", 9694)
    assert "listens beyond this host" in warnings(problems)[0]


def test_an_hbd_setting_in_ha_cf_says_to_move_it() -> None:
    _, problems = parse_hacf("node a\nbcast eth0\nauto_failback on\nquorum on\n")
    assert "'quorum' is an hbd setting" in errors(problems)[0] and "hbd.cf" in errors(problems)[0]


def test_parsing_stops_after_the_error_cap() -> None:
    _, problems = parse_hbdcf("bogus\n" * 10_000)
    assert len(problems) == 21 and problems[-1].message.startswith("... and more errors")


REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_example_parses_and_shows_the_defaults() -> None:
    text = (REPO / "conf" / "hbd.cf.example").read_text()
    assert parse_hbdcf(text) == (HbdSettings(source="hbd.cf"), [])
    uncommented = "\n".join(line[1:] if line.startswith("#") and not line.startswith("# ")
                            and line.strip() != "#" else line for line in text.splitlines())
    settings, problems = parse_hbdcf(uncommented)
    assert [p for p in problems if p.severity is Severity.ERROR] == []
    defaults = HbdSettings()
    for name in ("quorum", "arp_probe", "arp_probe_wait", "on_stop_failure", "notify_timeout",
                 "logformat"):
        assert getattr(settings, name) == getattr(defaults, name), name
    assert set(settings.line_of(name) is not None for name in HBD_DIRECTIVES) == {True}


def test_the_documentation_lists_every_directive() -> None:
    doc = (REPO / "docs" / "hbd.cf.md").read_text()
    for name in HBD_DIRECTIVES:
        assert f"| `{name}` |" in doc, name

"""haresources parsing: groups, order, shorthand, native resources, line numbers."""

from __future__ import annotations

import pytest

from hbd.config.haresources import NATIVE_RESOURCES, parse_haresources, parse_resource
from hbd.config.model import Resource, Severity

NODES = ("node0", "node1", "node2")


def parse(text: str, nodes: tuple[str, ...] | None = NODES):
    return parse_haresources(text, "haresources", nodes)


def test_groups_in_order_with_start_and_stop_order() -> None:
    groups, problems = parse("node0 IPaddr::10.0.0.5/24/eth0 Filesystem::/dev/sdb1::/data::ext3 httpd\n"
                             "NODE2 10.0.0.6\n")
    assert problems == []
    first, second = groups
    assert (first.primary, first.key, first.line) == ("node0", "IPaddr::10.0.0.5/24/eth0", 1)
    assert [r.name for r in first.start_order()] == ["IPaddr", "Filesystem", "httpd"]
    assert [r.name for r in first.stop_order()] == ["httpd", "Filesystem", "IPaddr"]
    assert first.resources[1] == Resource("Filesystem", ("/dev/sdb1", "/data", "ext3"))
    assert second.primary == "node2" and second.key == "IPaddr::10.0.0.6"


def test_backslash_continuation_reports_the_first_line() -> None:
    groups, problems = parse("# c\nnode0 IPaddr::10.0.0.5 \\\n   httpd \\\n  Hostname::bad_name\n")
    assert len(problems) == 1 and problems[0].line == 2
    assert "RFC 1123" in problems[0].message and groups == ()
    groups, problems = parse("node0 IPaddr::10.0.0.5 \\\n   httpd\nnode1 10.0.0.7\n")
    assert problems == [] and [g.line for g in groups] == [1, 3]
    assert [r.name for r in groups[0].resources] == ["IPaddr", "httpd"]


def test_blanks_after_backslash_warn() -> None:
    _, problems = parse("node0 10.0.0.5 \\  \nnode1 10.0.0.6\n")
    assert problems[0].severity is Severity.WARNING and "after the final backslash" in problems[0].message


def test_comments_start_at_a_word() -> None:
    groups, problems = parse("node0 svc::a#b # trailing comment\n   # indented comment\n")
    assert problems == [] and groups[0].resources[0].args == ("a#b",)


def test_undeclared_node_is_an_error_naming_the_line() -> None:
    _, problems = parse("\n\nnode-name network  <resource-group>\n")
    assert problems[0].line == 3 and problems[0].severity is Severity.ERROR
    assert "'node-name' is not a node declared in ha.cf (declared: node0, node1, node2)" in problems[0].message


def test_without_node_list_any_node_is_accepted() -> None:
    groups, problems = parse("nodeX 10.0.0.5\n", nodes=None)
    assert problems == [] and groups[0].primary == "nodex"


def test_duplicate_key_and_empty_group_are_errors() -> None:
    _, problems = parse("node0 10.0.0.5 a\nnode1 10.0.0.5\nnode2\n")
    assert [p.line for p in problems] == [2, 3]
    assert "already used by the group on line 1" in problems[0].message
    assert "node2 has no resources" in problems[1].message


def test_native_resource_list() -> None:
    assert set(NATIVE_RESOURCES) == {"IPaddr", "IPaddr2", "MacAddr", "Hostname", "DefaultRoute"}


@pytest.mark.parametrize("word", [
    "IPaddr::192.168.32.21", "IPaddr::192.168.32.21/24", "IPaddr::192.168.32.21/24/eth0",
    "IPaddr::192.168.32.21/24/eth0/192.168.32.255", "IPaddr::192.168.60.200/24/eth0/",
    "IPaddr::10.0.0.1/8/10.255.255.255", "IPaddr2::10.0.0.1/32/lo", "MacAddr::eth0::00:1E:68:1E:99:5E",
    "Hostname::nodevir", "Hostname::node-vir.example.com", "DefaultRoute::192.168.32.254",
    "192.168.32.21/24/eth0", "Remac1", "Filesystem::/dev/sdb5::/webdata::ext3",
])
def test_valid_resources(word: str) -> None:
    resource, problem = parse_resource(word)
    assert problem is None and resource is not None


@pytest.mark.parametrize("word, fragment", [
    ("IPaddr::10.0.0.256", "is not an IPv4 address"),
    ("IPaddr::10.0.0.1/33", "prefix length 33 is out of range"),
    ("IPaddr::10.0.0.1/255.255.255.0", "must be a prefix length"),
    ("IPaddr::10.0.0.1/24/eth0:1", "is not valid"),
    ("IPaddr::10.0.0.1/24/eth0/10.0.0.256", "broadcast address"),
    ("IPaddr::10.0.0.1/24/eth0/10.0.0.255/x", "too many '/' parts"),
    ("IPaddr::10.0.0.1::x", "takes one argument"),
    ("IPaddr", "takes one argument"),
    ("MacAddr::eth0", "takes two arguments"),
    ("MacAddr::eth0::00:1E:68:1E:99", "is not a MAC address"),
    ("MacAddr::eth0::01:00:5E:00:00:01", "multicast"),
    ("MacAddr::eth0::00:00:00:00:00:00", "cannot be assigned"),
    ("Hostname::-bad", "RFC 1123"), ("Hostname::" + "a" * 65, "1 to 64 characters"),
    ("Hostname::under_score", "RFC 1123"), ("DefaultRoute::gateway", "gateway 'gateway'"),
    ("10.0.0.300", "IPaddr address '10.0.0.300'"),
    ("::x", "has no name"), ("/etc/init.d/httpd", "is a path"),
])
def test_invalid_resources(word: str, fragment: str) -> None:
    resource, problem = parse_resource(word)
    assert resource is None and problem is not None and fragment in problem


def test_bare_ip_means_ipaddr() -> None:
    resource, _ = parse_resource("10.0.0.5/24/eth0")
    assert resource == Resource("IPaddr", ("10.0.0.5/24/eth0",))
    assert resource.spec == "IPaddr::10.0.0.5/24/eth0"


def test_no_break_spaces_warn_once() -> None:
    groups, problems = parse("node0 Remac1 \u00a0 \u00a0\nnode2\u00a0Remac2\n")
    assert [g.key for g in groups] == ["Remac1", "Remac2"]
    assert len(problems) == 1 and problems[0].severity is Severity.WARNING

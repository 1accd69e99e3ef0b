"""hbd.control.hbapi: heartbeat 3.0.6's API view, rebuilt from a status document and
ha.cf (pure). The values are those Debian's heartbeat answered in the lab for the
same files (tests/netns/test_hbtools.py compares them live)."""

from __future__ import annotations

import pytest

from hbd.config.hacf import parse_hacf
from hbd.config.model import ClusterConfig
from hbd.control import hbapi
from hbd.statusdoc import status_document
from tests.cli import EXTRA, sample_config, sample_status


def hacf(text: str):
    parsed, _ = parse_hacf(text)
    return parsed


MINIMAL = "node a\nnode b\nbcast eth0\n"


@pytest.mark.parametrize("text, name, value", [
    (MINIMAL, "keepalive", "1000ms"),                   # heartbeat's defaults
    (MINIMAL, "deadtime", "30000ms"),
    (MINIMAL, "warntime", "15000ms"),                   # computed from deadtime
    (MINIMAL, "deadping", "30000ms"),
    (MINIMAL, "initdead", "30000ms"),
    ("deadtime 8\n" + MINIMAL, "initdead", "16000ms"),
    ("deadtime 2\n" + MINIMAL, "initdead", "12000ms"),
    ("deadtime 2\n" + MINIMAL, "warntime", "1000ms"),
    ("deadtime 2\nwarntime 1500ms\n" + MINIMAL, "warntime", "1500ms"),   # as written
    ("keepalive 1\nkeepalive 200ms\n" + MINIMAL, "keepalive", "200ms"),  # the last line wins
    (MINIMAL, "udpport", "694"),
    (MINIMAL, "debug", "0"),
    (MINIMAL, "auto_failback", "legacy"),
    ("auto_failback on\n" + MINIMAL, "auto_failback", "on"),
    (MINIMAL, "crm", "false"),
    ("crm no\n" + MINIMAL, "pacemaker", "no"),          # heartbeat keeps it equal to crm
    (MINIMAL, "use_logd", "yes"),                       # no logging configured: logd
    ("logfacility none\n" + MINIMAL, "use_logd", "yes"),
    ("logfile /var/log/ha-log\n" + MINIMAL, "use_logd", None),
    ("logfile /var/log/ha-log\n" + MINIMAL, "logfile", "/var/log/ha-log"),
    ("logfacility local0\n" + MINIMAL, "logfacility", "local0"),
    (MINIMAL, "logfile", None),
    (MINIMAL, "watchdog", None),
    (MINIMAL, "memreserve", "6500"),
    (MINIMAL, "max_rexmit_delay", "250"),
    (MINIMAL, "node", None),                            # never parameters
    (MINIMAL, "bcast", None),
    ("apiauth hbctl uid=root\n" + MINIMAL, "apiauth", None),
    (MINIMAL, "KEEPALIVE", None),                       # names are case-sensitive
])
def test_parameters_as_heartbeat_records_them(text, name, value):
    assert hbapi.parameter(hacf(text), name) == value


def test_hbversion_names_heartbeats_protocol_and_hbd():
    from hbd import __version__
    assert hbapi.parameter(hacf(MINIMAL), "hbversion") == f"3.0.6 (hbd {__version__})"


def test_node_order_is_the_reverse_of_hacf_with_pings_interleaved():
    text = ("node node2\nping 10.0.0.1 10.0.0.2\nnode NODE1 node3\n"
            "ping_group GRP 10.0.0.3 10.0.0.4\nnode node0\nbcast eth0\n")
    assert hbapi.node_order(hacf(text)) == ["node0", "grp", "node3", "node1", "10.0.0.2",
                                            "10.0.0.1", "node2"]


def test_api_nodes_of_the_sample():
    doc = status_document(sample_status(), extra=EXTRA)
    nodes = hbapi.api_nodes(doc, sample_config())
    assert [(n["name"], n["type"], n["status"], n["links"]) for n in nodes] == [
        ("10.0.0.254", "ping", "ping", {"10.0.0.254": "up"}),
        ("node1", "normal", "active", {"eth0": "up", "eth2": "dead"}),
        ("node0", "normal", "active", {"eth0": "up", "eth2": "up"}),
    ]
    assert {(n["weight"], n["site"]) for n in nodes} == {(100, "")}


@pytest.mark.parametrize("media, own", [
    ("bcast eth2\n", {"eth2": "up"}),
    ("mcast eth2 225.0.0.1 694 1 0\n", {"eth2": "dead"}),         # no loop: deaf to itself
    ("mcast eth2 225.0.0.1 694 1 1\n", {"eth2": "up"}),
    ("mcast eth2 225.0.0.1 694 1 0\nbcast eth2\n", {"eth2": "up"}),  # merged by name
    ("ucast eth2 10.0.0.1\nucast eth2 10.0.0.2\nbcast eth3\n", {"eth2": "up", "eth3": "up"}),
])
def test_own_links_follow_whether_the_medium_hears_itself(media, own):
    config = ClusterConfig("node0", hacf("node node0\nnode node1\n" + media))
    doc = status_document(sample_status())
    nodes = {n["name"]: n for n in hbapi.api_nodes(doc, config)}
    assert nodes["node0"]["links"] == own


def test_peer_links_follow_the_media_order_and_unheard_ones_are_dead():
    config = ClusterConfig("node0", hacf("node node0\nnode node1\nbcast eth2 eth0 eth9\n"))
    nodes = {n["name"]: n for n in hbapi.api_nodes(status_document(sample_status()), config)}
    assert list(nodes["node1"]["links"].items()) == [("eth2", "dead"), ("eth0", "up"),
                                                     ("eth9", "dead")]


def test_heartbeat_nodes_carries_what_cl_status_needs():
    data = hbapi.heartbeat_nodes(status_document(sample_status()), sample_config())
    assert {k: v for k, v in data.items() if k != "nodes"} == {
        "node": "node0", "rscstatus": "local", "hbversion": hbapi.hbversion(),
        "keepalive_ms": 200, "deadtime_ms": 2000}

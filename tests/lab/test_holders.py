"""The holders sampler (10 ms, every node) and what the drills read from it."""

from __future__ import annotations

import json
import subprocess
import sys

from hbd_lab import holders
from hbd_lab.cluster import wait_for
from hbd_lab.netns import NETNS_DIR

VIP = "192.168.32.21"
LINES = [  # node0 holds it, node1 joins (two holders), node0 lets go, the end
    {"t": 10.0, "n": 0, "holders": {VIP: ["node0"]}},
    {"t": 11.0, "n": 100, "holders": {VIP: ["node1", "node0"]}},
    {"t": 11.5, "n": 150, "holders": {VIP: ["node1"]}},
    {"t": 13.0, "n": 300, "end": True},
]


def states():
    return holders.parse([json.dumps(x) for x in LINES] + ["not json", '{"t": 1}'])


def test_spans_are_the_states_between_records_clipped_to_the_window():
    spans = holders.spans(states(), VIP)
    assert [(s.start, s.end, s.holders, s.samples) for s in spans] == [
        (10.0, 11.0, ("node0",), 100), (11.0, 11.5, ("node0", "node1"), 50),
        (11.5, 13.0, ("node1",), 150)]
    clipped = holders.spans(states(), VIP, 10.5, 12.0)
    assert [(s.start, s.end) for s in clipped] == [(10.5, 11.0), (11.0, 11.5), (11.5, 12.0)]


def test_two_holders_moves_and_holders_at():
    assert holders.not_one(states(), VIP, 0, 99) == (0.5, 50)
    assert holders.not_one(states(), "192.168.32.22", 0, 99, count=None) == (3.0, 300)
    assert holders.moves(states(), VIP, 0, 99) == [
        (11.0, ("node0",), ("node0", "node1")), (11.5, ("node0", "node1"), ("node1",))]
    assert holders.moves(states(), VIP, 11.2, 99) == [(11.5, ("node0", "node1"), ("node1",))]
    assert holders.holders_at(states(), VIP, 11.2) == ("node0", "node1")
    assert holders.holders_at(states(), VIP, 9.0) is None


def test_sampler_sees_an_address_appear_on_a_second_node_within_a_few_samples(topology,
                                                                              tmp_path):
    for name in ("a", "b"):
        topology.add_node(name, uts=False)
    topology.nodes["a"].ip("addr", "add", f"{VIP}/32", "dev", "lo")
    out = tmp_path / "holders.jsonl"
    nodes = [arg for name in ("a", "b")
             for arg in ("--node", f"{name}={NETNS_DIR}/{topology.nodes[name].name}")]
    proc = subprocess.Popen([sys.executable, "-m", "hbd_lab.sampler", *nodes, "--vip", VIP,
                             "--duration", "30", "--out", str(out)])
    try:
        first = wait_for(lambda: holders.read(str(out)), timeout=10, what="a first sample")
        assert first[0].holders == {VIP: ("a",)}
        topology.nodes["b"].ip("addr", "add", f"{VIP}/32", "dev", "lo")
        wait_for(lambda: len(holders.read(str(out))) >= 2, timeout=5, what="the change")
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    records = holders.read(str(out))
    assert [s.holders for s in records] == [{VIP: ("a",)}, {VIP: ("a", "b")}, None]
    assert records[-1].n > records[1].n > 0          # it went on sampling, and counted

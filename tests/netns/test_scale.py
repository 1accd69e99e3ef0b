"""bench/scale.py and bench/soak.py, CI-sized (root, network namespaces, ~1 min each).

* Scale: 8 hbd nodes on one heartbeat LAN, 3 groups (primaries n00..n02, the
  rest standbys), keepalive 200 ms / deadtime 1 s, 30 s idle, then n00
  SIGKILLed: nobody is declared dead while idle, and n00's group starts
  exactly once, on the first standby (n03), which alone holds its address
  afterwards; nobody else is declared dead; `hbd restore` on n00 succeeds.
* Soak at the edge: the scenario's lab at keepalive 10 ms / deadtime 50 ms
  (without its ping node) with 5 % loss on the heartbeat LAN for 30 s: the
  loss really happens on every node, each VIP is answered by its primary
  only, and the standby never runs a resource operation. Deaths and late
  heartbeats at these timings depend on how loaded the machine is: they are
  figures for bench/soak.py, not asserted here.
"""

from __future__ import annotations

from bench import scale, soak
from hbd_lab.scenario import VIPS
from tests.netns.conftest import require_netns, unique_prefix


def test_eight_nodes_idle_then_one_primary_killed():
    require_netns()
    setting = scale.Setting(nodes=8, groups=3, keepalive_ms=200, deadtime_ms=1000)
    result = scale.run_one(setting, 0.5, unique_prefix(), cost=False, progress=print)
    print("\n".join(scale.table(result)))
    assert result.error is None
    assert result.unsettled is None
    assert not result.exited
    assert result.false_deaths == []
    assert result.pps_sent > 0 and result.cpu_pct and result.rss_mb   # it measured
    kill = result.kill
    assert kill is not None
    assert (kill.victim, kill.taker) == ("n00", "n03")
    assert kill.up_s is not None                   # the address came up on n03
    assert kill.start_nodes == ["n03"]             # one start, across all logs
    assert kill.holders == ["n03"]
    assert kill.other_deaths == []
    assert kill.restore == 0


def test_soak_at_the_edge_is_safe():
    require_netns()
    result = soak.run(0.5, 10, 50, 5, ping=False, prefix=unique_prefix(), progress=print)
    print("\n".join(soak.table(result)))
    assert result.error is None
    assert set(result.nodes) == {"node0", "node1", "node2"}
    assert all(f.dropped > 0 for f in result.nodes.values())     # the loss happened
    for primary, (vip, _, _) in VIPS.items():
        assert result.vips[vip][1] == [primary]
    assert result.nodes["node1"].resource_ops == 0

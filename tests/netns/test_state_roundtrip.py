"""Round trip of the state dir with Debian's heartbeat 3.0.6 (issue 11), root only.

A node that ran heartbeat becomes an hbd node and goes back: heartbeat must then
announce a generation above every one hbd announced, with the same UUID, or its
peers drop it as a replay. hbd's side is `hbd.state.StateDir` (what the daemon
does at each start: adopt heartbeat's identity the first time, save generation + 1
before announcing it); heartbeat's side is the real daemon, started on the lab
node with that /var/lib/heartbeat, and seen by an hbd peer on the wire (`hg`).
"""

from __future__ import annotations

import pytest

from hbd_lab.cluster import render_authkeys, render_hacf, scenario_template, wait_for
from hbd_lab.heartbeat import HeartbeatDaemon, unavailable
from hbd.state import StateDir, generation_bytes

pytestmark = pytest.mark.skipif(unavailable() is not None,
                                reason=f"heartbeat 3.0.6 unavailable: {unavailable()}")

FAST = {"keepalive": "200ms", "deadtime": "2", "warntime": "1", "initdead": "4",
        "deadping": "2"}


def seen(lab, observer: str, node: str) -> tuple[str, int] | None:
    """(status, generation) of `node` as `observer`'s hbd reports it."""
    doc = lab[observer].status()
    for entry in (doc or {}).get("nodes", []):
        if entry["name"] == node:
            return entry["status"], entry["generation"]
    return None


def test_heartbeat_rejoins_above_every_generation_hbd_announced(make_lab, tmp_path):
    lab = make_lab(("node0", "node1"), extras=("gw",))   # gw answers ha.cf's ping node
    hb = HeartbeatDaemon(lab["node1"])
    hacf = render_hacf(scenario_template("node0")[0], timings=FAST, media=["bcast eth2"])
    # two nodes: no node2 for heartbeat to declare dead and take over from
    hacf = "".join(line + "\n" for line in hacf.splitlines() if line.split()[:2] != ["node", "node2"])
    keys = render_authkeys("sha1")
    lab["node0"].install(hacf, "", keys)
    hb.install(hacf, "", keys)
    try:
        lab["node0"].start()
        # 1. node1 runs heartbeat: it makes its UUID and its first generation
        hb.start()
        first = int((hb.lib_dir / "hb_generation").read_bytes())
        assert (hb.lib_dir / "hb_generation").read_bytes() == generation_bytes(first)
        uuid = (hb.lib_dir / "hb_uuid").read_bytes()
        wait_for(lambda: seen(lab, "node0", "node1") == ("active", first), timeout=20,
                 what=f"node0 to see heartbeat's node1 active in generation {first}")
        # a stop during resource activity is delayed by heartbeat until it is over
        wait_for(lambda: hb.rscstatus() not in (None, "transition"), timeout=20,
                 what="heartbeat's resources to settle")
        assert hb.stop() == 0

        # 2. node1 becomes hbd with the same /var/lib/heartbeat and starts three times
        state = StateDir(str(tmp_path / "hbd-state"), heartbeat_dir=str(hb.lib_dir))
        state.prepare()
        assert (state.uuid(), state.generation()) == (uuid, first)     # adopted
        for _ in range(3):
            state.save_generation(state.generation() + 1)             # as each start does
        last = first + 3
        assert (hb.lib_dir / "hb_generation").read_bytes() == generation_bytes(last)

        # 3. rolled back: heartbeat reads what hbd kept and announces the next one
        hb.start()
        assert (hb.lib_dir / "hb_uuid").read_bytes() == uuid
        assert int((hb.lib_dir / "hb_generation").read_bytes()) == last + 1
        wait_for(lambda: seen(lab, "node0", "node1") == ("active", last + 1), timeout=20,
                 what=f"node0 to see heartbeat's node1 active in generation {last + 1}")
    finally:
        hb.kill()
        tail = (hb.console_text() + hb.log_text())[-3000:]
        if tail:
            print(f"===== node1 heartbeat log (tail) =====\n{tail}")

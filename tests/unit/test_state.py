"""The state dir: node name fixed at first start, generation and UUID (hbd/state.py)."""

from __future__ import annotations

import pytest

from hbd.state import StateDir, StateError


def make(tmp_path, heartbeat=None):
    state = StateDir(str(tmp_path / "hbd"), heartbeat_dir=str(heartbeat or tmp_path / "none"))
    state.prepare()
    return state


def test_node_name_is_fixed_at_first_start(tmp_path):
    state = make(tmp_path)
    assert state.node_name(None, "node1") == "node1"
    assert state.node_name(None, "node7") == "node7"          # not kept until accepted
    state.keep_node_name("node1")
    # later the hostname became "nodevir" (a takeover): the node is still node1
    assert state.node_name(None, "nodevir") == "node1"
    assert state.node_name("Node2", "nodevir") == "node2"     # --node wins
    state.keep_node_name("node2")
    assert state.node_name(None, "x") == "node2"


def test_generation_round_trips_in_heartbeats_format(tmp_path):
    state = make(tmp_path)
    assert state.generation() == 0
    state.save_generation(42)
    assert (tmp_path / "hbd" / "hb_generation").read_bytes() == b"42".rjust(15) + b"\n"
    assert state.generation() == 42


def test_heartbeat_generation_and_uuid_are_adopted_on_first_start(tmp_path):
    hb = tmp_path / "heartbeat"
    hb.mkdir()
    (hb / "hb_generation").write_bytes(b"17".rjust(15) + b"\n")
    (hb / "hb_uuid").write_bytes(bytes(range(16)))
    state = make(tmp_path, hb)
    assert state.generation() == 17
    assert state.uuid() == bytes(range(16))
    assert (tmp_path / "hbd" / "hb_uuid").read_bytes() == bytes(range(16))


def test_uuid_is_created_once(tmp_path):
    state = make(tmp_path)
    first = state.uuid()
    assert len(first) == 16 and state.uuid() == first


def test_corrupt_generation_is_a_clear_error(tmp_path):
    state = make(tmp_path)
    (tmp_path / "hbd" / "hb_generation").write_bytes(b"banana\n")
    with pytest.raises(StateError, match="hb_generation: not a generation number"):
        state.generation()


def test_a_second_daemon_on_the_same_state_dir_is_refused(tmp_path):
    import subprocess
    import sys
    first = make(tmp_path)
    first.lock()
    code = ("import sys; from hbd.state import StateDir, StateError\n"
            f"s = StateDir({str(tmp_path / 'hbd')!r})\n"
            "try:\n    s.lock()\nexcept StateError as e:\n    print(e); sys.exit(1)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert proc.returncode == 1 and "another hbd" in proc.stdout

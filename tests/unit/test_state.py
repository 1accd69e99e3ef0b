"""The state dir (hbd/state.py): node name fixed at first start, generation and UUID,
heartbeat's state dir kept current, peers' generations, checked durable writes."""

from __future__ import annotations

import json
import os

import pytest

from hbd.state import StateDir, StateError, generation_bytes


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
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20,
                          check=False)
    assert proc.returncode == 1 and "another hbd" in proc.stdout


# --- durable writes -------------------------------------------------------------------

def test_a_short_write_is_an_error_and_keeps_the_old_file(tmp_path):
    """RLIMIT_FSIZE makes write(2) stop at the limit and return a short count (in a
    child process: the limit is the whole process's)."""
    import subprocess
    import sys
    target = tmp_path / "hb_generation"
    target.write_bytes(b"old\n")
    code = ("import resource, sys\nfrom hbd.state import write_atomic\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (10, 10))\n"
            "try:\n"
            f"    write_atomic({str(target)!r}, b'x' * 100)\n"
            "except OSError as e:\n    print(e); sys.exit(3)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          timeout=20)
    assert proc.returncode == 3, proc.stderr
    assert "short write" in proc.stdout and "10 of 100 bytes" in proc.stdout
    assert target.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hb_generation"]   # no tmp left


def test_write_atomic_sets_the_mode_it_is_given(tmp_path):
    from hbd.state import write_atomic
    old = os.umask(0o077)
    try:
        write_atomic(str(tmp_path / "f"), b"x", mode=0o644)
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


# --- heartbeat's state dir: the round trip (issue 11) ------------------------------------

def heartbeat_dir(tmp_path, uuid=bytes(range(16)), generation=17, mode=0o600):
    hb = tmp_path / "heartbeat"
    hb.mkdir()
    if generation is not None:
        (hb / "hb_generation").write_bytes(generation_bytes(generation))
        (hb / "hb_generation").chmod(mode)
    if uuid is not None:
        (hb / "hb_uuid").write_bytes(uuid)
    return hb


def test_an_adopted_heartbeat_dir_is_kept_current(tmp_path):
    hb = heartbeat_dir(tmp_path)
    state = make(tmp_path, hb)
    assert (state.generation(), state.uuid()) == (17, bytes(range(16)))
    assert state.heartbeat_paired()
    state.save_generation(18)
    for directory in (tmp_path / "hbd", hb):
        assert (directory / "hb_generation").read_bytes() == b"18".rjust(15) + b"\n"
    # heartbeat's file keeps its mode (and owner)
    assert (hb / "hb_generation").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in hb.iterdir()) == ["hb_generation", "hb_uuid"]


def test_a_generation_heartbeat_saved_later_wins(tmp_path):
    """Rolled back to heartbeat (which restarted twice), then upgraded again."""
    hb = heartbeat_dir(tmp_path)
    state = make(tmp_path, hb)
    state.uuid()
    state.save_generation(18)
    (hb / "hb_generation").write_bytes(generation_bytes(20))
    assert state.generation() == 20
    (hb / "hb_generation").write_bytes(generation_bytes(5))      # lower: ours stands
    assert state.generation() == 18


@pytest.mark.parametrize("their_uuid", [None, bytes(range(1, 17))])
def test_a_heartbeat_dir_of_no_one_or_someone_else_is_never_written(tmp_path, their_uuid):
    """No UUID there (the lab: one host, many hbd nodes), or another one (hbd had its
    own identity first): neither claimed nor written; its generation not taken."""
    hb = heartbeat_dir(tmp_path, uuid=their_uuid, generation=40)
    ours = tmp_path / "hbd"
    ours.mkdir()
    (ours / "hb_uuid").write_bytes(bytes(range(100, 116)))
    (ours / "hb_generation").write_bytes(generation_bytes(3))
    state = make(tmp_path, hb)
    assert not state.heartbeat_paired() and state.generation() == 3
    state.save_generation(4)
    assert (hb / "hb_generation").read_bytes() == generation_bytes(40)
    assert ((hb / "hb_uuid").read_bytes() if their_uuid else None) == their_uuid


def test_a_missing_heartbeat_dir_is_fine(tmp_path):
    state = make(tmp_path, tmp_path / "nothing")
    state.uuid()
    state.save_generation(1)
    assert not (tmp_path / "nothing").exists()


# --- peers' generations -------------------------------------------------------------------

def test_peer_generations_round_trip(tmp_path):
    state = make(tmp_path)
    assert state.load_peer_generations() == {}
    state.save_peer_generations({"node2": 7, "node0": 2**64 - 1})
    assert state.load_peer_generations() == {"node0": 2**64 - 1, "node2": 7}
    assert (tmp_path / "hbd" / "peers.json").stat().st_mode & 0o777 == 0o600
    state.save_peer_generations({})
    assert state.load_peer_generations() == {}


@pytest.mark.parametrize("peers, problem", [
    ({f"n{i}": 1 for i in range(257)}, "257 peers, more than 256"),
    ({"x" * 101: 1}, "bad node name"),
    ({"": 1}, "bad node name"),
    ({"node 1": 1}, "bad node name"),
    ({"node1": -1}, "bad generation -1"),
    ({"node1": 2**64}, "bad generation"),
    ({"node1": True}, "bad generation True"),
])
def test_peer_generations_are_bounded(tmp_path, peers, problem):
    state = make(tmp_path)
    with pytest.raises(ValueError, match=problem):
        state.save_peer_generations(peers)
    # and a file holding them (written by hand) is refused on load
    (tmp_path / "hbd" / "peers.json").write_text(json.dumps({"version": 1, "peers": peers}))
    with pytest.raises(StateError, match=problem):
        state.load_peer_generations()


@pytest.mark.parametrize("text, problem", [
    ("not json", "not JSON"),
    ('{"version": 2, "peers": {}}', "not a version 1 peers file"),
    ('["node0", 1]', "not a version 1 peers file"),
])
def test_a_corrupt_peers_file_is_a_clear_error(tmp_path, text, problem):
    state = make(tmp_path)
    (tmp_path / "hbd" / "peers.json").write_text(text)
    with pytest.raises(StateError, match=f"peers.json: {problem}"):
        state.load_peer_generations()

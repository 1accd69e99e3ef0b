"""hbctl against a real ControlServer serving a fixed ClusterStatus.

`hbctl(...)` runs `hbd.cli.main` in a worker thread (it blocks on its socket)
while this test's event loop serves the request; stdout and stderr come from
capsys. Exit statuses: 0 ok, 1 failure, 2 usage, 3 not running, 4 not authorised.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from hbd import cli
from hbd.config.model import ApiAuth
from hbd.control import Authorizer, NotAuthorised, Request, RequestFailed
from hbd.core.events import AdminRequested, AdminVerb, GroupSet
from hbd.core.status import NodeStatus
from hbd.statusdoc import (GROUP_KEYS, NODE_KEYS, NOT_RUNNING_KEYS, SCHEMA, TOP_KEYS,
                           status_document)
from tests.cli import EXTRA, NOBODY, FakeDaemon, run_forked, sample_status, serving

STATUS_TEXT = """\
Node node0: active, holding its local resources (rscstatus local)
Communication up, generation 7
Daemon: hbd 0.1.0, pid 4242, up 3600 s, config /etc/ha.d
Nodes:
  node0       active  (normal)  this node; holds web
  node1       active  (normal)  eth0 up, eth2 dead; holds db
  10.0.0.254  ping    (ping)
Groups:
  web  held by node0  (primary node0; started here)
  db   held by node1  (primary node1; stopped here)
"""


@pytest.fixture
def run_dir(tmp_path):
    return tmp_path


@pytest.fixture
async def daemon(run_dir):
    fake = FakeDaemon()
    async with serving(str(run_dir / "hbd.sock"), fake):
        yield fake


async def hbctl(capsys, run_dir, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = await asyncio.to_thread(cli.main, ["--run-dir", str(run_dir), *argv])
    out, err = capsys.readouterr()
    return rc, out, err


# --- reading ------------------------------------------------------------------------------------

async def test_status_text_summarises_nodes_links_and_groups(capsys, run_dir, daemon):
    assert await hbctl(capsys, run_dir, "status") == (0, STATUS_TEXT, "")
    assert [r.verb for r in daemon.requests] == ["status"]


async def test_status_text_mentions_standby_and_shutdown(capsys, run_dir):
    status = replace(sample_status(), standby="foreign", shutting_down=True, comm_up=False,
                     rscstatus="transition", groups=())
    async with serving(str(run_dir / "hbd.sock"), FakeDaemon(status)):
        rc, out, _ = await hbctl(capsys, run_dir, "status")
    assert rc == 0
    assert out.splitlines()[:2] == [
        "Node node0: active, resources in transition (rscstatus transition)",
        "Communication not up yet, generation 7, standby foreign, shutting down"]
    assert out.endswith("Groups:\n  (none)\n")


async def test_status_json_is_the_schema_1_document(capsys, run_dir, daemon):
    rc, out, err = await hbctl(capsys, run_dir, "status", "--json")
    doc = json.loads(out)
    assert (rc, err) == (0, "")
    assert tuple(doc) == TOP_KEYS and doc["schema"] == SCHEMA == 1
    assert all(tuple(node) == NODE_KEYS for node in doc["nodes"])
    assert all(tuple(group) == GROUP_KEYS for group in doc["groups"])
    assert doc == status_document(sample_status(), extra=EXTRA)


def test_status_document_uses_heartbeats_words():
    doc = status_document(sample_status(), extra={"pid": 1})
    assert doc["status"] == "active" and doc["rscstatus"] == "local"
    assert doc["nodes"][1] == {"name": "node1", "type": "normal", "status": "active",
                               "links": {"eth0": "up", "eth2": "dead"}, "generation": 3,
                               "holds": ["db"], "standby": "none", "pings": 1, "is_hbd": True}
    assert doc["nodes"][2]["status"] == "ping"
    assert doc["groups"][0] == {"key": "web", "primary": "node0", "state": "started",
                                "holder": "node0", "desired": "node0", "backups": ["node1"]}
    assert doc["counters"] == {"packets_bad": 2, "packets_in": 120}
    assert doc["daemon"] == {"pid": 1}
    assert status_document(sample_status())["daemon"] == {}
    json.dumps(doc)   # plain JSON data all the way down


async def test_nodes_text_one_line_per_node(capsys, run_dir, daemon):
    assert await hbctl(capsys, run_dir, "nodes") == (0, (
        "node0       active  (normal)\n"
        "node1       active  (normal)\n"
        "10.0.0.254  ping    (ping)\n"), "")


async def test_nodes_and_resources_json_are_slices(capsys, run_dir, daemon):
    doc = status_document(sample_status(), extra=EXTRA)
    _, out, _ = await hbctl(capsys, run_dir, "nodes", "--json")
    assert json.loads(out) == {"node": "node0", "nodes": doc["nodes"]}
    _, out, _ = await hbctl(capsys, run_dir, "resources", "--json")
    assert json.loads(out) == {"node": "node0", "rscstatus": "local", "standby": "none",
                               "groups": doc["groups"]}


async def test_resources_text(capsys, run_dir, daemon):
    assert await hbctl(capsys, run_dir, "resources") == (0, (
        "web  held by node0  (primary node0; started here)\n"
        "db   held by node1  (primary node1; stopped here)\n"), "")


@pytest.mark.parametrize("argv, out, rc", [
    (("node-status", "node1"), "active\n", 0),
    (("node-status", "10.0.0.254"), "ping\n", 0),
    (("links", "node1"), "eth0  up\neth2  dead\n", 0),
    (("link-status", "node1", "eth0"), "up\n", 0),
    (("link-status", "node1", "eth2"), "dead\n", 1),      # cl_status: 1 when the link is dead
    (("rscstatus",), "local\n", 0),
    (("hbstatus",), "hbd is running on this machine.\n", 0),
])
async def test_cl_status_style_verbs(capsys, run_dir, daemon, argv, out, rc):
    assert await hbctl(capsys, run_dir, *argv) == (rc, out, "")
    assert daemon.requests[-1].verb == argv[0]


async def test_node_status_of_dead_node_exits_1(capsys, run_dir):
    status = sample_status()
    dead = replace(status.nodes[1], status=NodeStatus.DEAD)
    status = replace(status, nodes=(status.nodes[0], dead, status.nodes[2]))
    async with serving(str(run_dir / "hbd.sock"), FakeDaemon(status)):
        assert await hbctl(capsys, run_dir, "node-status", "node1") == (1, "dead\n", "")


async def test_unknown_node_is_a_failure_with_the_daemons_words(capsys, run_dir, daemon):
    assert await hbctl(capsys, run_dir, "node-status", "node9") == (
        1, "", "hbctl: unknown node 'node9': the nodes are node0, node1, 10.0.0.254\n")


# --- changing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, which, event", [
    (("standby",), "all", AdminRequested(AdminVerb.STANDBY, GroupSet.ALL)),
    (("standby", "failback"), "failback", AdminRequested(AdminVerb.STANDBY, GroupSet.FOREIGN)),
    (("takeover", "local"), "local", AdminRequested(AdminVerb.TAKEOVER, GroupSet.LOCAL)),
])
async def test_change_verbs_send_verb_and_group_set(capsys, run_dir, daemon, argv, which, event):
    rc, out, err = await hbctl(capsys, run_dir, *argv)
    assert (rc, err) == (0, "")
    (request,) = daemon.requests
    assert (request.verb, dict(request.args)) == (argv[0], {"which": which})
    assert daemon.admin == [event]
    assert out == f"{event.verb.value} {event.which.value} requested\n"


async def test_refused_change_exits_1(capsys, run_dir):
    async def in_flux(request: Request):
        raise RequestFailed("Other side is in flux: try again when the hand-over is done")

    async with serving(str(run_dir / "hbd.sock"), in_flux):
        assert await hbctl(capsys, run_dir, "takeover") == (
            1, "", "hbctl: Other side is in flux: try again when the hand-over is done\n")


# --- failures -----------------------------------------------------------------------------------

async def test_stopped_daemon_exits_3(capsys, run_dir):
    sock = run_dir / "hbd.sock"
    assert await hbctl(capsys, run_dir, "status") == (
        3, "", f"hbctl: hbd is not running (no socket at {sock})\n")
    assert await hbctl(capsys, run_dir, "hbstatus") == (3, "hbd is stopped on this machine.\n", "")


@pytest.mark.parametrize("verb", ["status", "nodes", "rscstatus", "hbstatus"])
async def test_json_with_the_daemon_down_is_a_not_running_document(capsys, run_dir, verb):
    rc, out, err = await hbctl(capsys, run_dir, verb, "--json")
    sock = str(run_dir / "hbd.sock")
    assert (rc, err) == (3, "")
    assert json.loads(out) == {"schema": 1, "running": False, "socket": sock,
                               "error": f"hbd is not running (no socket at {sock})"}
    assert tuple(json.loads(out)) == NOT_RUNNING_KEYS


async def test_json_of_a_running_daemon_says_running(capsys, run_dir, daemon):
    _, out, _ = await hbctl(capsys, run_dir, "status", "--json")
    assert json.loads(out)["running"] is True


async def test_not_authorised_answer_exits_4(capsys, run_dir):
    async def refuse(request: Request):
        raise NotAuthorised("user 1000 (alice) is not allowed to 'standby': add it ...")

    async with serving(str(run_dir / "hbd.sock"), refuse):
        rc, out, err = await hbctl(capsys, run_dir, "standby")
    assert (rc, out) == (4, "") and err.startswith("hbctl: user 1000 (alice) is not allowed")


def _hbctl_here(*argv: str):
    return lambda: cli.main(["--run-dir", ".", *argv])


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")


@needs_root
@pytest.mark.parametrize("mode, error", [
    (0o666, "hbctl: user 65534 (nobody) is not allowed to 'standby': "
            "add it to an 'apiauth hbctl uid=nobody' line in ha.cf\n"),
    (0o600, "hbctl: permission denied on ./hbd.sock: run as root, or ask for an "
            "'apiauth hbctl uid=...' line in ha.cf\n"),
])
async def test_non_root_user_exits_4(tmp_path, mode, error):
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o711)
    daemon = FakeDaemon()
    auth = Authorizer([ApiAuth("cl_status", uids=("nobody",))])   # may read, not change
    async with serving(str(run_dir / "hbd.sock"), daemon, authorizer=auth, mode=mode):
        child = await run_forked(_hbctl_here("standby"), str(run_dir))
        reader = await run_forked(_hbctl_here("rscstatus"), str(run_dir))
    assert child == {"result": 4, "stdout": "", "stderr": error}
    assert daemon.admin == []
    if mode == 0o666:
        assert reader == {"result": 0, "stdout": "local\n", "stderr": ""}
        assert [r.uid for r in daemon.requests] == [NOBODY]


@needs_root
async def test_user_without_any_right_is_told_which_verb_it_may_not_use(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o711)
    daemon = FakeDaemon()
    async with serving(str(run_dir / "hbd.sock"), daemon, mode=0o666):
        child = await run_forked(_hbctl_here("takeover", "local"), str(run_dir))
    assert child == {"result": 4, "stdout": "", "stderr":
                     "hbctl: user 65534 (nobody) is not allowed to 'takeover': "
                     "add it to an 'apiauth hbctl uid=nobody' line in ha.cf\n"}
    assert daemon.requests == []


async def _raw_server(path: str, reply: bytes | None):
    async def serve(reader, writer):
        if reply is None:
            await reader.read()
        else:
            writer.write(reply)
        writer.close()
    return await asyncio.start_unix_server(serve, path=path)


@pytest.mark.parametrize("reply, message", [
    (b"<html>\n", "hbctl: hbd sent an answer that is not JSON: b'<html>\\n'\n"),
    (b"", "hbctl: hbd closed the connection without answering\n"),
    (None, "hbctl: hbd did not answer within 0.2 s\n"),
    (b'{"ok": true, "data": {"nodes": 3}}\n',
     "hbctl: unexpected answer from hbd (TypeError: 'int' object is not iterable)\n"),
])
async def test_protocol_trouble_is_one_line_and_exit_1(capsys, run_dir, reply, message):
    server = await _raw_server(str(run_dir / "hbd.sock"), reply)
    try:
        assert await hbctl(capsys, run_dir, "--timeout", "0.2", "nodes") == (1, "", message)
    finally:
        server.close()


# --- usage --------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [[], ["reboot"], ["standby", "sideways"], ["node-status"],
                                  ["link-status", "node1"], ["status", "--yaml"],
                                  ["--timeout", "soon", "status"], ["status", "--timeout", "0"]])
def test_usage_errors_exit_2(capsys, argv):
    assert cli.main(argv) == 2
    assert "usage: hbctl" in capsys.readouterr().err


async def test_connection_options_also_follow_the_verb(capsys, run_dir, daemon):
    capsys.readouterr()
    argv = ["rscstatus", "--run-dir", str(run_dir), "--timeout", "2"]
    assert await asyncio.to_thread(cli.main, argv) == 0
    assert capsys.readouterr().out == "local\n"


def test_console_script_reports_a_stopped_daemon(tmp_path):
    script = Path(sys.executable).parent / "hbctl"
    if not script.exists():
        pytest.skip("hbctl console script not installed in this environment")
    done = subprocess.run([str(script), "--run-dir", str(tmp_path), "status"],
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr == f"hbctl: hbd is not running (no socket at {tmp_path}/hbd.sock)\n"


def test_version(capsys):
    from hbd import __version__
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"hbctl (hbd) {__version__}\n"


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf", ""])
def test_bad_timeout_says_what_it_wants(capsys, value):
    assert cli.main(["--timeout", value, "status"]) == 2
    err = capsys.readouterr().err
    assert ("hbctl: error: argument --timeout: expected a number of seconds greater than 0 "
            f"(e.g. 5 or 0.5), got {value!r}") in err
    assert "_seconds" not in err


def test_help_exits_0(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(verb in out for verb in (*cli.VERBS, "check-config"))


def test_check_config_is_delegated(capsys, tmp_path):
    missing = tmp_path / "nowhere"
    assert cli.main(["check-config", "--config-dir", str(missing), "--node", "node0"]) == 1
    out = capsys.readouterr().out
    assert f"{missing}: error: configuration directory not found" in out

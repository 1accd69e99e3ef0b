"""cl_status, hb_standby and hb_takeover as shims over the control socket (issue 11).

With no daemon running, the output is deterministic: it is compared byte for
byte with Debian's real heartbeat 3.0.6 tools (stderr after masking the
date, host name and pid of heartbeat's log prefix). Against a served
FakeDaemon, every sub-command is checked in the exact formats heartbeat
prints (the netns test compares those with a running heartbeat).
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from hbd.core.events import AdminRequested, AdminVerb, GroupSet
from hbd.core.status import LinkStatus, NodeStatus
from hbd.hbtools import cl_status, standby
from hbd.hbtools.getopt import Options
from hbd.hbtools.session import Session
from tests.cli import FakeDaemon, sample_status, serving

REAL_CL_STATUS = shutil.which("cl_status", path="/usr/bin:/usr/sbin")
HEARTBEAT_DIR = Path("/usr/share/heartbeat")
needs_heartbeat = pytest.mark.skipif(REAL_CL_STATUS is None or not HEARTBEAT_DIR.is_dir(),
                                     reason="Debian's heartbeat package is not installed")
LOG_PREFIX = re.compile(r"^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \S+ cl_status: \[\d+\]: ",
                        re.MULTILINE)


def masked(text: str) -> str:
    return LOG_PREFIX.sub("<date host cl_status: [pid]>: ", text)


def ours(argv: list[str], path: str, **session) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = cl_status.run(["cl_status", *argv], out, err,
                       Session(out, err, path=path, **session))
    return rc, out.getvalue(), err.getvalue()


def theirs(argv: list[str]) -> tuple[int, str, str]:
    done = subprocess.run([REAL_CL_STATUS, *argv], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    return done.returncode, done.stdout, done.stderr


# --- heartbeat stopped / hbd not running: byte for byte -------------------------------------

STOPPED_CASES = [
    [], ["-h"], ["-h", "x"], ["--help"], ["foo"], ["-x", "hbstatus"], ["parameter", "-p", "x"],
    ["hbstatus"], ["hbstatus", "-v"], ["hbstatus", "-m", "-v"], ["hbstatus", "-mv"],
    ["hbstatus", "-x"], ["hbstatus", "-vxy", "extra"],
    ["listnodes"], ["listnodes", "-v"], ["listnodes", "-x"], ["nodestatus", "node1"],
    ["nodestatus"], ["nodeweight", "x"], ["nodesite", "x"], ["nodetype", "normal"],
    ["listhblinks", "x"], ["hblinkstatus", "a", "b"], ["clientstatus", "a", "b", "100"],
    ["rscstatus"], ["rscstatus", "-m"], ["hbparameter", "-p", "keepalive"], ["hbparameter"],
    ["hbparameter", "-p"], ["test"],
]


@needs_heartbeat
@pytest.mark.parametrize("argv", STOPPED_CASES, ids=lambda argv: " ".join(argv) or "(none)")
def test_with_nothing_running_output_is_heartbeats(tmp_path, argv):
    assert theirs(["hbstatus"])[0] == 1, "a heartbeat runs on this machine: the test needs none"
    rc, out, err = ours(argv, str(tmp_path / "hbd.sock"))
    real_rc, real_out, real_err = theirs(argv)
    assert (rc, out, masked(err)) == (real_rc, real_out, masked(real_err))


@needs_heartbeat
@pytest.mark.parametrize("tool", ["hb_standby", "hb_takeover"])
@pytest.mark.parametrize("args", [["local", "foreign"], ["sideways"], ["--help"], ["ALL"]])
def test_usage_errors_are_heartbeats(tool, args):
    prog = str(HEARTBEAT_DIR / tool)
    real = subprocess.run([prog, *args], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    out, err = io.StringIO(), io.StringIO()
    shim = standby.standby if tool == "hb_standby" else standby.takeover
    rc = shim([prog, *args], out, err)
    assert (rc, out.getvalue(), err.getvalue()) == (real.returncode, real.stdout, real.stderr)
    assert rc == 1


# --- against a running daemon ------------------------------------------------------------------

@pytest.fixture
async def sock(tmp_path):
    path = str(tmp_path / "hbd.sock")
    async with serving(path, FakeDaemon()):
        yield path


async def cl(sock_path: str, *argv: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(ours, list(argv), sock_path)


LISTNODES_V = ("\n10.0.0.254\tping\t(nodetype: ping)\n\t10.0.0.254\tup\n"
               "\nnode1\tactive\t(nodetype: normal)\n\teth0\tup\n\teth2\tdead\n"
               "\nnode0\tactive\t(nodetype: normal)\n\teth0\tup\n\teth2\tup\n")
HUMAN_LINKS = "\tthis node has the following heartbeat links:\n"


@pytest.mark.parametrize("argv, rc, out", [
    (["hbstatus"], 0, "Heartbeat is running on this machine.\n"),
    (["hbstatus", "-m"], 0, "Heartbeat is running on this machine.\n"),
    (["hbstatus", "-v"], 0, "version:\t3.0.6 (hbd 0.1.0)\nmanaged by:\t\"haresources\"\n"
                            + LISTNODES_V),
    (["listnodes"], 0, "10.0.0.254\nnode1\nnode0\n"),
    (["listnodes", "-n"], 0, "node1\nnode0\n"),
    (["listnodes", "-p"], 0, "10.0.0.254\n"),
    (["listnodes", "-pn"], 0, "10.0.0.254\nnode1\nnode0\n"),
    (["listnodes", "-m"], 0, "The nodes are as follow:\n10.0.0.254\nnode1\nnode0\n"),
    (["listnodes", "-v"], 0, LISTNODES_V),
    (["listnodes", "-v", "-m", "-p"], 0, "The nodes are as follow:\n\n10.0.0.254\tping\t"
                                         "(nodetype: ping)\n" + HUMAN_LINKS + "\t10.0.0.254\tup\n"),
    (["nodestatus", "NODE1"], 0, "active\n"),
    (["nodestatus", "10.0.0.254"], 0, "ping\n"),
    (["nodestatus", "-m", "NODE1"], 0, "The cluster node NODE1 is active\n"),
    (["nodestatus", "node1", "extra", "words"], 0, "active\n"),
    (["nodeweight", "node1"], 0, "100\n"),
    (["nodeweight", "node1", "-m"], 0, "The weight of the cluster node node1 is 100\n"),
    (["nodesite", "node1"], 0, "\n"),
    (["nodesite", "-m", "node1"], 0, "The site of the cluster node node1 is \n"),
    (["nodetype", "10.0.0.254"], 0, "ping\n"),
    (["nodetype", "-m", "node0"], 0, "The node node0's type: normal\n"),
    (["listhblinks", "node1"], 0, "\teth0\n\teth2\n"),
    (["listhblinks", "-v", "node0"], 0, "\teth0\tup\n\teth2\tup\n"),
    (["listhblinks", "-mv", "10.0.0.254"], 0, HUMAN_LINKS + "\t10.0.0.254\tup\n"),
    (["hblinkstatus", "node1", "eth0"], 0, "up\n"),
    (["hblinkstatus", "node1", "eth2"], 1, "dead\n"),
    (["hblinkstatus", "-m", "node1", "eth2"], 1, "The node node1's heartbeat link eth2 is dead\n"),
    (["clientstatus", "node0", "ipfail"], 1, "offline\n"),
    (["clientstatus", "node1", "ipfail", "500"], 1, "offline\n"),     # an hbd peer
    (["rscstatus"], 0, "local\n"),
    (["rscstatus", "-m"], 0, "This node is holding local resources.\n"),
    (["hbparameter", "-p", "keepalive"], 0, "200ms\n"),
    (["hbparameter", "-p", "warntime"], 0, "1000ms\n"),
    (["hbparameter", "-p", "initdead"], 0, "12000ms\n"),
    (["hbparameter", "-p", "pacemaker"], 0, "false\n"),
    (["hbparameter", "-mpudpport"], 0, "Heartbeat parameter udpport's value: 694\n"),
    (["test"], 0, "Dead time: 2000\n keeplive time: 200\n mynodeid: node0\n rsc: local\n"),
])
async def test_sub_commands_print_what_heartbeat_prints(sock, argv, rc, out):
    assert await cl(sock, *argv) == (rc, out, "")


@pytest.mark.parametrize("argv, rc, err", [
    (["nodestatus"], 11, "Not enough parameters.\n"),
    (["nodestatus", "node9"], 11, "Error. May be due to incorrect node name\n"),
    (["nodeweight", "node9"], 11, "Error. Maybe due to incorrect node name.\n"),
    (["nodetype"], 11, "No enough parameter.\n"),
    (["listhblinks"], 11, "No enough parameter.\n"),
    (["hblinkstatus", "node1"], 11, "No enough parameter.\n"),
    (["listhblinks", "node9"], 13, "<log>: ERROR: Cannot start heartbeat link interface walk.\n"
                                   "<log>: ERROR: REASON: EINVAL\n"),
    (["hblinkstatus", "node1", "eth9"], 13, "<log>: ERROR: Cannot get heartbeat link status\n"
                                            "<log>: ERROR: REASON: \n"),
    (["clientstatus", "node9", "ipfail"], 13, "<log>: ERROR: Cannot get heartbeat client "
                                              "ipfail's status\n<log>: ERROR: REASON: No timely "
                                              "response.\n"),
    (["hbparameter", "-p", "node"], 1, "<log>: ERROR: Cannot get parameter node's value\n"
                                       "<log>: ERROR: REASON: \n"),
    (["hbparameter"], 11, "<log>: ERROR: parameter name required\n"),
    (["hbparameter", "-p"], 11, "hbparameter: option requires an argument -- 'p'\n"
                                "<log>: ERROR: Error: getopt returnedcharacter code ?.\n"),
    (["listnodes", "-x", "-y"], 11, "listnodes: invalid option -- 'x'\n"
                                    "<log>: ERROR: Error: getopt returnedcharacter code ?.\n"),
    (["rscstatus", "-x"], 11, "rscstatus: invalid option -- 'x'\n"
                              "<log>: ERROR: Error: getopt returnedcharacter ?.\n"),
    (["hbstatus", "-x", "-y"], 0, "hbstatus: invalid option -- 'x'\n"
                                  "hbstatus: invalid option -- 'y'\n"),
])
async def test_errors_are_heartbeats(sock, argv, rc, err):
    got_rc, out, got_err = await cl(sock, *argv)
    assert (got_rc, LOG_PREFIX.sub("<log>: ", got_err)) == (rc, err)
    assert out == ("Heartbeat is running on this machine.\n" if argv[0] == "hbstatus" else "")


async def test_clientstatus_of_an_active_heartbeat_peer_cannot_be_asked(tmp_path):
    status = sample_status()
    heartbeat_peer = replace(status.nodes[1], is_hbd=False)
    status = replace(status, nodes=(status.nodes[0], heartbeat_peer, status.nodes[2]))
    path = str(tmp_path / "hbd.sock")
    async with serving(path, FakeDaemon(status)):
        rc, out, err = await cl(path, "clientstatus", "node1", "ipfail")
    assert (rc, out) == (13, "") and "REASON: No timely response." in err


async def test_dead_nodes_and_links(tmp_path):
    status = sample_status()
    dead = replace(status.nodes[1], status=NodeStatus.DEAD,
                   links=(("eth0", LinkStatus.DEAD), ("eth2", LinkStatus.DEAD)))
    gone = replace(status.nodes[2], status=NodeStatus.DEAD)
    path = str(tmp_path / "hbd.sock")
    async with serving(path, FakeDaemon(replace(status, nodes=(status.nodes[0], dead, gone)))):
        assert await cl(path, "nodestatus", "node1") == (1, "dead\n", "")
        assert await cl(path, "nodestatus", "10.0.0.254") == (1, "dead\n", "")
        assert await cl(path, "listhblinks", "-v", "10.0.0.254") == (0, "\t10.0.0.254\tdead\n",
                                                                      "")
        assert await cl(path, "clientstatus", "node1", "ipfail") == (1, "offline\n", "")


async def test_refused_sign_on(tmp_path):
    async def refuse(request):
        from hbd.control import NotAuthorised
        raise NotAuthorised("user 1000 (alice) is not allowed to 'heartbeat-nodes': ...")

    path = str(tmp_path / "hbd.sock")
    async with serving(path, refuse):
        assert await cl(path, "hbstatus", "-v") == (
            0, "Heartbeat is apparently running on this machine, but refuses my connection\n"
               "(user 1000 (alice) is not allowed to 'heartbeat-nodes': ...)\n", "")
        rc, out, err = await cl(path, "nodestatus", "node0")
    assert (rc, out) == (1, "")
    assert LOG_PREFIX.sub("", err) == ("ERROR: Cannot signon with heartbeat\nERROR: REASON: "
                                       "user 1000 (alice) is not allowed to 'heartbeat-nodes': "
                                       "...\n")


async def test_no_answer_within_five_seconds_exits_12(tmp_path):
    path = str(tmp_path / "hbd.sock")

    async def silent(reader, writer):
        await reader.read()
        writer.close()

    server = await asyncio.start_unix_server(silent, path=path)
    try:
        result = await asyncio.to_thread(ours, ["listnodes"], path, deadline=0.3)
    finally:
        server.close()
    assert result == (12, "", "")


# --- hb_standby / hb_takeover ----------------------------------------------------------------

@pytest.mark.parametrize("tool, args, event", [
    (standby.standby, [], AdminRequested(AdminVerb.STANDBY, GroupSet.ALL)),
    (standby.standby, ["failback"], AdminRequested(AdminVerb.STANDBY, GroupSet.FOREIGN)),
    (standby.takeover, ["local"], AdminRequested(AdminVerb.TAKEOVER, GroupSet.LOCAL)),
    (standby.takeover, ["failback"], AdminRequested(AdminVerb.TAKEOVER, GroupSet.FOREIGN)),
])
async def test_standby_and_takeover_ask_hbd(tmp_path, tool, args, event):
    daemon = FakeDaemon()
    path = str(tmp_path / "hbd.sock")
    out, err = io.StringIO(), io.StringIO()
    async with serving(path, daemon):
        rc = await asyncio.to_thread(tool, ["hb_x", *args], out, err,
                                     Session(out, err, path=path))
    assert (rc, out.getvalue()) == (0, "") and daemon.admin == [event]
    said = err.getvalue()
    if tool is standby.standby:       # ha_log's words, dated when stderr is not a terminal
        assert re.fullmatch(r"\w{3} [ 0-9]\d \d\d:\d\d:\d\d Going standby "
                            rf"\[{event.which.value}\]\.\n", said), said
    else:
        assert said == ""


async def test_standby_without_a_daemon_says_so(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    session = Session(out, err, path=str(tmp_path / "hbd.sock"))
    assert standby.takeover(["hb_takeover", "all"], out, err, session) == 1
    assert (out.getvalue(), err.getvalue()) == ("", "hb_takeover: hbd is not running\n")


# --- glibc's getopt ------------------------------------------------------------------------------

@pytest.mark.parametrize("words, optstring, options, operands, err", [
    (["a", "-m", "b", "-v"], "mv", [("m", None), ("v", None)], ["a", "b"], ""),
    (["-mv", "--", "-p"], "mpv", [("m", None), ("v", None)], ["-p"], ""),
    (["-pkeep", "x"], "mp:", [("p", "keep")], ["x"], ""),
    (["-p", "-m"], "mp:", [("p", "-m")], [], ""),
    (["-", "-q"], "m", [("?", None)], ["-"], "cmd: invalid option -- 'q'\n"),
    (["-p"], "p:", [("?", None)], [], "cmd: option requires an argument -- 'p'\n"),
    (["-:"], "p:", [("?", None)], [], "cmd: invalid option -- ':'\n"),
])
def test_options_are_read_as_glibc_does(words, optstring, options, operands, err):
    stream = io.StringIO()
    parsed = Options("cmd", words, optstring, stream)
    assert list(parsed) == options
    assert (parsed.operands, stream.getvalue()) == (operands, err)


def test_posixly_correct_stops_at_the_first_operand(monkeypatch):
    monkeypatch.setenv("POSIXLY_CORRECT", "1")
    parsed = Options("cmd", ["a", "-m"], "m", io.StringIO())
    assert list(parsed) == [] and parsed.operands == ["a", "-m"]


def test_console_scripts_are_installed():
    scripts = Path(sys.executable).parent
    missing = [name for name in ("cl_status", "hb_standby", "hb_takeover")
               if not (scripts / name).exists()]
    assert missing == [], f"run scripts/bootstrap.sh: {missing} not installed in {scripts}"

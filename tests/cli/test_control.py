"""The control socket: a real ControlServer on a socket in tmp_path.

Covers framing (one line each way, size and time bounds), peer credentials and
the Authorizer (fake accounts, plus one real connection from a nobody child),
stale-socket handling, the clients' errors, and the pure answering helpers.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import stat

import pytest

from hbd import control
from hbd.config.model import ApiAuth, ClusterConfig, HaCf
from hbd.control import (Accounts, Authorizer, BadRequest, ControlError, NotAuthorised,
                         NotRunning, Request, RequestFailed, SocketInUse, request, request_sync)
from hbd.core.events import AdminRequested, AdminVerb, GroupSet
from hbd.statusdoc import status_document
from tests.cli import EXTRA, NOBODY, FakeDaemon, run_forked, sample_status, serving

USERS = {0: "root", 1000: "alice", 1001: "bob", 694: "hacluster"}
GROUPS = {"haclient": 694, "wheel": 10}
SUPPLEMENTARY = {1000: (1000, 694), 1001: (1001,)}


def fake_accounts() -> Accounts:
    names = {name: uid for uid, name in USERS.items()}
    return Accounts(user_name=USERS.get, user_id=names.get, group_id=GROUPS.get,
                    groups_of=lambda uid, gid: SUPPLEMENTARY.get(uid, (gid,)))


def authorizer(*entries: ApiAuth, daemon_uid: int = 0) -> Authorizer:
    return Authorizer(entries, daemon_uid=daemon_uid, accounts=fake_accounts())


@pytest.fixture
def sock_path(tmp_path):
    return str(tmp_path / "hbd.sock")


async def raw_exchange(path: str, payload: bytes, *, deadline: float = 5.0) -> bytes:
    """Send raw bytes, return everything the server sends before closing."""
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(payload)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), deadline)
    finally:
        writer.close()


# --- framing ----------------------------------------------------------------------------

async def test_round_trip_carries_verb_args_and_peer_credentials(sock_path):
    daemon = FakeDaemon()
    async with serving(sock_path, daemon):
        reply = await request(sock_path, "node-status", {"node": "node1"})
    assert reply == {"ok": True, "data": {"node": "node1", "type": "normal", "status": "active"}}
    (req,) = daemon.requests
    assert (req.verb, dict(req.args)) == ("node-status", {"node": "node1"})
    assert (req.uid, req.gid, req.pid) == (os.getuid(), os.getgid(), os.getpid())


async def test_request_sync_round_trip(sock_path):
    async with serving(sock_path, FakeDaemon()):
        reply = await asyncio.to_thread(request_sync, sock_path, "rscstatus")
    assert reply == {"ok": True, "data": {"node": "node0", "rscstatus": "local"}}


@pytest.mark.parametrize("size, served", [(control.MAX_REQUEST, True),
                                           (control.MAX_REQUEST + 1, False)])
async def test_request_size_limit_counts_the_newline(sock_path, size, served):
    daemon = FakeDaemon()
    bare = control.encode({"verb": "status", "args": {"pad": ""}})
    line = control.encode({"verb": "status", "args": {"pad": "x" * (size - len(bare))}})
    assert len(line) == size
    async with serving(sock_path, daemon):
        answer = json.loads(await raw_exchange(sock_path, line))
    assert answer["ok"] is served and len(daemon.requests) == int(served)


async def test_oversize_request_is_refused_and_closed(sock_path):
    daemon = FakeDaemon()
    async with serving(sock_path, daemon):
        data = await raw_exchange(sock_path, b"x" * (control.MAX_REQUEST + 10))
    assert json.loads(data) == {"ok": False, "code": control.BAD_REQUEST,
                                "error": "request too large (more than 65536 bytes)"}
    assert data.count(b"\n") == 1 and daemon.requests == []


async def test_slow_client_is_dropped_after_read_timeout(sock_path):
    async with serving(sock_path, FakeDaemon(), read_timeout=0.2) as server:
        loop = asyncio.get_running_loop()
        started = loop.time()
        data = await raw_exchange(sock_path, b'{"verb": "sta', deadline=5.0)
        waited = loop.time() - started
        await wait_for_connections(server, 0)
    assert json.loads(data)["error"] == "no complete request line within 0.2 s"
    assert 0.2 <= waited < 4.0


async def wait_for_connections(server, count: int, deadline: float = 2.0) -> None:
    """Wait, on a deadline, until the server serves `count` connections."""
    async with asyncio.timeout(deadline):
        while server.connections != count:
            await asyncio.sleep(0.01)


async def test_request_without_newline_before_eof_is_refused(sock_path):
    async with serving(sock_path, FakeDaemon()):
        reader, writer = await asyncio.open_unix_connection(sock_path)
        writer.write(b'{"verb": "status"}')
        writer.write_eof()
        data = await asyncio.wait_for(reader.read(), 5.0)
        writer.close()
    assert json.loads(data)["error"] == "request not terminated by a newline"


@pytest.mark.parametrize("payload, error", [
    (b"not json\n", "request is not JSON"),
    (b"[1, 2]\n", "request must be a JSON object"),
    (b'{"verb": "status", "args": [1]}\n', "request 'args' must be a JSON object"),
    (b'{"verb": "reboot"}\n', "unknown verb 'reboot': hbd knows status, nodes"),
])
async def test_malformed_requests_are_refused_before_the_handler(sock_path, payload, error):
    daemon = FakeDaemon()
    async with serving(sock_path, daemon):
        answer = json.loads(await raw_exchange(sock_path, payload))
    assert answer["ok"] is False and answer["code"] == control.BAD_REQUEST
    assert answer["error"].startswith(error)
    assert daemon.requests == []


async def test_handler_exception_is_answered_and_server_carries_on(sock_path):
    calls = []

    async def handler(req: Request):
        calls.append(req.verb)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return "fine"

    async with serving(sock_path, handler):
        first = await request(sock_path, "status")
        second = await request(sock_path, "status")
    assert first == {"ok": False, "code": control.INTERNAL,
                     "error": "internal error: RuntimeError: boom"}
    assert second == {"ok": True, "data": "fine"}


async def test_request_failed_from_handler_keeps_its_code(sock_path):
    async def handler(req: Request):
        raise RequestFailed("Other side is in flux")

    async with serving(sock_path, handler):
        reply = await request(sock_path, "standby", {"which": "all"})
    assert reply == {"ok": False, "code": control.FAILED, "error": "Other side is in flux"}


async def test_unserialisable_handler_data_is_an_internal_error(sock_path):
    async def handler(req: Request):
        return {"when": object()}

    async with serving(sock_path, handler):
        reply = await request(sock_path, "status")
    assert reply["ok"] is False and reply["code"] == control.INTERNAL


# --- the Authorizer with fake credentials ----------------------------------------------------

def test_root_and_daemon_uid_may_do_anything():
    auth = authorizer(daemon_uid=694)
    for uid in (0, 694):
        assert auth.allows("standby", uid, 999) and auth.allows("status", uid, 999)
    assert not auth.allows("status", 1000, 1000)


def test_unlisted_user_refused_with_the_line_to_add():
    with pytest.raises(NotAuthorised) as info:
        authorizer().check("standby", 1000, 1000)
    assert str(info.value) == ("user 1000 (alice) is not allowed to 'standby': "
                               "add it to an 'apiauth hbctl uid=alice' line in ha.cf")
    assert info.value.code == control.NOT_AUTHORISED


def test_unknown_uid_is_named_by_number():
    with pytest.raises(NotAuthorised, match=r"^user 4321 is not allowed to 'status': .*uid=4321'"):
        authorizer().check("status", 4321, 4321)


def test_cl_status_entry_may_read_but_not_change():
    auth = authorizer(ApiAuth("cl_status", uids=("alice",)))
    assert all(auth.allows(verb, 1000, 1000) for verb in control.READ_VERBS)
    assert not any(auth.allows(verb, 1000, 1000) for verb in control.CHANGE_VERBS)
    assert not auth.allows("status", 1001, 1001)


def test_hb_standby_entry_may_change_only():
    auth = authorizer(ApiAuth("hb_standby", uids=("alice",)))
    assert auth.allows("standby", 1000, 1000) and auth.allows("takeover", 1000, 1000)
    assert not auth.allows("status", 1000, 1000)


def test_hbctl_entry_may_read_and_change_by_number():
    auth = authorizer(ApiAuth("hbctl", uids=("1001",)))
    assert auth.allows("status", 1001, 1001) and auth.allows("standby", 1001, 1001)


def test_supplementary_group_counts():
    auth = authorizer(ApiAuth("hbctl", gids=("haclient",)))
    assert auth.allows("standby", 1000, 1000)        # alice is in haclient (694)
    assert not auth.allows("standby", 1001, 1001)    # bob is not
    assert auth.allows("status", 1001, 694)          # primary gid of the peer counts too


def test_other_clients_grant_nothing():
    auth = authorizer(ApiAuth("ipfail", uids=("alice",)))
    assert not auth.allows("status", 1000, 1000)
    assert auth.socket_mode == 0o600


def test_unknown_verb_only_for_root():
    auth = authorizer(ApiAuth("hbctl", uids=("alice",)))
    assert auth.allows("reboot", 0, 0) and not auth.allows("reboot", 1000, 1000)


def test_unresolved_names_are_reported():
    auth = authorizer(ApiAuth("hbctl", uids=("alice", "mallory"), gids=("nogroup",)))
    assert auth.unresolved == ["apiauth hbctl: no user named 'mallory'",
                               "apiauth hbctl: no group named 'nogroup'"]


def test_socket_mode_opens_only_for_others_than_root_and_daemon():
    assert authorizer().socket_mode == 0o600
    assert authorizer(ApiAuth("hbctl", uids=("root", "694")), daemon_uid=694).socket_mode == 0o600
    assert authorizer(ApiAuth("cl_status", uids=("alice",))).socket_mode == 0o666
    assert authorizer(ApiAuth("hbctl", gids=("wheel",))).socket_mode == 0o666


def test_system_accounts_resolve_root():
    auth = Authorizer([ApiAuth("hbctl", uids=("root",), gids=("root",))], daemon_uid=12345)
    assert auth.unresolved == []
    assert 0 in Accounts().groups_of(0, 0)


# --- a real connection from another user ------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")


def _ask_status_relative() -> dict:
    return request_sync("hbd.sock", "status", timeout=5.0)


@needs_root
@pytest.mark.parametrize("apiauth, allowed", [((), False),
                                              ((ApiAuth("cl_status", uids=("nobody",)),), True)])
async def test_real_peer_credentials_decide(tmp_path, apiauth, allowed):
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o711)
    daemon = FakeDaemon()
    auth = Authorizer(apiauth)
    async with serving(str(run_dir / "hbd.sock"), daemon, authorizer=auth, mode=0o666):
        child = await run_forked(_ask_status_relative, str(run_dir))
    reply = child["result"]
    if allowed:
        assert reply["ok"] is True and reply["data"]["schema"] == 1
        assert daemon.requests[0].uid == NOBODY and daemon.requests[0].gid == NOBODY
    else:       # refused before the request was read: the answer names the user
        assert reply == {"ok": False, "code": control.NOT_AUTHORISED, "uid": NOBODY,
                         "user": "nobody",
                         "error": "user 65534 (nobody) is not allowed to use hbd's control "
                                  "socket: add it to an 'apiauth hbctl uid=nobody' line in ha.cf"}
        assert daemon.requests == []


# --- socket file life cycle -------------------------------------------------------------------

async def test_stale_socket_is_removed_at_start(sock_path):
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(sock_path)              # a socket file nobody listens on
    dead.close()
    async with serving(sock_path, FakeDaemon()):
        assert (await request(sock_path, "hbstatus"))["ok"] is True


async def test_start_refuses_when_another_hbd_answers(sock_path):
    async with serving(sock_path, FakeDaemon()):
        second = control.ControlServer(sock_path, FakeDaemon(), authorizer=Authorizer())
        expected = f"another hbd is running (socket {sock_path} answers)"
        with pytest.raises(SocketInUse, match=f"^{re.escape(expected)}$"):
            await second.start()
        assert (await request(sock_path, "hbstatus"))["ok"] is True   # the first one still serves


async def test_start_refuses_a_file_that_is_not_a_socket(sock_path):
    with open(sock_path, "w") as f:
        f.write("keep me")
    server = control.ControlServer(sock_path, FakeDaemon(), authorizer=Authorizer())
    with pytest.raises(SocketInUse, match="is not a socket"):
        await server.start()
    with open(sock_path) as f:
        assert f.read() == "keep me"


@pytest.mark.parametrize("mode", [0o600, 0o666])
async def test_socket_mode_is_exact_whatever_the_umask(sock_path, mode):
    old = os.umask(0)
    try:
        async with serving(sock_path, FakeDaemon(), mode=mode):
            st = os.stat(sock_path)
    finally:
        os.umask(old)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == mode


async def test_mode_defaults_to_the_authorizers(sock_path):
    auth = Authorizer([ApiAuth("cl_status", uids=("12345",))])
    async with serving(sock_path, FakeDaemon(), authorizer=auth) as server:
        assert server.mode == 0o666 and stat.S_IMODE(os.stat(sock_path).st_mode) == 0o666


async def test_connections_beyond_max_clients_are_told_to_retry(sock_path):
    async with serving(sock_path, FakeDaemon(), max_per_user=1, max_privileged=1) as server:
        _, writer = await asyncio.open_unix_connection(sock_path)
        writer.write(b'{"verb"')                      # holds the only slot
        await writer.drain()
        await wait_for_connections(server, 1)
        busy = await request(sock_path, "status")
        writer.close()
        await wait_for_connections(server, 0)
        assert (await request(sock_path, "status"))["ok"] is True
    assert busy == {"ok": False, "code": control.FAILED,
                    "error": "hbd is busy: too many control connections, try again"}


async def test_close_removes_the_socket_and_drops_clients(sock_path):
    async with serving(sock_path, FakeDaemon(), read_timeout=60.0) as server:
        reader, writer = await asyncio.open_unix_connection(sock_path)
        writer.write(b'{"verb"')                      # never finishes its line
        await writer.drain()
        await wait_for_connections(server, 1)
    assert not os.path.exists(sock_path)
    assert await asyncio.wait_for(reader.read(), 2.0) == b""
    writer.close()


# --- client errors ------------------------------------------------------------------------------

async def test_client_missing_socket_is_not_running(sock_path):
    with pytest.raises(NotRunning, match=r"no socket at .*hbd\.sock"):
        await request(sock_path, "status")
    with pytest.raises(NotRunning):
        request_sync(sock_path, "status")


async def test_client_refused_socket_is_not_running(sock_path):
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(sock_path)
    dead.close()
    with pytest.raises(NotRunning, match="refuses connections"):
        await request(sock_path, "status")


async def _raw_server(path: str, reply: bytes | None):
    """A server that answers every connection with `reply` (None: never answers)."""
    async def serve(reader, writer):
        if reply is None:
            await reader.read()
        else:
            writer.write(reply)
            await writer.drain()
        writer.close()
    return await asyncio.start_unix_server(serve, path=path)


@pytest.mark.parametrize("reply, message", [
    (b"garbage\n", "not JSON"),
    (b'{"answer": 42}\n', "unexpected answer"),
    (b"", "closed the connection without answering"),
    (None, "did not answer within 0.2 s"),
])
async def test_client_protocol_errors(sock_path, reply, message):
    server = await _raw_server(sock_path, reply)
    try:
        with pytest.raises(ControlError, match=message) as info:
            await request(sock_path, "status", timeout=0.2)
        assert not isinstance(info.value, NotRunning)
        with pytest.raises(ControlError, match=message):
            await asyncio.to_thread(request_sync, sock_path, "status", timeout=0.2)
    finally:
        server.close()


def test_decode_response_fills_in_missing_error_fields():
    assert control.decode_response(b'{"ok": false}\n') == {
        "ok": False, "error": "request failed", "code": control.FAILED}


# --- the pure answering helpers ---------------------------------------------------------------

def req(verb: str, **args) -> Request:
    return Request(verb, args, uid=0, gid=0, pid=1)


DOC = status_document(sample_status(), extra=EXTRA)


@pytest.mark.parametrize("verb, args, data", [
    ("nodes", {}, {"node": "node0", "nodes": DOC["nodes"]}),
    ("resources", {}, {"node": "node0", "rscstatus": "local", "standby": "none",
                       "groups": DOC["groups"]}),
    ("rscstatus", {}, {"node": "node0", "rscstatus": "local"}),
    ("hbstatus", {}, {"running": True, "node": "node0", "status": "active",
                      "shutting_down": False, "version": "0.1.0"}),
    ("node-status", {"node": "NODE1"}, {"node": "node1", "type": "normal", "status": "active"}),
    ("node-status", {"node": "10.0.0.254"}, {"node": "10.0.0.254", "type": "ping",
                                             "status": "ping"}),
    ("links", {"node": "node1"}, {"node": "node1", "links": {"eth0": "up", "eth2": "dead"}}),
    ("link-status", {"node": "node1", "link": "eth2"},
     {"node": "node1", "link": "eth2", "status": "dead"}),
])
def test_query_answers_read_verbs(verb, args, data):
    assert control.query(req(verb, **args), DOC) == data


def test_query_status_is_the_whole_document():
    assert control.query(req("status"), DOC) == DOC


@pytest.mark.parametrize("verb, args, message", [
    ("node-status", {}, "'node-status' needs a node name (args.node)"),
    ("node-status", {"node": "node9"},
     "unknown node 'node9': the nodes are node0, node1, 10.0.0.254"),
    ("link-status", {"node": "node1", "link": "eth9"},
     "node1 has no link 'eth9': its links are eth0, eth2"),
    ("links", {"node": 7}, "'links' needs a node name (args.node)"),
    ("standby", {}, "'standby' is not a read verb"),
])
def test_query_refuses_bad_arguments(verb, args, message):
    with pytest.raises(BadRequest) as info:
        control.query(req(verb, **args), DOC)
    assert str(info.value) == message


@pytest.mark.parametrize("verb, word, event", [
    ("standby", None, AdminRequested(AdminVerb.STANDBY, GroupSet.ALL)),
    ("standby", "failback", AdminRequested(AdminVerb.STANDBY, GroupSet.FOREIGN)),
    ("takeover", "LOCAL", AdminRequested(AdminVerb.TAKEOVER, GroupSet.LOCAL)),
])
def test_parse_admin_builds_the_core_event(verb, word, event):
    args = {} if word is None else {"which": word}
    assert control.parse_admin(req(verb, **args)) == event


@pytest.mark.parametrize("word", ["sideways", 3])
def test_parse_admin_refuses_unknown_group_sets(word):
    with pytest.raises(BadRequest, match="use all, local, foreign or failback"):
        control.parse_admin(req("standby", which=word))


def test_answer_gives_events_for_changes_and_data_for_reads():
    status = sample_status()
    assert control.answer(req("takeover"), status) == AdminRequested(AdminVerb.TAKEOVER)
    assert control.answer(req("rscstatus"), status) == {"node": "node0", "rscstatus": "local"}


def test_every_read_verb_has_an_answer_in_the_document():
    from hbd.statusdoc import READ_ANSWERS
    assert tuple(READ_ANSWERS) == control.DOC_VERBS
    assert set(control.READ_VERBS) == (set(control.DOC_VERBS) | set(control.HEARTBEAT_VERBS)
                                       | set(control.METRICS_VERBS))


class FakeHandler:
    """A ControlHandler (hbd.control.ControlHandler) over a fixed status."""

    def __init__(self, status=None, starting=False):
        self.status = None if starting else (status or sample_status())
        self.fed = []

    def cluster_status(self):
        return self.status

    def daemon_info(self):
        return {"pid": 99}

    def request_admin(self, event):
        self.fed.append(event)

    def cluster_config(self):
        return ClusterConfig("node0", HaCf(nodes=("node0", "node1")))


def test_fake_handler_follows_the_protocol():
    handler: control.ControlHandler = FakeHandler()
    assert handler.cluster_status() == sample_status()


def test_respond_feeds_changes_to_the_core():
    handler = FakeHandler()
    data = control.respond(req("standby", which="failback"), handler)
    assert handler.fed == [AdminRequested(AdminVerb.STANDBY, GroupSet.FOREIGN)]
    assert data["verb"] == "standby" and data["which"] == "foreign"
    assert data["message"].startswith("standby foreign requested")


def test_respond_answers_reads_with_version_and_daemon_info():
    from hbd import __version__
    doc = control.respond(req("status"), FakeHandler())
    assert doc["daemon"] == {"version": __version__, "pid": 99}
    with pytest.raises(RequestFailed, match="still starting"):
        control.respond(req("status"), FakeHandler(starting=True))
    assert control.respond(req("parameter", name="keepalive"), FakeHandler()) == {
        "name": "keepalive", "value": "1000ms"}
    with pytest.raises(BadRequest, match="needs a parameter name"):
        control.respond(req("parameter"), FakeHandler())

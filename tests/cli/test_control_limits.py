"""Local users cannot jam the control socket (issue 10), on real sockets.

Credentials come before anything is read; per-uid slots keep root's way in
open whatever another uid holds; request size and JSON nesting are bounded
(counted refusals, never a RecursionError); name-service look-ups run in
worker threads, cached with a TTL; refusal logs are throttled. The tests that
need another real uid fork a child that becomes nobody (root only).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading

import pytest

from hbd import control
from hbd.config.model import ApiAuth
from hbd.control import Accounts, Authorizer, LookupBusy, NameCache, request
from hbd.control.server import Slots
from tests.cli import NOBODY, FakeDaemon, held_as_nobody, run_forked, serving
from tests.waiting import until

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")


@pytest.fixture
def sock_path(tmp_path):
    return str(tmp_path / "hbd.sock")


@pytest.fixture
def run_dir(tmp_path):
    """A directory nobody may search but not list, holding the socket."""
    path = tmp_path / "run"
    path.mkdir(mode=0o711)
    return path


async def raw_exchange(path: str, payload: bytes) -> dict:
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(payload)
    await writer.drain()
    try:
        return json.loads(await asyncio.wait_for(reader.read(), 5.0))
    finally:
        writer.close()


# --- nesting ---------------------------------------------------------------------------------

def nested(levels: int) -> bytes:
    """A status request whose args hold `levels` levels in all (the request object is 1)."""
    inner = "[" * (levels - 2) + "]" * (levels - 2)
    return f'{{"verb":"status","args":{{"x":{inner or 0}}}}}\n'.encode()


@pytest.mark.parametrize("line, deep", [
    (nested(control.MAX_DEPTH), False),
    (nested(control.MAX_DEPTH + 1), True),
    (b"[" * 60000, True),
    (b'{"a": "' + b"[" * 5000 + b'"}', False),                 # brackets in a string
    (b'{"a": "\\"' + b"[" * 5000 + b'"}', False),              # an escaped quote inside
    (b'{"a": "\\\\"' + b", " + b"[" * 40 + b"]" * 40 + b"}", True),   # an escaped backslash
    (b'"' + b"[" * 100, False),                               # unterminated: json says so
])
def test_nesting_is_measured_outside_strings(line, deep):
    assert control.nesting_exceeds(line) is deep


async def test_a_very_deep_request_is_a_counted_refusal(sock_path):
    daemon = FakeDaemon()
    async with serving(sock_path, daemon) as server:
        deep = await raw_exchange(sock_path, b"[" * 60000 + b"\n")
        deeper_args = await raw_exchange(sock_path, nested(control.MAX_DEPTH + 1))
        fine = await raw_exchange(sock_path, nested(control.MAX_DEPTH))
        counts = server.counters()
    message = f"request nested more than {control.MAX_DEPTH} levels deep"
    assert deep == deeper_args == {"ok": False, "code": control.BAD_REQUEST, "error": message}
    assert fine["ok"] is True and len(daemon.requests) == 1
    assert counts["refused_too_deep"] == 2 and counts["served"] == 1


def test_parse_request_never_raises_recursion_error():
    with pytest.raises(control.TooDeep):
        control.parse_request(b"[" * 60000)
    with pytest.raises(control.BadRequest, match="not JSON"):
        control.parse_request(b"[" * 10 + b"\n")


# --- slots -------------------------------------------------------------------------------------

def test_slots_per_user_and_for_everyone_but_never_the_privileged_pool():
    slots = Slots(per_user=2, ordinary=3, privileged=1)
    assert [slots.take(1000, False) for _ in range(3)] == [True, True, False]
    assert slots.take(1001, False) and not slots.take(1002, False)      # ordinary pool full
    assert slots.take(0, True) and not slots.take(0, True)
    slots.release(1000, False)
    assert slots.take(1002, False)
    slots.release(0, True)
    assert slots.take(0, True)


# --- real users ----------------------------------------------------------------------------------

@needs_root
async def test_a_user_without_rights_is_refused_before_anything_is_read(run_dir, logged):
    daemon = FakeDaemon()
    path = str(run_dir / "hbd.sock")
    async with serving(path, daemon, mode=0o666, read_timeout=60.0) as server:
        # the child sends nothing at all, yet is answered at once
        async with held_as_nobody(str(run_dir), 1) as opened:
            assert opened == 1
            await until(lambda: (server.counters().get("refused_not_authorised"),
                                 server.connections) == (1, 0), what="the refusal")
        assert (await request(path, "rscstatus"))["ok"] is True
    assert daemon.requests[0].uid == 0 and len(daemon.requests) == 1


@needs_root
async def test_40_idle_connections_of_one_user_do_not_lock_root_out(run_dir):
    daemon = FakeDaemon()
    path = str(run_dir / "hbd.sock")
    auth = Authorizer([ApiAuth("cl_status", uids=("nobody",))])
    async with serving(path, daemon, authorizer=auth, mode=0o666, read_timeout=60.0) as server:
        async with held_as_nobody(str(run_dir), 40) as opened:
            assert opened == 40
            busy = 40 - control.MAX_PER_USER
            # the refused ones are answered and closed; the others wait idle for a line
            await until(lambda: (server.counters().get("refused_busy"), server.connections)
                        == (busy, control.MAX_PER_USER),
                        what="the connections over the user's slots to be refused")
            for _ in range(3):
                assert (await request(path, "rscstatus"))["ok"] is True
        await until(lambda: server.connections == 0, what="the idle connections to go")
        reader = await run_forked(lambda: control.request_sync("hbd.sock", "rscstatus"),
                                  str(run_dir))
    assert reader["result"] == {"ok": True, "data": {"node": "node0", "rscstatus": "local"}}
    assert [r.uid for r in daemon.requests] == [0, 0, 0, NOBODY]


@needs_root
async def test_a_refusal_flood_is_counted_and_logged_once_per_cause(run_dir, logged):
    path = str(run_dir / "hbd.sock")

    def refused(server) -> int:
        counts = server.counters()
        return counts.get("refused_not_authorised", 0) + counts.get("refused_busy", 0)

    async with serving(path, FakeDaemon(), mode=0o666) as server:
        async with held_as_nobody(str(run_dir), 40, b'{"verb": "standby"}\n'):
            # all at once: refused as not allowed, or as busy while the slots are taken
            await until(lambda: refused(server) == 40, what="40 refusals")
        assert (await request(path, "hbstatus"))["ok"] is True
        assert server.counters().get("served") == 1
    refusals = [e for e in logged if e["event"] == "control: request refused"]
    causes = [e["cause"] for e in refusals]
    assert "not_authorised" in causes and len(causes) == len(set(causes)) <= 2
    assert all(e["uid"] == NOBODY and e["suppressed"] == 0 for e in refusals)


class SlowAccounts:
    """A name service that answers only when `release` is set (at most 10 s)."""

    def __init__(self):
        self.release = threading.Event()
        self.calls = []

    def groups_of(self, uid, gid):
        self.calls.append(uid)
        self.release.wait(10.0)
        return (gid, 4242)

    def accounts(self) -> Accounts:
        return Accounts(user_name=lambda uid: "nobody" if uid == NOBODY else None,
                        user_id=lambda name: None, group_id=lambda name: None,
                        groups_of=self.groups_of)


@needs_root
async def test_a_slow_name_service_does_not_stall_the_loop(run_dir):
    slow = SlowAccounts()
    auth = Authorizer([ApiAuth("cl_status", gids=("4242",))], accounts=slow.accounts())
    daemon = FakeDaemon()
    path = str(run_dir / "hbd.sock")
    async with serving(path, daemon, authorizer=auth, mode=0o666) as server:
        child = asyncio.ensure_future(run_forked(
            lambda: control.request_sync("hbd.sock", "rscstatus", timeout=20.0), str(run_dir)))
        await until(lambda: slow.calls, what="the look-up to start")
        for _ in range(3):        # root is served while the name service hangs
            assert (await request(path, "hbstatus", timeout=2.0))["ok"] is True
        slow.release.set()
        reply = (await child)["result"]
        again = await run_forked(lambda: control.request_sync("hbd.sock", "rscstatus"),
                                 str(run_dir))
        lookups = server.counters()["name_lookups"]
    assert reply["ok"] is True and again["result"]["ok"] is True
    assert slow.calls == [NOBODY] and lookups == 1           # the second one was cached


# --- the name cache ------------------------------------------------------------------------------

async def test_name_cache_keeps_answers_for_the_ttl():
    calls, now = [], [0.0]

    def groups_of(uid, gid):
        calls.append(uid)
        return (gid, 10)

    cache = NameCache(Accounts(user_name=lambda uid: f"u{uid}", groups_of=groups_of),
                      ttl=60.0, clock=lambda: now[0])
    try:
        first = await cache.lookup(1000, 1000)
        assert first.name == "u1000" and first.groups == frozenset({1000, 10})
        assert await cache.lookup(1000, 1000) == first and calls == [1000]
        now[0] = 61.0
        await cache.lookup(1000, 1000)
        assert calls == [1000, 1000]
    finally:
        cache.close()


async def test_name_cache_shares_one_look_up_and_gives_up_after_its_timeout():
    slow = SlowAccounts()
    cache = NameCache(slow.accounts(), timeout=0.2, max_pending=1)
    try:
        results = await asyncio.gather(cache.lookup(NOBODY, NOBODY), cache.lookup(NOBODY, NOBODY),
                                       return_exceptions=True)
        assert all(isinstance(r, LookupBusy) for r in results) and slow.calls == [NOBODY]
        workers = [t for t in threading.enumerate() if t.name.startswith("hbd-names")]
        assert workers and all(t.daemon for t in workers)    # a hung look-up never holds exit
        with pytest.raises(LookupBusy, match="too many"):      # one pending is the most
            await cache.lookup(1000, 1000)
        slow.release.set()
        await until(lambda: cache.cached(NOBODY, NOBODY) is not None, what="the late answer")
        assert (await cache.lookup(NOBODY, NOBODY)).groups == frozenset({NOBODY, 4242})
    finally:
        slow.release.set()
        cache.close()


async def test_a_broken_name_service_grants_nothing_more():
    def broken(uid, gid):
        raise OSError("nss down")

    cache = NameCache(Accounts(user_name=lambda uid: None, groups_of=broken))
    try:
        peer = await cache.lookup(1000, 1000)
    finally:
        cache.close()
    assert peer.name is None and peer.groups == frozenset({1000})

"""hbd/notify.py with real processes: order, timeout kill, overflow, stdin/env."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from hbd.core.actions import Notice, NoticeKind
from hbd.notify import Hooks, event_of
from tests.waiting import until

ME = "node1"
IP = "IPaddr::192.168.32.21/24/eth0"

# a takeover and a failback, as node1's core reports them (hbd/core/cluster.py, ownership.py)
TAKEOVER_FAILBACK = [
    Notice(NoticeKind.NODE, "node0", "node node0: is dead (deadtime)",
           (("old", "active"), ("status", "dead"), ("reason", "deadtime"))),
    Notice(NoticeKind.HOLDER, IP, f"group {IP} held by nobody", (("holder", ""),)),
    Notice(NoticeKind.GROUP, IP, f"group {IP}: taking over (desired holder node1, primary node0)"),
    Notice(NoticeKind.GROUP, IP, f"group {IP} started",
           (("group", IP), ("resource", IP), ("result", "started"))),
    Notice(NoticeKind.NODE, "node0", "node node0: status up",
           (("old", "dead"), ("status", "up"), ("reason", ""))),
    Notice(NoticeKind.GROUP, IP, f"group {IP}: releasing (desired holder is node0)"),
    Notice(NoticeKind.GROUP, IP, f"group {IP} stopped",
           (("group", IP), ("resource", IP), ("result", "stopped"))),
    Notice(NoticeKind.NODE, "node0", "node node0: status active",
           (("old", "up"), ("status", "active"), ("reason", ""))),
]
EXPECTED = ["peer_dead", "group_gained", "peer_returned", "group_lost"]


def appender(path, tag):
    """A hook that appends `TAG <its stdin>` to `path`."""
    code = ("import sys, os; line = sys.stdin.read().strip(); "
            f"open({str(path)!r}, 'a').write({tag!r} + ' ' + os.environ['HBD_EVENT'] + ' ' "
            "+ line + '\\n')")
    return [sys.executable, "-c", code]


def records(path):
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        tag, env_event, doc = line.split(" ", 2)
        doc = json.loads(doc)
        assert doc["event"] == env_event
        out.append((tag, doc))
    return out


async def test_takeover_and_failback_fire_in_order_through_every_program(tmp_path):
    out = tmp_path / "events"
    hooks = Hooks([appender(out, "a"), appender(out, "b")], node=ME, timeout=20)
    hooks.start()
    for notice in TAKEOVER_FAILBACK:
        hooks.on_notice(notice)
    await asyncio.wait_for(hooks.queue.join(), 60)
    await hooks.close()
    got = records(out)
    assert [(tag, doc["event"]) for tag, doc in got] == [
        (tag, event) for event in EXPECTED for tag in ("a", "b")]
    docs = [doc for tag, doc in got if tag == "a"]
    assert [d["seq"] for d in docs] == [1, 2, 3, 4]
    dead, gained, back, lost = docs
    assert (dead["peer"], dead["reason"], dead["node"]) == ("node0", "deadtime", ME)
    assert gained["group"] == IP and "taking over" in gained["cause"]
    assert back["peer"] == "node0" and back["status"] == "up"
    assert lost["group"] == IP and lost["cause"].endswith("releasing (desired holder is node0)")
    assert all(d["schema"] == 1 and d["time"][:2] == "20" for d in docs)
    assert hooks.counters == {"queued": 4, "ok": 8}


def _hanging_hook(tmp_path, out):
    """Hangs (with a child of its own) on peer_dead; appends every other event."""
    script = tmp_path / "hook.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$HBD_EVENT" = peer_dead ]; then sleep 300 & echo $! > {tmp_path}/child.pid; '
        "sleep 300; fi\n"
        f'printf "%s %s " x "$HBD_EVENT" >> {out}; cat >> {out}\n')
    script.chmod(0o755)
    return [str(script)]


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as handle:           # a zombie is gone too
        return handle.read().split(")")[1].split()[0] == "Z"


async def test_a_hanging_hook_is_killed_with_its_group_and_later_events_still_run(tmp_path):
    out = tmp_path / "events"
    hooks = Hooks([_hanging_hook(tmp_path, out)], node=ME, timeout=0.5)
    hooks.start()
    for notice in TAKEOVER_FAILBACK:
        hooks.on_notice(notice)              # returns at once: the core is never held up
    assert hooks.queue.qsize() >= 3
    await asyncio.wait_for(hooks.queue.join(), 60)
    await hooks.close()
    assert [doc["event"] for _, doc in records(out)] == EXPECTED[1:]
    assert hooks.counters == {"queued": 4, "timeout": 1, "ok": 3}
    child = int((tmp_path / "child.pid").read_text())
    await until(lambda: _gone(child), timeout=10, what="the hook's own child to be killed too")


async def test_a_full_queue_drops_and_counts_and_never_blocks(tmp_path):
    out = tmp_path / "events"
    hooks = Hooks([_hanging_hook(tmp_path, out)], node=ME, timeout=0.5, queue_size=2)
    hooks.start()
    await asyncio.sleep(0)
    for notice in TAKEOVER_FAILBACK:         # 4 events; the queue holds 2
        hooks.on_notice(notice)
    await asyncio.wait_for(hooks.queue.join(), 60)
    await hooks.close()
    dropped = hooks.counters.get("dropped_queue_full", 0)
    assert dropped == 2 and hooks.counters["queued"] == 2
    assert [doc["seq"] for _, doc in records(out)] == [2]       # 1 hung; 3 and 4 dropped


async def test_missing_program_and_failing_program_are_logged_and_the_next_runs(tmp_path):
    out = tmp_path / "events"
    failing = [sys.executable, "-c", "import sys; sys.stderr.write('no pager'); sys.exit(3)"]
    hooks = Hooks([[str(tmp_path / "nope")], failing, appender(out, "a")], node=ME, timeout=20)
    hooks.start()
    hooks.on_notice(TAKEOVER_FAILBACK[0])
    await asyncio.wait_for(hooks.queue.join(), 60)
    await hooks.close()
    assert [doc["event"] for _, doc in records(out)] == ["peer_dead"]
    assert hooks.counters == {"queued": 1, "spawn_errors": 1, "failed": 1, "ok": 1}


async def test_close_kills_a_running_hook(tmp_path):
    out = tmp_path / "events"
    hooks = Hooks([_hanging_hook(tmp_path, out)], node=ME, timeout=300)
    hooks.start()
    hooks.on_notice(TAKEOVER_FAILBACK[0])
    pidfile = tmp_path / "child.pid"
    await until(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=20,
                what="the hook to start")
    await hooks.close(drain=0.2)
    child = int(pidfile.read_text())
    await until(lambda: _gone(child), timeout=10, what="the hook's child to be killed at close")


def test_events_of_notices():
    assert event_of(Notice(NoticeKind.NODE, ME, "node node1: shut down",
                           (("status", "dead"),)), ME) is None            # this node itself
    assert event_of(Notice(NoticeKind.NODE, "10.0.0.254", "ping node dead",
                           (("status", "dead"), ("reason", "deadping"))), ME) is None
    assert event_of(Notice(NoticeKind.NODE, "node0", "node node0 fenced (STONITH)",
                           (("status", "fenced"),)), ME) == {"event": "fence_ok", "peer": "node0"}
    assert event_of(Notice(NoticeKind.ERROR, "node0", "STONITH of node0 failed",
                           (("status", "unfenced"),)), ME) == {"event": "fence_failed",
                                                               "peer": "node0"}
    assert event_of(Notice(NoticeKind.ERROR, IP, "Giving up resources",
                           (("result", "start_failed"),)), ME)["event"] == "group_failed"
    assert event_of(Notice(NoticeKind.NODE, "node2", "node node2: status active",
                           (("old", "init"), ("status", "active"))), ME)["event"] == "peer_joined"
    assert event_of(Notice(NoticeKind.LINK, "node0", "Link node0:eth2 dead",
                           (("status", "dead"),)), ME) is None
    assert not Hooks([], node=ME).enabled

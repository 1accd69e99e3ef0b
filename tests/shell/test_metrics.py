"""hbd/metrics.py: what a scrape shows after a takeover and a failback, and the
endpoint over TCP (localhost) and a unix socket."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hbd.core.actions import Notice, NoticeKind
from hbd.core.status import (ClusterStatus, GroupState, GroupView, LinkStatus, NodeStatus,
                             NodeView)
from hbd.metrics import Metrics, MetricsServer
from tests.shell.test_notify import IP, TAKEOVER_FAILBACK

ME = "node1"


def snapshot(*, node0: NodeStatus, state: GroupState, holder: str | None,
             shutting_down: bool = False) -> ClusterStatus:
    link = LinkStatus.UP if node0 is not NodeStatus.DEAD else LinkStatus.DEAD
    nodes = (NodeView(ME, "normal", NodeStatus.ACTIVE, holds=(IP,) if holder == ME else ()),
             NodeView("node0", "normal", node0, links=(("eth2", link),),
                      holds=(IP,) if holder == "node0" else ()),
             NodeView("10.0.0.254", "ping", NodeStatus.PING))
    group = GroupView(IP, "node0", state, holder, holder, backups=(ME,))
    return ClusterStatus(ME, NodeStatus.ACTIVE, 7, True, shutting_down, "none",
                         "foreign" if state.holding else "none", nodes, (group,),
                         counters=(("packets_accepted", 120), ("dropped_replay", 2)))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(text: str, metric: str, /, **labels: str) -> float:
    return samples(text)[(metric, tuple(sorted(labels.items())))]


class Feed:
    """Plays the runtime: a snapshot per step, the notices, operation durations."""

    def __init__(self) -> None:
        self.status = snapshot(node0=NodeStatus.ACTIVE, state=GroupState.STOPPED, holder="node0")
        self.counters = {"runtime": {"packets_accepted": 118, "dropped_bad_auth": 3,
                                     "dropped_malformed": 1},
                         "media": {"received": 50, "received[eth2]": 50},
                         "control": {"served": 4}, "notify": {"ok": 2}}
        self.metrics = Metrics(ME, status=lambda: self.status, counters=lambda: self.counters,
                               clock=lambda: 100.0)


def test_a_takeover_and_a_failback_as_a_scrape_shows_them():
    feed = Feed()
    metrics = feed.metrics
    before = metrics.text()
    assert value(before, "hbd_group_held", group=IP, primary="node0") == 0
    assert value(before, "hbd_node_state", node="node0", type="normal", state="active") == 1
    assert value(before, "hbd_info", node=ME, version=__import__("hbd").__version__) == 1
    dead, _holder, _taking, started, back, _releasing, stopped, _active = TAKEOVER_FAILBACK
    feed.status = snapshot(node0=NodeStatus.DEAD, state=GroupState.STARTING, holder=ME)
    metrics.on_notice(dead)
    metrics.on_op_finished(IP, "start", 0.042, True)
    feed.status = snapshot(node0=NodeStatus.DEAD, state=GroupState.STARTED, holder=ME)
    metrics.on_notice(started)
    during = metrics.text()
    assert value(during, "hbd_takeovers_total", group=IP) == 1
    assert value(during, "hbd_group_held", group=IP, primary="node0") == 1
    assert value(during, "hbd_group_holder", group=IP, holder=ME) == 1
    assert value(during, "hbd_node_state", node="node0", type="normal", state="dead") == 1
    assert value(during, "hbd_link_up", node="node0", link="eth2") == 0
    assert value(during, "hbd_peer_deaths_total", peer="node0", reason="deadtime") == 1
    assert value(during, "hbd_node_holds_groups", node=ME) == 1
    feed.status = snapshot(node0=NodeStatus.UP, state=GroupState.STOPPING, holder=ME)
    metrics.on_notice(back)
    metrics.on_op_finished(IP, "stop", 0.3, True)
    metrics.on_op_finished(IP, "stop", 70.0, False)
    feed.status = snapshot(node0=NodeStatus.ACTIVE, state=GroupState.STOPPED, holder="node0")
    metrics.on_notice(stopped)
    after = metrics.text()
    assert value(after, "hbd_failbacks_total", group=IP) == 1
    assert value(after, "hbd_takeovers_total", group=IP) == 1
    assert value(after, "hbd_group_held", group=IP, primary="node0") == 0
    assert value(after, "hbd_group_state", group=IP, primary="node0", state="stopped") == 1
    ops = {"op": "stop", "group": IP, "result": "ok"}
    assert value(after, "hbd_operation_duration_seconds_count", **ops) == 1
    assert value(after, "hbd_operation_duration_seconds_bucket", le="0.5", **ops) == 1
    assert value(after, "hbd_operation_duration_seconds_bucket", le="0.25", **ops) == 0
    assert value(after, "hbd_operation_duration_seconds_bucket", le="+Inf", op="stop",
                 group=IP, result="failed") == 1
    assert value(after, "hbd_datagrams_dropped_total", reason="bad_auth") == 3
    assert value(after, "hbd_core_events_total", name="dropped_replay") == 2
    assert value(after, "hbd_medium_events_total", name="received", where="eth2") == 50
    assert value(after, "hbd_control_events_total", name="served") == 4
    assert value(after, "hbd_notify_events_total", name="ok") == 2
    assert value(after, "hbd_generation") == 7


def test_stops_at_shutdown_are_not_failbacks_and_fences_are_counted():
    feed = Feed()
    feed.status = snapshot(node0=NodeStatus.DEAD, state=GroupState.STOPPED, holder=None,
                           shutting_down=True)
    feed.metrics.on_notice(TAKEOVER_FAILBACK[6])
    feed.metrics.on_notice(Notice(NoticeKind.NODE, "node0", "node node0 fenced (STONITH)",
                                  (("status", "fenced"),)))
    feed.metrics.on_notice(Notice(NoticeKind.ERROR, "node0", "STONITH of node0 failed",
                                  (("status", "unfenced"),)))
    text = feed.metrics.text()
    assert ("hbd_failbacks_total", (("group", IP),)) not in samples(text)
    assert value(text, "hbd_group_stops_total", group=IP) == 1
    assert value(text, "hbd_fence_results_total", peer="node0", result="ok") == 1
    assert value(text, "hbd_fence_results_total", peer="node0", result="failed") == 1


def test_before_the_core_answers_only_the_process_metrics_show():
    metrics = Metrics(ME, status=lambda: None)
    text = metrics.text()
    assert "hbd_uptime_seconds" in text and "hbd_node_state" not in text


async def _get(open_connection, request: bytes) -> tuple[str, dict[str, str], bytes]:
    reader, writer = await open_connection()
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return lines[0], headers, body


async def test_endpoint_on_localhost_serves_text_and_openmetrics():
    feed = Feed()
    server = MetricsServer(feed.metrics, host="127.0.0.1", port=0)
    await server.start()
    host, port = server.address.rsplit(":", 1)
    try:
        def connect():
            return asyncio.open_connection(host, int(port))
        status, headers, body = await _get(connect, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == "HTTP/1.1 200 OK"
        assert headers["content-type"].startswith("text/plain; version=0.0.4")
        assert int(headers["content-length"]) == len(body)
        assert body.decode() == feed.metrics.text()
        status, headers, body = await _get(connect, b"GET /metrics HTTP/1.1\r\nAccept: "
                                           b"application/openmetrics-text; version=1.0.0\r\n\r\n")
        assert headers["content-type"].startswith("application/openmetrics-text")
        assert body.endswith(b"# EOF\n")
        async def status_of(request: bytes) -> str:
            return (await _get(connect, request))[0]
        assert (await status_of(b"GET /other HTTP/1.1\r\n\r\n")).endswith("404 Not Found")
        assert (await status_of(b"POST /metrics HTTP/1.1\r\n\r\n")).endswith("405 Method Not "
                                                                          "Allowed")
        assert (await status_of(b"GET /metrics\r\n" + b"x" * 70000)).endswith("400 Bad Request")
        assert server.counts == {"scrapes": 2, "bad_requests": 1}
    finally:
        await server.close()


async def test_endpoint_on_a_unix_socket_is_private(tmp_path):
    feed = Feed()
    path = str(tmp_path / "metrics.sock")
    server = MetricsServer(feed.metrics, path=path)
    await server.start()
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        status, _, body = await _get(lambda: asyncio.open_unix_connection(path),
                                     b"GET /metrics HTTP/1.0\r\n\r\n")
        assert status.endswith("200 OK") and b"hbd_node_state" in body
    finally:
        await server.close()
    assert not os.path.exists(path)


def test_server_needs_one_address():
    with pytest.raises(ValueError):
        MetricsServer(Metrics(ME, status=lambda: None), host="127.0.0.1")

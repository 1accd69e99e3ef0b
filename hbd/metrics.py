"""Prometheus/OpenMetrics metrics of one node (opt-in: hbd.cf `metrics`).

`Metrics` is fed by the runtime with what it already sees and renders the
exposition text on demand:

* state, read from the core's `ClusterStatus` snapshot at each scrape (node
  and link states, groups held, who holds what, the core's counters), and from
  the daemon's counters dicts (`Service.daemon_info()`: media, runtime, control);
* events, counted as they happen: `on_notice(notice)` (takeovers, failbacks,
  peer deaths, fence results) and `on_op_finished(group, op, seconds, ok)`
  (the resource-operation duration histogram).

`MetricsServer` serves `GET /metrics` over HTTP on a TCP address (localhost by
default) or a unix socket, on the daemon's event loop; rendering is
synchronous and small. `hbctl metrics` prints the same `render()` text.
Metric names and Grafana queries: docs/metrics.md.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import cast, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder, generate_latest

from hbd import __version__, logs

NODE_STATES = ("init", "up", "active", "dead", "ping")
GROUP_STATES = ("stopped", "starting", "started", "stopping", "stop_failed")
OP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _value(x: Any) -> str:
    return str(getattr(x, "value", x))


class _StateCollector:
    """Gauges and counters read from the snapshot at scrape time."""

    def __init__(self, owner: Metrics) -> None:
        self.owner = owner

    def collect(self) -> Iterator[Metric]:
        status = self.owner.status()
        yield from self.owner.info_metrics()
        if status is not None:
            yield from _status_metrics(status)
        yield from _counter_metrics(self.owner.counters())


def _status_metrics(status: Any) -> Iterator[Metric]:
    me = GaugeMetricFamily("hbd_node_state", "A node's status as this node sees it "
                           "(1 for its current state)", labels=["node", "type", "state"])
    links = GaugeMetricFamily("hbd_link_up", "1 if this node hears the peer on the link",
                              labels=["node", "link"])
    holds = GaugeMetricFamily("hbd_node_holds_groups", "Groups a node says it holds",
                              labels=["node"])
    for node in status.nodes:
        for node_state in NODE_STATES:
            me.add_metric([node.name, node.type, node_state],
                          float(_value(node.status) == node_state))
        for link, link_status in node.links:
            links.add_metric([node.name, link], float(_value(link_status) == "up"))
        holds.add_metric([node.name], float(len(node.holds)))
    yield from (me, links, holds)
    state = GaugeMetricFamily("hbd_group_state", "This node's state for a group (1 for "
                              "the current one)", labels=["group", "primary", "state"])
    held = GaugeMetricFamily("hbd_group_held", "1 if this node holds (or is starting or "
                             "stopping) the group", labels=["group", "primary"])
    holder = GaugeMetricFamily("hbd_group_holder", "1 for the node that holds the group, "
                               "as this node sees it", labels=["group", "holder"])
    for group in status.groups:
        for name in GROUP_STATES:
            state.add_metric([group.key, group.primary, name], float(_value(group.state) == name))
        held.add_metric([group.key, group.primary],
                        float(_value(group.state) != "stopped"))
        if group.holder:
            holder.add_metric([group.key, group.holder], 1.0)
    yield from (state, held, holder)
    flags = GaugeMetricFamily("hbd_comm_up", "1 once every peer was heard or declared dead")
    flags.add_metric([], float(status.comm_up))
    gen = GaugeMetricFamily("hbd_generation", "This node's generation (bumped at each start)")
    gen.add_metric([], float(status.generation))
    down = GaugeMetricFamily("hbd_shutting_down", "1 while the daemon releases to stop")
    down.add_metric([], float(status.shutting_down))
    core = CounterMetricFamily("hbd_core_events", "The core's counters (packets accepted, "
                               "dropped by reason, ...)", labels=["name"])
    for name, value in status.counters:
        core.add_metric([name], float(value))
    yield from (flags, gen, down, core)


def _counter_metrics(sections: Mapping[str, Any]) -> Iterator[Metric]:
    drops = CounterMetricFamily("hbd_datagrams_dropped", "Datagrams dropped before the core "
                                "(decode or authentication failures), by reason",
                                labels=["reason"])
    runtime = CounterMetricFamily("hbd_runtime_events", "The runtime's other counters",
                                  labels=["name"])
    for name, value in sorted((sections.get("runtime") or {}).items()):
        if name.startswith("dropped_"):
            drops.add_metric([name.removeprefix("dropped_")], float(value))
        else:
            runtime.add_metric([name], float(value))
    media = CounterMetricFamily("hbd_medium_events", "Media counters, per medium or link",
                                labels=["name", "where"])
    for key, value in sorted((sections.get("media") or {}).items()):
        name, _, where = key.partition("[")
        if isinstance(value, int):
            media.add_metric([name, where.rstrip("]") or "all"], float(value))
    yield from (drops, runtime, media)
    for section, help_text in (("control", "Control socket counters"),
                               ("notify", "notify hook counters")):
        family = CounterMetricFamily(f"hbd_{section}_events", help_text, labels=["name"])
        for name, value in sorted((sections.get(section) or {}).items()):
            family.add_metric([name], float(value))
        yield family


class Metrics:
    """The metrics of one node. `status` returns the core's snapshot (or None);
    `counters` returns the counters dicts (`{"runtime": {...}, "media": {...},
    "control": {...}, "notify": {...}}`), e.g. `Service.daemon_info`."""

    def __init__(self, node: str, *, status: Callable[[], Any],
                 counters: Callable[[], Mapping[str, Any]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self.status = status
        self.counters = counters or dict
        self.clock = clock
        self.started = clock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_StateCollector(self))
        r = self.registry
        self.takeovers = Counter("hbd_takeovers", "Groups this node started whose primary is "
                                 "another node", ["group"], registry=r)
        self.failbacks = Counter("hbd_failbacks", "Groups of another primary this node stopped "
                                 "while running on (handed back)", ["group"], registry=r)
        self.starts = Counter("hbd_group_starts", "Groups this node finished starting",
                              ["group"], registry=r)
        self.stops = Counter("hbd_group_stops", "Groups this node finished stopping",
                             ["group"], registry=r)
        self.failures = Counter("hbd_group_failures", "Starts rolled back and stops given up",
                                ["group", "result"], registry=r)
        self.deaths = Counter("hbd_peer_deaths", "Peers declared dead, by reason",
                              ["peer", "reason"], registry=r)
        self.fences = Counter("hbd_fence_results", "STONITH results", ["peer", "result"],
                              registry=r)
        self.ops = Histogram("hbd_operation_duration_seconds", "Resource operation durations",
                             ["group", "op", "result"], buckets=OP_BUCKETS, registry=r)

    def info_metrics(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("hbd_info", "This hbd: node name and version",
                                 labels=["node", "version"])
        info.add_metric([self.node, __version__], 1.0)
        up = GaugeMetricFamily("hbd_uptime_seconds", "Seconds since the daemon started")
        up.add_metric([], round(self.clock() - self.started, 3))
        yield from (info, up)

    # --- events -----------------------------------------------------------------------
    def on_notice(self, notice: Any) -> None:
        kind = _value(notice.kind)
        data = {k: _value(v) for k, v in notice.data}
        result, status_word = data.get("result"), data.get("status")
        if kind == "group" and result in ("started", "stopped"):
            self._group_done(notice.subject, result)
        elif kind == "error" and result in ("start_failed", "stop_failed"):
            self.failures.labels(notice.subject, result).inc()
        elif kind == "error" and status_word == "unfenced":
            self.fences.labels(notice.subject, "failed").inc()
        elif kind == "node" and status_word == "fenced":
            self.fences.labels(notice.subject, "ok").inc()
        elif kind == "node" and status_word == "dead" and notice.subject != self.node:
            self.deaths.labels(notice.subject, data.get("reason") or "unknown").inc()

    def _group_done(self, key: str, result: str) -> None:
        status = self.status()
        view = status.group_view(key) if status is not None else None
        foreign = view is not None and view.primary != self.node
        if result == "started":
            self.starts.labels(key).inc()
            if foreign:
                self.takeovers.labels(key).inc()
        else:
            self.stops.labels(key).inc()
            if foreign and not status.shutting_down:
                self.failbacks.labels(key).inc()

    def on_op_finished(self, group: str, op: str, seconds: float, ok: bool) -> None:
        self.ops.labels(group, _value(op), "ok" if ok else "failed").observe(max(0.0, seconds))

    # --- output -----------------------------------------------------------------------
    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition and its content type: OpenMetrics when `accept` asks for it."""
        if accept:
            encoder, content_type = choose_encoder(accept)
            return encoder(self.registry), content_type
        return generate_latest(self.registry), TEXT_TYPE

    def text(self) -> str:
        """The classic text format, for `hbctl metrics`."""
        return generate_latest(self.registry).decode()


MAX_HEAD = 8192
READ_TIMEOUT = 5.0
MAX_CLIENTS = 8


class MetricsServer:
    """`GET /metrics` on `host:port` or a unix socket `path` (mode 0600 unless told)."""

    def __init__(self, metrics: Metrics, *, host: str | None = None, port: int | None = None,
                 path: str | None = None, mode: int = 0o600) -> None:
        if (path is None) == (host is None or port is None):
            raise ValueError("give host and port, or path")
        self.metrics, self.host, self.port, self.path, self.mode = metrics, host, port, path, mode
        self.server: asyncio.AbstractServer | None = None
        self.clients = 0
        self.counts: dict[str, int] = {}
        self.log = logs.get("hbd.metrics").bind(node=metrics.node)

    @classmethod
    def for_endpoint(cls, metrics: Metrics, endpoint: Any) -> MetricsServer:
        """From hbd.cf's `metrics` value: an object with `path`, or `host` and `port`."""
        if getattr(endpoint, "path", None):
            return cls(metrics, path=endpoint.path)
        return cls(metrics, host=endpoint.host, port=int(endpoint.port))

    @property
    def address(self) -> str:
        if self.path:
            return f"unix:{self.path}"
        server = cast(asyncio.Server | None, self.server)
        sock = server.sockets[0].getsockname() if server else (self.host, self.port)
        return f"{sock[0]}:{sock[1]}"

    async def start(self) -> None:
        if self.path:
            if os.path.exists(self.path) and not os.path.isdir(self.path):
                os.unlink(self.path)
            old = os.umask(0o777 & ~self.mode)
            try:
                self.server = await asyncio.start_unix_server(self._serve, self.path)
            finally:
                os.umask(old)
            os.chmod(self.path, self.mode)
        else:
            self.server = await asyncio.start_server(self._serve, self.host, self.port)
        self.log.info("metrics endpoint open", address=self.address)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
            if self.path and os.path.exists(self.path):
                os.unlink(self.path)

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.clients >= MAX_CLIENTS:
            self._count("refused_busy")
            writer.close()
            return
        self.clients += 1
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            status, body, ctype = self._answer(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError, UnicodeDecodeError):
            self._count("bad_requests")
            status, body, ctype = "400 Bad Request", b"bad request\n", "text/plain"
        try:
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                         + body)
            await asyncio.wait_for(writer.drain(), READ_TIMEOUT)
        except (ConnectionError, TimeoutError):
            pass
        finally:
            self.clients -= 1
            writer.close()

    def _answer(self, head: bytes) -> tuple[str, bytes, str]:
        if len(head) > MAX_HEAD:
            raise UnicodeDecodeError("ascii", head, 0, 1, "request head too large")
        lines = head.decode("ascii").split("\r\n")
        method, target, _version = (lines[0].split(" ") + ["", "", ""])[:3]
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:] if line)}
        if method != "GET":
            return "405 Method Not Allowed", b"GET only\n", "text/plain"
        if target.split("?")[0] not in ("/metrics", "/"):
            return "404 Not Found", b"try /metrics\n", "text/plain"
        self._count("scrapes")
        body, ctype = self.metrics.render(headers.get("accept"))
        return "200 OK", body, ctype

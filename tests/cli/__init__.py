"""Shared pieces for the control-socket and hbctl tests.

`sample_status()` is a hand-built three-node view (node0 here, node1 a peer
with one dead link, a ping node); `serving()` runs a real ControlServer in
the test's event loop; `run_forked()` runs a function in a child process as
another user (nobody), so that SO_PEERCRED carries real foreign credentials;
`held_as_nobody()` keeps connections from such a child open while the test
goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

from hbd.config.hacf import parse_hacf
from hbd.config.model import ClusterConfig
from hbd.control import Authorizer, ControlServer, Handler, Request, answer
from hbd.core.events import AdminRequested
from hbd.core.status import (ClusterStatus, GroupState, GroupView, LinkStatus, NodeStatus,
                             NodeView)

NOBODY = 65534
EXTRA = {"pid": 4242, "uptime_s": 3600, "config_dir": "/etc/ha.d", "version": "0.1.0"}
# the ha.cf of sample_status(): heartbeat's API lists its nodes in reverse order
SAMPLE_HACF = ("keepalive 200ms\ndeadtime 2\nbcast eth0 eth2\nauto_failback on\n"
               "node node0\nnode node1\nping 10.0.0.254\n")


def sample_config() -> ClusterConfig:
    hacf, _ = parse_hacf(SAMPLE_HACF)
    return ClusterConfig("node0", hacf)


def sample_status() -> ClusterStatus:
    """node0 (this node) holds web, node1 holds db, a ping node answers."""
    nodes = (
        NodeView("node0", "normal", NodeStatus.ACTIVE, generation=7, holds=("web",),
                 pings=1, is_hbd=True),
        NodeView("node1", "normal", NodeStatus.ACTIVE,
                 links=(("eth0", LinkStatus.UP), ("eth2", LinkStatus.DEAD)),
                 generation=3, holds=("db",), pings=1, is_hbd=True),
        NodeView("10.0.0.254", "ping", NodeStatus.PING),
    )
    groups = (
        GroupView("web", "node0", GroupState.STARTED, holder="node0", desired="node0",
                  backups=("node1",)),
        GroupView("db", "node1", GroupState.STOPPED, holder="node1", desired="node1",
                  backups=("node0",)),
    )
    return ClusterStatus("node0", NodeStatus.ACTIVE, 7, True, False, "none", "local",
                         nodes, groups, (("packets_bad", 2), ("packets_in", 120)))


class FakeDaemon:
    """A handler that answers like the runtime will: `answer()` over a fixed status."""

    def __init__(self, status: ClusterStatus | None = None,
                 config: ClusterConfig | None = None) -> None:
        self.status = status or sample_status()
        self.config = config or sample_config()
        self.requests: list[Request] = []
        self.admin: list[AdminRequested] = []

    async def __call__(self, request: Request) -> Any:
        self.requests.append(request)
        result = answer(request, self.status, extra=EXTRA, config=self.config)
        if isinstance(result, AdminRequested):
            self.admin.append(result)
            return {"message": f"{result.verb.value} {result.which.value} requested"}
        return result


@contextlib.asynccontextmanager
async def serving(path: str, handler: Handler, *, authorizer: Authorizer | None = None,
                  **kwargs: Any) -> AsyncIterator[ControlServer]:
    server = ControlServer(path, handler, authorizer=authorizer or Authorizer(), **kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def _child(fn: Callable[[], Any], cwd: str, write_fd: int) -> None:
    """In the forked child: become nobody, run fn, send back (result, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        os.chdir(cwd)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            result = fn()
        payload = {"result": result, "stdout": out.getvalue(), "stderr": err.getvalue()}
    except BaseException as exc:  # report, never return into pytest
        payload = {"error": repr(exc), "stdout": out.getvalue(), "stderr": err.getvalue()}
    os.write(write_fd, json.dumps(payload).encode())
    os._exit(0)


def _collect(pid: int, read_fd: int) -> dict[str, Any]:
    chunks = []
    with os.fdopen(read_fd, "rb") as pipe:
        while chunk := pipe.read(65536):
            chunks.append(chunk)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks) or b'{"error": "child sent nothing"}')


async def run_forked(fn: Callable[[], Any], cwd: str) -> dict[str, Any]:
    """Run `fn()` as uid/gid nobody in `cwd` while this loop keeps serving.

    `fn` must not use asyncio (it runs in a forked copy of this process); paths
    it uses should be relative to `cwd`, which the parent may keep private.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(fn, cwd, write_fd)
    os.close(write_fd)
    return await asyncio.to_thread(_collect, pid, read_fd)


def _hold(cwd: str, count: int, payload: bytes, ready_fd: int, release_fd: int) -> None:
    """In the forked child: become nobody, open `count` connections, wait, exit."""
    held = []
    try:
        os.chdir(cwd)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        for _ in range(count):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect("hbd.sock")
            if payload:
                with contextlib.suppress(OSError):    # it may have been answered already
                    sock.sendall(payload)
            held.append(sock)
        os.write(ready_fd, str(len(held)).encode())
        os.read(release_fd, 1)
    finally:
        os._exit(0)


@contextlib.asynccontextmanager
async def held_as_nobody(cwd: str, count: int, payload: bytes = b"") -> AsyncIterator[int]:
    """A child process, as nobody, holds `count` connections to `cwd`/hbd.sock (sending
    `payload` on each, nothing by default) until the block ends; yields how many it
    opened."""
    ready_r, ready_w = os.pipe()
    release_r, release_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(release_w)
        _hold(cwd, count, payload, ready_w, release_r)
    os.close(ready_w)
    os.close(release_r)
    try:
        opened = await asyncio.to_thread(os.read, ready_r, 16)
        yield int(opened or b"0")
    finally:
        with contextlib.suppress(OSError):
            os.write(release_w, b"x")
        os.close(release_w)
        os.close(ready_r)
        await asyncio.to_thread(os.waitpid, pid, 0)

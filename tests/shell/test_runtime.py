"""The asyncio shell with fake edges: two Runtimes joined by an in-memory wire.

Real event loop, real codec, real cores; the "network" hands each encoded
datagram to the other runtime with `call_soon`, and the executor finishes
every operation at once. Timings are short (keepalive 50 ms) and every wait is
on a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from hbd.config.model import AuthKeys

from hbd.core.cluster import Cluster
from hbd.core.events import ProbeFinished, ResourceOpFinished, ShutdownRequested, Started
from hbd.runtime import Runtime
from tests.sim.configs import group, make_config
from tests.waiting import until

NODES = ("alpha", "beta")
GROUPS = (group("alpha", "IPaddr::10.0.0.5/24/eth0", "Hostname::web"),)
# short keepalive, but a deadtime long enough that a loaded machine (xdist, a
# benchmark) stalling the loop cannot look like a death
TIMINGS = dict(keepalive=0.05, deadtime=3.0, warntime=1.5, initdead=0.6, ping=())


class FakeExecutor:
    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self.ops: list[tuple[str, str]] = []
        self.fail: set[str] = set()
        self.probes: list[str] = []

    def submit(self, action) -> None:
        """A step (one resource or an identity block) finishes at once; recorded one
        entry per resource, in the order they go (a stop goes right to left)."""
        order = action.resources if action.op.value != "stop" else action.resources[::-1]
        self.ops += [(action.op.value, r.spec) for r in order]
        ok = not any(f"{action.op.value} {r.spec}" in self.fail for r in action.resources)
        asyncio.get_running_loop().call_soon(
            self.runtime.feed, ResourceOpFinished(action.op_id, ok, "" if ok else "boom"))

    def reannounce(self, group) -> None:
        pass

    def probe(self, action, wait, on_finished) -> None:
        self.probes.append(action.group)
        on_finished(ProbeFinished(action.op_id, False))





def make_pair(keys=None):
    loop = asyncio.get_running_loop()
    runtimes: dict[str, Runtime] = {}
    executors: dict[str, FakeExecutor] = {}
    saved: dict[str, list[int]] = {n: [] for n in NODES}
    for name in NODES:
        config = make_config(name, NODES, GROUPS, **TIMINGS)
        if keys:
            from dataclasses import replace
            config = replace(config, authkeys=keys[name])
        other = [n for n in NODES if n != name][0]
        cluster = Cluster(config, generation=1, uuid=name.encode().ljust(16, b"-"),
                          now=loop.time(), rng=random.Random(1))
        executors[name] = FakeExecutor()
        runtimes[name] = Runtime(
            cluster, executor=executors[name], save_generation=saved[name].append,
            send_bytes=lambda data, o=other: loop.call_soon(
                runtimes[o].on_datagram, data, "eth0", ("10.0.0.1", 694)))
        executors[name].runtime = runtimes[name]
    return runtimes, executors, saved


def statuses(runtime):
    return {n.name: n.status.value for n in runtime.status().nodes}


async def test_two_runtimes_join_and_the_primary_starts_its_group():
    runtimes, executors, saved = make_pair()
    for runtime in runtimes.values():
        runtime.feed(Started())
    await until(lambda: statuses(runtimes["alpha"]).get("beta") == "active"
                and statuses(runtimes["beta"]).get("alpha") == "active")
    await until(lambda: runtimes["alpha"].status().held() == ("IPaddr::10.0.0.5/24/eth0",))
    assert executors["alpha"].ops == [("start", "IPaddr::10.0.0.5/24/eth0"),
                                      ("start", "Hostname::web")]
    assert executors["beta"].ops == []
    assert saved == {"alpha": [2], "beta": [2]}
    assert runtimes["beta"].counters["packets_accepted"] > 0
    for runtime in runtimes.values():
        runtime.close()


async def test_generation_is_saved_before_the_first_send():
    loop = asyncio.get_running_loop()
    order = []
    config = make_config("alpha", NODES, GROUPS, **TIMINGS)
    cluster = Cluster(config, generation=7, uuid=b"a" * 16, now=loop.time(), rng=random.Random(1))
    runtime = Runtime(cluster, executor=FakeExecutor(),
                      save_generation=lambda g: order.append(("save", g)),
                      send_bytes=lambda data: order.append(("send", len(data))))
    runtime.feed(Started())
    assert order[0] == ("save", 8) and order[1][0] == "send"
    runtime.close()


async def test_datagrams_with_a_wrong_key_are_dropped_and_counted():
    keys = {"alpha": AuthKeys.single("sha1", "one"), "beta": AuthKeys.single("sha1", "two")}
    runtimes, _, _ = make_pair(keys)
    for runtime in runtimes.values():
        runtime.feed(Started())
    await until(lambda: runtimes["alpha"].counters.get("dropped_auth_failed", 0) >= 3)
    runtimes["alpha"].on_datagram(b"garbage", "eth0", ("10.0.0.9", 694))
    assert runtimes["alpha"].counters.get("dropped_bad_magic") == 1
    assert "beta" not in [n.name for n in runtimes["alpha"].status().nodes
                          if n.status.value == "active"]
    for runtime in runtimes.values():
        runtime.close()


async def test_shutdown_releases_in_reverse_order_then_finishes():
    runtimes, executors, _ = make_pair()
    for runtime in runtimes.values():
        runtime.feed(Started())
    await until(lambda: runtimes["alpha"].status().held())
    await until(lambda: len(executors["alpha"].ops) == 2)
    runtimes["alpha"].feed(ShutdownRequested())
    assert await asyncio.wait_for(runtimes["alpha"].finished, 5) == 0
    assert executors["alpha"].ops[2:] == [("stop", "Hostname::web"),
                                          ("stop", "IPaddr::10.0.0.5/24/eth0")]
    await until(lambda: runtimes["beta"].status().held() == ("IPaddr::10.0.0.5/24/eth0",))
    for runtime in runtimes.values():
        runtime.close()


async def test_an_exception_in_the_core_fails_the_runtime():
    runtimes, _, _ = make_pair()
    runtime = runtimes["alpha"]
    runtime.feed(Started())

    class Bogus:
        pass
    runtime.feed(Bogus())      # the core raises TypeError for an unknown event
    with pytest.raises(TypeError):
        await asyncio.wait_for(runtime.finished, 1)
    runtime.feed(Started())    # ignored from now on
    for r in runtimes.values():
        r.close()

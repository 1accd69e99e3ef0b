"""A deterministic, discrete-event simulation of an hbd cluster.

Several real `Cluster` cores run on a fake clock and a fake network; the cost
depends on the number of events, not on simulated seconds. Everything random
comes from one `random.Random(seed)`: the network, resource-operation
durations, chaos schedules, and each core's own rng (derived as
`random.Random(master.getrandbits(64))`), so a seed replays exactly.

Pieces (see STYLE.md, "The deterministic multi-node simulation"):

* Clock and queue: `sim.now` and a heap of `(at, seq, kind, payload)`; `seq`
  breaks ties. `step()` pops one item: a packet delivery, a node's timer, a
  resource-operation completion, a ping tick or a scheduled call.
* Network: one `Link` per directed pair (up, loss, delay, duplicate, replay,
  held). Vocabulary: `partition`, `partition_oneway`, `heal`, `isolate`,
  `set_loss`, `set_loss_all`, `set_delay`, `hold`/`release`, `swizzle`,
  `unplug`/`plug`, and a per-node gateway (`cut_gateway`/`restore_gateway`)
  standing for the ping node. A `Send` goes out on every medium of the sender
  to every other node, in sorted order (bcast: the core filters on `dest`).
* Nodes: `start`, `stop` (graceful), `restart`, `power_off` (resources vanish),
  `kill_daemon` (resources stay: split brain until restart; a restart first
  clears them, which is hbd's crash recovery), `freeze`/`thaw` (kernel crash:
  nothing processed; on thaw the overdue timer fires, then queued input).
* Resources: `FakeResources` per node; ops finish after an rng-drawn delay;
  `fail_next(node, spec, op)` injects failures. The "segment" (`holders()`)
  says which nodes physically hold each group, IP and MAC.
* `Auditor`: after every step, records every interval in which two nodes hold
  the same group/IP/MAC, and raises `InvariantViolation` (seed + last 50 trace
  lines) if that happens while the cluster has been clean (all links up, no
  loss, nobody frozen/killed) for longer than deadtime + keepalive + 1 s.
* Trace: `t=12.000 node1: node node0 dead ...` lines from the cores' notices
  and the harness's own actions; `trace_digest()` is their sha256.
"""

from __future__ import annotations

import enum
import hashlib
import heapq
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Mapping

from hbd.config.model import ClusterConfig, medium_name
from hbd.core.actions import (Fence, FenceSelf, Notice, Probe, Reannounce, RunResourceOp,
                              SaveGeneration, SavePeerGenerations, Send, ShutdownComplete)
from hbd.core.events import (AdminRequested, AdminVerb, CarrierChanged, FenceFinished, GroupSet,
                             PacketReceived, PingReplied, ProbeFinished, ResourceOpFinished,
                             ResourceOpKind, ShutdownRequested, Started, TimerFired)
from hbd.core.groups import interfaces
from tests.sim.configs import SCENARIO, scenario_configs

WALL_OFFSET = 1_800_000_000.0
LAN_DELAY = (0.0002, 0.002)          # one-way delay of a healthy link, seconds
DEFAULT_OP_TIME = (0.005, 0.050)     # resource operation durations, seconds
OP_TIMES = {"MacAddr": (0.020, 0.020)}
BLOCK_OP_TIME = (0.006, 0.020)       # one identity move (bench/identity_floor.py: 8-13 ms)
INBOX_LIMIT = 256                    # socket buffer of a frozen node, in packets
PROBE_WAIT = 0.005                   # an ARP probe's listening time, seconds


class InvariantViolation(AssertionError):
    pass


class CoreLivelock(RuntimeError):
    """After TimerFired the core still asks for the same past deadline (a busy loop
    in the real runtime)."""


# --- network ---------------------------------------------------------------------

@dataclass
class Link:
    """One direction between two nodes (all media share it; draws are per medium)."""

    up: bool = True
    loss: float = 0.0
    delay: tuple[float, float] = LAN_DELAY
    duplicate: float = 0.0
    replay: float = 0.0
    held: bool = False
    queue: list = field(default_factory=list)                    # held packets
    history: deque = field(default_factory=lambda: deque(maxlen=32))  # for replays

    @property
    def clean(self) -> bool:
        return (self.up and not self.held and self.loss == 0.0
                and self.duplicate == 0.0 and self.replay == 0.0)

    def reset(self) -> None:
        self.up, self.loss, self.delay = True, 0.0, LAN_DELAY
        self.duplicate = self.replay = 0.0


# --- resources -------------------------------------------------------------------

def physical_keys(spec: str) -> list[str]:
    """What a resource occupies on the shared segment: `ip:ADDR`, `mac:ADDR`."""
    name, _, rest = spec.partition("::")
    if name == "IPaddr" or name == "IPaddr2":
        return [f"ip:{rest.split('/')[0].split('::')[0]}"]
    if name == "MacAddr":
        return [f"mac:{rest.split('::')[-1].upper()}"]
    return []


class FakeResources:
    """The resources one node has configured, keyed by (group, spec).

    A start counts as held from the moment it begins (the IP may be up before
    the script returns); a stop counts as held until it finishes. A failed
    start leaves nothing behind; a failed stop leaves the resource held.
    """

    def __init__(self, node: str, rng: random.Random,
                 op_times: Mapping[str, tuple[float, float]]) -> None:
        self.node = node
        self.rng = rng
        self.op_times = op_times
        self.state: dict[tuple[str, str], str] = {}   # -> "starting"/"started"/"stopping"
        self.failures: dict[tuple[str, str], int] = {}

    def begin(self, op: RunResourceOp) -> tuple[float, bool, str]:
        """Begin one step: a resource, or a block of identity resources (one move:
        one duration, and a failure of any part fails the whole block)."""
        kind = op.op
        if len(op.resources) > 1:
            lo, hi = self.op_times.get("block", BLOCK_OP_TIME)
        else:
            name = op.resource.name
            lo, hi = self.op_times.get(name, self.op_times.get("*", DEFAULT_OP_TIME))
        duration = self.rng.uniform(lo, hi)
        fail = False
        for r in op.resources:
            left = self.failures.get((r.spec, kind.value), 0)
            if left:
                self.failures[(r.spec, kind.value)] = left - 1
                fail = True
        keys = [(op.group, r.spec) for r in op.resources]
        if kind is ResourceOpKind.START:
            for key in keys:
                self.state[key] = "starting"
            return duration, not fail, "injected failure" if fail else ""
        if kind is ResourceOpKind.STOP:
            for key in keys:
                if key in self.state:
                    self.state[key] = "stopping"
            return duration, not fail, "injected failure" if fail else ""
        running = all(self.state.get(key) == "started" for key in keys)
        return duration, running and not fail, "running" if running else "stopped"

    def finish(self, op: RunResourceOp, ok: bool) -> None:
        for r in op.resources:
            key = (op.group, r.spec)
            if op.op is ResourceOpKind.START:
                if ok:
                    self.state[key] = "started"
                else:
                    self.state.pop(key, None)
            elif op.op is ResourceOpKind.STOP:
                if ok:
                    self.state.pop(key, None)
                elif key in self.state:
                    self.state[key] = "started"

    def settle(self) -> None:
        """The daemon died mid-operation: whatever was begun stays configured."""
        for key in self.state:
            self.state[key] = "started"

    def clear(self) -> None:
        self.state.clear()

    def groups(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for group, spec in self.state:
            out.setdefault(group, set()).add(spec)
        return out

    def keys(self) -> set[str]:
        keys = set()
        for group, spec in self.state:
            keys.add(f"group:{group}")
            keys.update(physical_keys(spec))
        return keys


# --- nodes -----------------------------------------------------------------------

class NodeState(enum.Enum):
    DOWN = "down"          # never started, powered off, or exited
    RUNNING = "running"
    FROZEN = "frozen"      # kernel hung: nothing runs, resources stay
    KILLED = "killed"      # daemon died: resources stay until restart


@dataclass
class SimNode:
    name: str
    config: ClusterConfig
    seeds: random.Random
    resources: FakeResources
    state: NodeState = NodeState.DOWN
    core: Any = None
    incarnation: int = 0
    disk: dict = field(default_factory=dict)
    inbox: list = field(default_factory=list)
    timer_at: float | None = None
    timer_token: int = 0
    plugged: bool = True                        # every cable (today's `unplug` pulls all)
    service: bool = True                        # the service LAN cable (eth0)
    hb: bool = True                             # the heartbeat LAN (cable or switch)
    hb_carrier: bool = True                     # its interface has link (a cable, not a switch)
    arp: bool = True                            # the kernel answers ARP (not crashed)
    gateway: bool = True
    unreachable: set = field(default_factory=set)  # ping addresses it cannot reach
    reannounced: list = field(default_factory=list)
    keys: set = field(default_factory=set)      # segment keys currently held
    spin: int = 0                               # consecutive TimerFired at one deadline
    last_fire: float | None = None

    @property
    def media(self) -> tuple[str, ...]:
        return tuple(medium_name(m) for m in self.config.hacf.media) or ("eth2",)

    @property
    def service_ifaces(self) -> tuple[str, ...]:
        out: set[str] = set()
        for g in self.config.groups:
            out |= interfaces(g)
        return tuple(sorted(out))

    @property
    def on_service_lan(self) -> bool:
        return self.plugged and self.service

    @property
    def on_hb_lan(self) -> bool:
        return self.plugged and self.hb


@dataclass(frozen=True)
class Overlap:
    key: str                 # "group:<key>", "ip:<addr>" or "mac:<addr>"
    start: float
    end: float | None
    nodes: tuple[str, ...]


class Auditor:
    """Watches the segment for two physical holders of one group, IP or MAC."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.open: dict[str, tuple[float, set[str]]] = {}
        self.overlaps: list[Overlap] = []

    def update(self, key: str, holders: set[str], now: float) -> None:
        if len(holders) > 1:
            start, nodes = self.open.get(key, (now, set()))
            self.open[key] = (start, nodes | holders)
        elif key in self.open:
            start, nodes = self.open.pop(key)
            self.overlaps.append(Overlap(key, start, now, tuple(sorted(nodes))))

    def all_overlaps(self) -> list[Overlap]:
        current = [Overlap(k, s, None, tuple(sorted(n))) for k, (s, n) in self.open.items()]
        return self.overlaps + current

    def check(self) -> None:
        sim = self.sim
        if not self.open or not sim.strict or not sim.armed():
            return
        key, (start, nodes) = next(iter(sorted(self.open.items())))
        raise InvariantViolation(
            f"{key} physically held by {sorted(nodes)} since t={start:.3f} although the "
            f"cluster has been clean since t={sim.clean_since:.3f} "
            f"(window {sim.window:.1f}s)\n{sim.report()}")


# --- chaos -----------------------------------------------------------------------

@dataclass(frozen=True)
class Faults:
    """What `Sim.chaos()` may do, and how often (probabilities per segment)."""

    loss: float = 0.3              # max loss probability of a degraded link
    delay: float = 0.3             # max one-way delay of a slow link, seconds
    duplicate: float = 0.05
    replay: float = 0.02
    partitions: float = 0.3        # a partition (pair, one-way, isolate) this segment
    asymmetric: bool = True        # allow one-way partitions
    crashes: float = 0.2           # one running node fails this segment
    restarts: float = 0.5          # each failed node comes back this segment
    kinds: tuple[str, ...] = ("power_off", "kill_daemon", "freeze", "stop", "unplug")
    gateway: float = 0.1           # a node loses its ping node this segment
    start_failures: float = 0.05   # a resource start will fail on some node
    calm: float = 0.45             # this segment has no link faults at all
    segment: tuple[float, float] = (1.0, 12.0)


# --- the simulation ----------------------------------------------------------------

def default_core_factory(config, **kw):
    from hbd.core.cluster import Cluster
    return Cluster(config, **kw)


class Sim:
    def __init__(self, configs: Mapping[str, ClusterConfig], seed: int = 0, *,
                 core_factory: Callable[..., Any] | None = None,
                 op_times: Mapping[str, tuple[float, float]] | None = None,
                 autostart: bool = True, wall_offset: float = WALL_OFFSET,
                 ping_interval: float | None = None, trace_ops: bool = True,
                 strict: bool = True, on_spin: str = "raise",
                 wire: Callable[[Any, ClusterConfig], Any] | None = None,
                 policy: Any = None, carrier: bool = True) -> None:
        self.seed = seed
        self.policy = policy          # hbd.core.policy.Policy for every core (None: default)
        self.carrier = carrier        # cable pulls reach the cores as carrier changes
        self.strict = strict          # False: the auditor records overlaps but never raises
        self.on_spin = on_spin        # "raise" CoreLivelock, or "park" the stuck timer
        self.wire = wire              # optional Message -> Message (e.g. a codec round trip)
        self.now = 0.0
        self.rng = random.Random(seed)
        self.net_rng = random.Random(self.rng.getrandbits(64))
        self.chaos_rng = random.Random(self.rng.getrandbits(64))
        self.core_factory = core_factory or default_core_factory
        self.wall_offset = wall_offset
        self.trace_ops = trace_ops
        self.op_times = {**OP_TIMES, **(op_times or {})}
        self.names = sorted(configs)
        self.nodes: dict[str, SimNode] = {}
        for name in self.names:   # fixed derivation order: sorted names
            seeds = random.Random(self.rng.getrandbits(64))
            res = FakeResources(name, random.Random(self.rng.getrandbits(64)), self.op_times)
            self.nodes[name] = SimNode(name, configs[name], seeds, res)
        self.links = {(a, b): Link() for a in self.names for b in self.names if a != b}
        cfgs = list(configs.values())
        self.keepalive = min(c.keepalive for c in cfgs)
        self.deadtime = max(c.deadtime for c in cfgs)
        self.window = max(c.deadtime + c.keepalive for c in cfgs) + 1.0
        self.ping_interval = ping_interval or self.keepalive
        self.groups = {}
        for c in cfgs:
            for g in c.groups:
                self.groups.setdefault(g.key, g)
        self.trace: list[str] = []
        self.notices: list[tuple[float, str, Notice]] = []
        self.fences: list[tuple[float, str, str]] = []            # (t, fencer, target)
        self.fence_holdings: list[tuple[float, str, str, tuple[str, ...]]] = []
        self.probes: list[tuple[float, str, str, bool]] = []      # (t, node, group, answered)
        self.self_fences: list[tuple[float, str, str]] = []       # (t, node, method)
        self.ops: list[dict] = []
        self.auditor = Auditor(self)
        self.holders_map: dict[str, set[str]] = {}
        self.clean_since: float | None = 0.0
        self.last_status_rx: dict[tuple[str, str], float] = {}   # (source, target) -> t
        self.last_ping: dict[str, float] = {}                     # node -> last PingReplied
        self._chaos_failing: str | None = None
        self.steps = 0
        self._heap: list = []
        self._seq = 0
        if autostart:
            for name in self.names:
                self.start(name)

    # --- queue ------------------------------------------------------------------
    def _push(self, at: float, kind: str, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, payload))

    def at(self, t: float, fn: Callable[[], Any]) -> None:
        """Run `fn()` at simulated time `t`."""
        self._push(max(t, self.now), "call", fn)

    def after(self, dt: float, fn: Callable[[], Any]) -> None:
        self.at(self.now + dt, fn)

    def step(self) -> bool:
        if not self._heap:
            return False
        at, _, kind, payload = heapq.heappop(self._heap)
        self.now = max(self.now, at)
        self.steps += 1
        getattr(self, "_on_" + kind)(payload)
        self.auditor.check()
        return True

    def run_for(self, seconds: float) -> float:
        end = self.now + seconds
        while self._heap and self._heap[0][0] <= end:
            self.step()
        self.now = end
        self.auditor.check()
        return self.now

    def run_until(self, predicate: Callable[[], bool], timeout: float) -> float:
        """Step until `predicate()` holds; return the time. Raises after `timeout`."""
        end = self.now + timeout
        if predicate():
            return self.now
        while self._heap and self._heap[0][0] <= end:
            self.step()
            if predicate():
                return self.now
        self.now = end
        raise TimeoutError(f"condition not met within {timeout}s\n{self.report()}")

    # --- tracing ------------------------------------------------------------------
    def log(self, who: str, text: str) -> None:
        self.trace.append(f"t={self.now:.3f} {who}: {text}")

    def trace_digest(self) -> str:
        h = hashlib.sha256()
        for line in self.trace:
            h.update(line.encode())
            h.update(b"\n")
        return h.hexdigest()

    def report(self, lines: int = 50) -> str:
        states = ", ".join(f"{n}={self.nodes[n].state.value}" for n in self.names)
        owners = ", ".join(f"{k.split('::')[1].split('/')[0]}: owners={self.owners(k)} "
                           f"holders={self.holders(k)}" for k in self.groups)
        tail = "\n".join(self.trace[-lines:])
        return (f"seed={self.seed} t={self.now:.3f} steps={self.steps}\n"
                f"nodes: {states}\ngroups: {owners}\n--- last {lines} trace lines ---\n{tail}")

    def notice_times(self, node: str, kind: str, subject: str | None = None,
                     since: float = 0.0, **data: str) -> list[float]:
        out = []
        for t, who, n in self.notices:
            if who != node or n.kind != kind or t < since:
                continue
            if subject is not None and n.subject != subject:
                continue
            if all(n.get(k) == v for k, v in data.items()):
                out.append(t)
        return out

    def op_log(self, node: str | None = None, op: str | None = None, group: str | None = None,
               since: float = 0.0) -> list[dict]:
        return [o for o in self.ops if (node is None or o["node"] == node)
                and (op is None or o["op"] == op) and (group is None or o["group"] == group)
                and o["begin"] >= since]

    # --- the segment ------------------------------------------------------------------
    def holders(self, group_key: str) -> list[str]:
        """Nodes that physically hold any resource of the group (the auditor's view)."""
        return sorted(self.holders_map.get(f"group:{group_key}", ()))

    def owners(self, group_key: str) -> list[str]:
        """Nodes that have every resource of the group started."""
        specs = {r.spec for r in self.groups[group_key].resources}
        out = []
        for name in self.names:
            res = self.nodes[name].resources
            if all(res.state.get((group_key, s)) == "started" for s in specs):
                out.append(name)
        return out

    def partial_holders(self, group_key: str) -> list[str]:
        full = set(self.owners(group_key))
        return [n for n in self.holders(group_key) if n not in full]

    def held_by(self, name: str) -> list[str]:
        return [k for k in self.groups if name in self.owners(k)]

    def _resources_changed(self, node: SimNode) -> None:
        # An unplugged node's addresses are not on the segment: no conflict while out.
        keys = node.resources.keys() if node.on_service_lan else set()
        for key in sorted(keys ^ node.keys):
            holders = self.holders_map.setdefault(key, set())
            if key in keys:
                holders.add(node.name)
            else:
                holders.discard(node.name)
            self.auditor.update(key, holders, self.now)
        node.keys = keys

    # --- cleanliness (arms the auditor) ---------------------------------------------------
    def _dirty(self) -> bool:
        for node in self.nodes.values():
            if not (node.plugged and node.service and node.hb and node.arp):
                return True
            if node.state in (NodeState.FROZEN, NodeState.KILLED):
                return True
            if node.state is NodeState.DOWN and node.resources.state:
                return True
        return any(not link.clean for link in self.links.values())

    def disturb(self) -> None:
        """Something changed the network or a node: the clean period restarts."""
        self.clean_since = None if self._dirty() else self.now

    def armed(self) -> bool:
        return self.clean_since is not None and self.now - self.clean_since > self.window

    # --- nodes --------------------------------------------------------------------------
    def core(self, name: str):
        return self.nodes[name].core

    def status(self, name: str):
        core = self.nodes[name].core
        return None if core is None else core.status()

    def start(self, name: str) -> None:
        node = self.nodes[name]
        if node.state is NodeState.KILLED:
            self._recover(node)
        if node.state is not NodeState.DOWN:
            raise RuntimeError(f"cannot start {name}: it is {node.state.value}")
        node.incarnation += 1
        node.inbox.clear()
        node.arp = True
        node.timer_at, node.timer_token = None, node.timer_token + 1
        generation = node.disk.get("generation", 0)
        extra: dict[str, Any] = {} if self.policy is None else {"policy": self.policy}
        if "peers" in node.disk:
            extra["peer_generations"] = node.disk["peers"]
        node.core = self.core_factory(
            node.config, generation=generation, uuid=hashlib.md5(name.encode()).digest(),
            now=self.now, rng=random.Random(node.seeds.getrandbits(64)),
            wall_offset=self.wall_offset, **extra)
        node.state = NodeState.RUNNING
        self.log("sim", f"start {name} (generation on disk {generation})")
        self.disturb()
        self._feed(node, Started())
        for iface, up in self._carrier_of(node):      # the shell reports what is down
            if not up and node.state is NodeState.RUNNING:
                self._feed(node, CarrierChanged(iface, False))
        self._push(self.now + node.seeds.uniform(0, self.ping_interval), "ping",
                   (name, node.incarnation))

    def _recover(self, node: SimNode) -> None:
        """hbd's crash recovery at start: release whatever a dead daemon left configured."""
        if node.resources.state:
            self.log(node.name, "crash recovery: releasing " + ", ".join(
                sorted(f"{s}" for _, s in node.resources.state)))
        node.resources.clear()
        self._resources_changed(node)
        node.state = NodeState.DOWN

    def _gone(self, node: SimNode, state: NodeState) -> None:
        node.core = None
        node.state = state
        node.incarnation += 1
        node.timer_at, node.timer_token = None, node.timer_token + 1
        node.inbox.clear()

    def power_off(self, name: str) -> None:
        node = self.nodes[name]
        self.log("sim", f"power off {name}")
        self._gone(node, NodeState.DOWN)
        node.resources.clear()
        self._resources_changed(node)
        self.disturb()

    def kill_daemon(self, name: str) -> None:
        node = self.nodes[name]
        if node.state not in (NodeState.RUNNING, NodeState.FROZEN):
            return
        self.log("sim", f"kill daemon on {name}")
        node.resources.settle()
        self._resources_changed(node)
        self._gone(node, NodeState.KILLED)
        self.disturb()

    def stop_post(self, name: str) -> None:
        """systemd's `ExecStopPost=hbd restore` after a killed daemon: whatever it left
        configured is released, and the daemon stays down until started."""
        node = self.nodes[name]
        if node.state is NodeState.KILLED:
            self.log("sim", f"stop-post clean-up on {name}")
            self._recover(node)
            self.disturb()

    def restart(self, name: str) -> None:
        """New core. A running or frozen daemon is killed first (its resources then
        released by crash recovery); a stopped or powered-off node just starts."""
        node = self.nodes[name]
        if node.state in (NodeState.RUNNING, NodeState.FROZEN):
            self.kill_daemon(name)
        self.start(name)

    def stop(self, name: str) -> None:
        """Graceful stop (SIGTERM): the core releases, says shutdone, then exits."""
        node = self.nodes[name]
        if node.state is NodeState.RUNNING:
            self.log("sim", f"stop {name}")
            self._feed(node, ShutdownRequested())

    def freeze(self, name: str) -> None:
        """Kernel crash: nothing runs, nothing answers (ARP included)."""
        node = self.nodes[name]
        if node.state is NodeState.RUNNING:
            self.log("sim", f"freeze {name}")
            node.state = NodeState.FROZEN
            node.arp = False
            self.disturb()

    def hang(self, name: str) -> None:
        """hbd hung on a live kernel: the core runs nothing, the kernel answers ARP."""
        node = self.nodes[name]
        if node.state is NodeState.RUNNING:
            self.log("sim", f"hang {name}")
            node.state = NodeState.FROZEN
            self.disturb()

    def thaw(self, name: str) -> None:
        node = self.nodes[name]
        if node.state is not NodeState.FROZEN:
            return
        self.log("sim", f"thaw {name} ({len(node.inbox)} queued)")
        node.state = NodeState.RUNNING
        node.arp = True
        self.disturb()
        if node.timer_at is not None and node.timer_at <= self.now:
            node.timer_at = None
            self._feed(node, TimerFired())
        inbox, node.inbox = node.inbox, []
        for kind, payload in inbox:
            if node.state is not NodeState.RUNNING:
                break
            if kind == "op":
                self._op_done(node, *payload)
            else:
                self._feed(node, payload)
        self._rearm(node)

    def admin(self, name: str, verb: AdminVerb | str, which: GroupSet | str = GroupSet.ALL) -> None:
        node = self.nodes[name]
        verb = AdminVerb(verb) if isinstance(verb, str) else verb
        which = GroupSet.parse(which) if isinstance(which, str) else which
        self.log("sim", f"hbctl {verb.value} {which.value} on {name}")
        if node.state is NodeState.RUNNING:
            self._feed(node, AdminRequested(verb, which))

    def fail_next(self, name: str, spec: str, op: str = "start", times: int = 1) -> None:
        res = self.nodes[name].resources
        res.failures[(spec, op)] = res.failures.get((spec, op), 0) + times

    # --- feeding a core ----------------------------------------------------------------
    def act(self, name: str, fn: Callable[[Any, float], list]) -> None:
        """Carry out what `fn(core, now)` returns for node `name` (a scripted core's
        own initiative, e.g. an operator command on a modelled heartbeat node)."""
        node = self.nodes[name]
        if node.state is not NodeState.RUNNING:
            return
        for action in fn(node.core, self.now):
            self._dispatch(node, action)
        self._rearm(node)

    def _feed(self, node: SimNode, event) -> None:
        actions = node.core.handle(event, now=self.now)
        for action in actions:
            if node.state is not NodeState.RUNNING:
                self.log(node.name, f"BUG action after exit: {action!r}"[:200])
                break
            self._dispatch(node, action)
        if node.state is NodeState.RUNNING:
            self._rearm(node)

    def _dispatch(self, node: SimNode, action) -> None:
        if isinstance(action, Send):
            self._send(node, action.message)
        elif isinstance(action, RunResourceOp):
            self._run_op(node, action)
        elif isinstance(action, Notice):
            self.notices.append((self.now, node.name, action))
            data = " ".join(f"{k}={v}" for k, v in action.data)
            text = action.message
            if not text.startswith(action.kind):
                text = f"{action.kind}: {text}"
            self.log(node.name, text + (f" [{data}]" if data else ""))
        elif isinstance(action, Fence):
            self._fence(node, action)
        elif isinstance(action, Probe):
            self._probe(node, action)
        elif isinstance(action, FenceSelf):
            self._fence_self(node, action)
        elif isinstance(action, SaveGeneration):
            node.disk["generation"] = action.generation
        elif isinstance(action, SavePeerGenerations):
            node.disk["peers"] = dict(action.generations)
        elif isinstance(action, Reannounce):
            node.reannounced.append((self.now, action.group))
        elif isinstance(action, ShutdownComplete):
            self.log(node.name, "shutdown complete, daemon exits")
            self._gone(node, NodeState.DOWN)
            self.disturb()
        else:
            raise TypeError(f"unknown action {action!r}")

    # --- STONITH ----------------------------------------------------------------------
    fence_time = 0.5               # the device's reset takes this long
    fence_fails = 0                # the next N fences fail

    def _fence(self, node: SimNode, action: Fence) -> None:
        """The STONITH device: after `fence_time`, the target is powered off (the
        reset; it stays off until the test restarts it) and the fencer is told."""
        self.fences.append((self.now, node.name, action.node))
        self.fence_holdings.append((self.now, node.name, action.node,
                                    tuple(sorted(self.nodes[action.node].resources.groups()))))
        incarnation = node.incarnation

        def done() -> None:
            ok = self.fence_fails == 0
            self.fence_fails = max(0, self.fence_fails - 1)
            if ok and self.nodes[action.node].state is not NodeState.DOWN:
                self.power_off(action.node)
            if node.state is NodeState.RUNNING and node.incarnation == incarnation:
                self._feed(node, FenceFinished(action.op_id, action.node, ok,
                                               "" if ok else "device did not answer"))
        self.after(self.fence_time, done)

    # --- the service LAN: ARP probes, carrier -------------------------------------------
    def arp_holders(self, prober: str, group_key: str) -> list[str]:
        """Nodes that would answer an ARP probe from `prober` for the group's addresses:
        on the service LAN with it, kernel alive, the address configured."""
        if not self.nodes[prober].on_service_lan:
            return []
        keys = {k for r in self.groups[group_key].resources for k in physical_keys(r.spec)
                if k.startswith("ip:")}
        out = []
        for name in self.names:
            other = self.nodes[name]
            if (name != prober and other.arp and other.state is not NodeState.DOWN
                    and other.on_service_lan and keys & other.keys):
                out.append(name)
        return out

    def _probe(self, node: SimNode, action: Probe) -> None:
        incarnation = node.incarnation

        def done() -> None:
            if node.incarnation != incarnation or node.state is NodeState.DOWN:
                return
            answering = self.arp_holders(node.name, action.group)
            self.probes.append((self.now, node.name, action.group, bool(answering)))
            event = ProbeFinished(action.op_id, bool(answering),
                                  f"answered by {','.join(answering)}" if answering else "")
            if node.state is NodeState.FROZEN:
                node.inbox.append(("event", event))
            else:
                self._feed(node, event)
        self.after(PROBE_WAIT, done)

    def _fence_self(self, node: SimNode, action: FenceSelf) -> None:
        """The node reboots (sysrq) or is reset by STONITH: it is gone, resources too."""
        self.self_fences.append((self.now, node.name, action.method.value))
        self.log("sim", f"{node.name} fences itself ({action.method.value}): {action.reason}")
        name = node.name
        self.after(0.001, lambda: self.power_off(name)
                   if self.nodes[name].state is not NodeState.DOWN else None)

    def _carrier_of(self, node: SimNode) -> list[tuple[str, bool]]:
        if not self.carrier:
            return []
        hb = node.plugged and node.hb_carrier
        svc = node.on_service_lan
        return ([(i, hb) for i in node.media]
                + [(i, svc) for i in node.service_ifaces if i not in node.media])

    def _carrier_changed(self, node: SimNode, before: list[tuple[str, bool]]) -> None:
        """Tell a running core what lost or regained carrier (a frozen one: later)."""
        for (iface, was), (_, now_up) in zip(before, self._carrier_of(node), strict=False):
            if was == now_up:
                continue
            event = CarrierChanged(iface, now_up)
            if node.state is NodeState.RUNNING:
                self._feed(node, event)
            elif node.state is NodeState.FROZEN:
                node.inbox.append(("event", event))

    def _rearm(self, node: SimNode) -> None:
        deadline = node.core.next_deadline()
        if deadline == node.timer_at:
            return
        node.timer_token += 1
        node.timer_at = deadline
        if deadline is not None:
            self._push(max(deadline, self.now), "timer", (node.name, node.timer_token))

    def _on_timer(self, payload) -> None:
        name, token = payload
        node = self.nodes[name]
        if token != node.timer_token or node.state is not NodeState.RUNNING:
            return   # stale, or frozen (thaw delivers the overdue timer)
        if node.timer_at is not None and node.timer_at <= self.now:
            node.spin = node.spin + 1 if node.timer_at == node.last_fire else 0
            node.last_fire = node.timer_at
            if node.spin > 100:
                if self.on_spin == "raise":
                    raise CoreLivelock(f"{name}: core livelock, next_deadline() stays at "
                                       f"{node.timer_at} after TimerFired at t={self.now}"
                                       f"\n{self.report()}")
                # "park": leave the stuck deadline armed but unscheduled until the core
                # reports a different one (lets a survey look past this bug).
                self.log(name, f"BUG timer spin at {node.timer_at:.6f}, parked")
                node.spin = 0
                return
            node.timer_at = None
            self._feed(node, TimerFired())

    def _on_call(self, fn) -> None:
        fn()

    # --- network ------------------------------------------------------------------------
    def _send(self, node: SimNode, message) -> None:
        src = node.name
        if not node.on_hb_lan:
            return
        if self.wire is not None:
            message = self.wire(message, node.config)
            if message is None:
                self.log(src, "wire: message dropped by the codec")
                return
        rng = self.net_rng
        for dst in self.names:
            if dst == src:
                continue
            link = self.links[(src, dst)]
            if not link.up or not self.nodes[dst].on_hb_lan:
                continue
            for medium in node.media:
                packet = (dst, src, message, medium)
                if link.held:
                    link.queue.append(packet)
                    continue
                if link.loss and rng.random() < link.loss:
                    continue
                self._push(self.now + rng.uniform(*link.delay), "packet", packet)
                if link.duplicate and rng.random() < link.duplicate:
                    self._push(self.now + rng.uniform(*link.delay), "packet", packet)
                if link.replay:
                    if link.history and rng.random() < link.replay:
                        old = link.history[rng.randrange(len(link.history))]
                        self._push(self.now + rng.uniform(0, 5 * self.keepalive), "packet", old)
                    link.history.append(packet)

    def _on_packet(self, packet) -> None:
        dst, src, message, medium = packet
        node = self.nodes[dst]
        event = PacketReceived(message, medium=medium)
        if node.state is NodeState.RUNNING:
            if message.get("t") == "status":
                self.last_status_rx[(src, dst)] = self.now
            self._feed(node, event)
        elif node.state is NodeState.FROZEN and len(node.inbox) < INBOX_LIMIT:
            node.inbox.append(("event", event))

    def _pairs(self, a: str | None = None, b: str | None = None):
        for (s, d), link in self.links.items():
            if (a is None or a in (s, d)) and (b is None or b in (s, d)):
                yield s, d, link

    def partition(self, a: str, b: str) -> None:
        """Cut both directions between a and b."""
        self.log("sim", f"partition {a} {b}")
        self.links[(a, b)].up = self.links[(b, a)].up = False
        self.disturb()

    def partition_oneway(self, source: str, target: str) -> None:
        """source's packets no longer reach target (target still reaches source)."""
        self.log("sim", f"partition one-way {source} -> {target}")
        self.links[(source, target)].up = False
        self.disturb()

    def isolate(self, name: str) -> None:
        self.log("sim", f"isolate {name}")
        for _, _, link in self._pairs(name):
            link.up = False
        self.disturb()

    def heal(self) -> None:
        """Every link back to a healthy LAN; held packets are released."""
        self.log("sim", "heal")
        for s, d, link in self._pairs():
            link.reset()
            if link.held:
                self.release(s, d, log=False)
        self.disturb()

    def set_loss(self, a: str, b: str, p: float, *, both: bool = True) -> None:
        self.log("sim", f"loss {a} {b} {p:.2f}")
        self.links[(a, b)].loss = p
        if both:
            self.links[(b, a)].loss = p
        self.disturb()

    def set_loss_all(self, p: float) -> None:
        self.log("sim", f"loss all {p:.2f}")
        for _, _, link in self._pairs():
            link.loss = p
        self.disturb()

    def set_delay(self, lo: float, hi: float, a: str | None = None, b: str | None = None) -> None:
        """Delay of every link touching a (and b), or of all links."""
        self.log("sim", f"delay {a or '*'} {b or '*'} {lo:.3f}-{hi:.3f}")
        for _, _, link in self._pairs(a, b):
            link.delay = (lo, hi)

    def set_duplicate(self, p: float, a: str | None = None, b: str | None = None) -> None:
        for _, _, link in self._pairs(a, b):
            link.duplicate = p
        self.disturb()

    def set_replay(self, p: float, a: str | None = None, b: str | None = None) -> None:
        for _, _, link in self._pairs(a, b):
            link.replay = p
        self.disturb()

    def hold(self, source: str, target: str) -> None:
        """Queue source->target packets until `release` (a clogged switch port)."""
        self.log("sim", f"hold {source} -> {target}")
        self.links[(source, target)].held = True
        self.disturb()

    def release(self, source: str, target: str, *, log: bool = True) -> None:
        link = self.links[(source, target)]
        if log:
            self.log("sim", f"release {source} -> {target} ({len(link.queue)} packets)")
        link.held = False
        queue, link.queue = link.queue, []
        for packet in queue:
            self._push(self.now + self.net_rng.uniform(*link.delay), "packet", packet)
        self.disturb()

    def swizzle(self, duration: float) -> None:
        """FDB's swizzle: clog a random subset of links one by one, then unclog
        them in reverse order, all within `duration` seconds."""
        rng = self.chaos_rng
        pairs = [p for p in sorted(self.links) if rng.random() < 0.5]
        step = duration / (2 * len(pairs) + 1) if pairs else duration
        for i, (s, d) in enumerate(pairs):
            self.after(step * i, lambda s=s, d=d: self.hold(s, d))
            self.after(duration - step * i, lambda s=s, d=d: self.release(s, d))

    def _recable(self, name: str, text: str, change: Callable[[SimNode], None]) -> None:
        node = self.nodes[name]
        self.log("sim", f"{text} {name}")
        before = self._carrier_of(node)
        change(node)
        self._resources_changed(node)
        self.disturb()
        self._carrier_changed(node, before)

    def unplug(self, name: str) -> None:
        """Every cable of the node out, heartbeat and service (ping) alike."""
        self._recable(name, "unplug", lambda n: setattr(n, "plugged", False))

    def plug(self, name: str) -> None:
        self._recable(name, "plug", lambda n: setattr(n, "plugged", True))

    def pull_service(self, name: str) -> None:
        """The service LAN cable (eth0) only: clients and ping nodes are out of reach."""
        self._recable(name, "pull service cable of", lambda n: setattr(n, "service", False))

    def plug_service(self, name: str) -> None:
        self._recable(name, "plug service cable of", lambda n: setattr(n, "service", True))

    def cut_hblan(self, name: str, *, carrier: bool = True) -> None:
        """The node's heartbeat LAN only: its cable (the node sees carrier go) or,
        with `carrier=False`, the switch port (nothing tells the node)."""
        def cut(n: SimNode) -> None:
            n.hb = False
            n.hb_carrier = not carrier
        self._recable(name, "cut heartbeat LAN of" + ("" if carrier else " (switch)"), cut)

    def heal_hblan(self, name: str) -> None:
        def heal(n: SimNode) -> None:
            n.hb = n.hb_carrier = True
        self._recable(name, "heal heartbeat LAN of", heal)

    def cut_gateway(self, name: str) -> None:
        """name no longer reaches the ping node (its service side is cut)."""
        self.log("sim", f"gateway unreachable from {name}")
        self.nodes[name].gateway = False
        self.disturb()

    def restore_gateway(self, name: str) -> None:
        self.log("sim", f"gateway reachable from {name}")
        self.nodes[name].gateway = True
        self.disturb()

    def cut_ping(self, name: str, address: str) -> None:
        """name no longer reaches one ping address (the others still answer)."""
        self.log("sim", f"ping node {address} unreachable from {name}")
        self.nodes[name].unreachable.add(address)
        self.disturb()

    def restore_ping(self, name: str, address: str) -> None:
        self.log("sim", f"ping node {address} reachable from {name}")
        self.nodes[name].unreachable.discard(address)
        self.disturb()

    def _on_ping(self, payload) -> None:
        """The runtime's pinger: every interval, a reply per reachable ping address."""
        name, incarnation = payload
        node = self.nodes[name]
        if node.incarnation != incarnation or node.state is NodeState.DOWN:
            return
        self._push(self.now + self.ping_interval, "ping", payload)
        if node.state is NodeState.RUNNING and node.on_service_lan and node.gateway:
            for ping_node in node.config.ping_nodes:
                for address in ping_node.addresses:
                    if address in node.unreachable:
                        continue
                    self.last_ping[name] = self.now
                    self._feed(node, PingReplied(address))
                    if node.state is not NodeState.RUNNING:
                        return

    # --- resources ----------------------------------------------------------------------
    def _run_op(self, node: SimNode, op: RunResourceOp) -> None:
        duration, ok, detail = node.resources.begin(op)
        self._resources_changed(node)
        # One record per resource (a block's share its times), in the order the
        # resources go: left to right on start, right to left on stop.
        order = op.resources if op.op is not ResourceOpKind.STOP else op.resources[::-1]
        records = [dict(node=node.name, group=op.group, spec=r.spec, op=op.op.value,
                        begin=self.now, end=None, ok=None) for r in order]
        self.ops.extend(records)
        self._push(self.now + duration, "opdone",
                   (node.name, node.incarnation, op, ok, detail, records))

    def _on_opdone(self, payload) -> None:
        name, incarnation, op, ok, detail, record = payload
        node = self.nodes[name]
        if node.incarnation != incarnation:
            return
        if node.state is NodeState.FROZEN:
            node.inbox.append(("op", (op, ok, detail, record)))
            return
        self._op_done(node, op, ok, detail, record)

    def _op_done(self, node: SimNode, op: RunResourceOp, ok: bool, detail: str, record) -> None:
        node.resources.finish(op, ok)
        self._resources_changed(node)
        for one in record:
            one["end"], one["ok"] = self.now, ok
        if self.trace_ops:
            self.log(node.name, f"{op.op.value} {'+'.join(r.spec for r in op.resources)} "
                     f"{'ok' if ok else 'FAILED'}")
        self._feed(node, ResourceOpFinished(op.op_id, ok, detail))

    # --- chaos ------------------------------------------------------------------------------
    def recover(self) -> None:
        """Heal the network and bring every node back (thaw, restart, start, plug)."""
        self.heal()
        for name in self.names:
            node = self.nodes[name]
            if not node.plugged:
                self.plug(name)
            if not node.service:
                self.plug_service(name)
            if not node.hb:
                self.heal_hblan(name)
            if not node.gateway:
                self.restore_gateway(name)
            if node.state is NodeState.FROZEN:
                self.thaw(name)
            elif node.state in (NodeState.KILLED, NodeState.DOWN):
                self.start(name)
            node.resources.failures.clear()

    def chaos(self, for_s: float, faults: Faults = Faults()) -> None:
        """Run `for_s` seconds of random faults drawn from the seed, segment by segment."""
        end = self.now + for_s
        self._chaos_segment(faults, end)
        self.run_for(end - self.now)

    def _chaos_segment(self, faults: Faults, end: float) -> None:
        rng = self.chaos_rng
        length = rng.uniform(*faults.segment)
        self.heal()
        if rng.random() >= faults.calm:
            self._chaos_links(faults, rng)
        self._chaos_nodes(faults, rng)
        if self.now + length < end:
            self.after(length, lambda: self._chaos_segment(faults, end))

    def _chaos_links(self, faults: Faults, rng: random.Random) -> None:
        for (_s, _d), link in sorted(self.links.items()):
            if rng.random() < 0.3:
                link.loss = rng.uniform(0, faults.loss)
            if rng.random() < 0.2:
                link.delay = (0.0, rng.uniform(0.001, faults.delay))
            if rng.random() < 0.2:
                link.duplicate = faults.duplicate
            if rng.random() < 0.2:
                link.replay = faults.replay
        self.log("sim", "chaos: degraded links " + " ".join(
            f"{s}>{d}:{lk.loss:.2f}/{lk.delay[1]:.3f}" for (s, d), lk in sorted(self.links.items())
            if not lk.clean or lk.delay != LAN_DELAY))
        if rng.random() < faults.partitions:
            kind = rng.choice(("pair", "oneway", "isolate") if faults.asymmetric
                              else ("pair", "isolate"))
            a, b = rng.sample(self.names, 2)
            if kind == "pair":
                self.partition(a, b)
            elif kind == "oneway":
                self.partition_oneway(a, b)
            else:
                self.isolate(a)
        self.disturb()

    def _chaos_nodes(self, faults: Faults, rng: random.Random) -> None:
        for name in self.names:
            node = self.nodes[name]
            if rng.random() >= faults.restarts:
                continue
            if not node.plugged:
                self.plug(name)
            elif node.state is NodeState.FROZEN:
                self.thaw(name)
            elif node.state in (NodeState.KILLED, NodeState.DOWN):
                self.start(name)
        if rng.random() < faults.gateway:
            name = rng.choice(self.names)
            (self.restore_gateway if not self.nodes[name].gateway else self.cut_gateway)(name)
        if rng.random() < faults.start_failures:
            # Only ever one node per run gets failing starts, so that a group always
            # has somewhere to go once everything is back.
            name = self._chaos_failing = self._chaos_failing or rng.choice(self.names)
            group = self.groups[rng.choice(sorted(self.groups))]
            spec = rng.choice(group.resources).spec
            self.log("sim", f"chaos: next start of {spec} on {name} will fail")
            self.fail_next(name, spec, "start")
        if rng.random() < faults.crashes:
            running = [n for n in self.names if self.nodes[n].state is NodeState.RUNNING
                       and self.nodes[n].plugged]
            if running:
                name = rng.choice(running)
                kind = rng.choice(faults.kinds)
                getattr(self, kind)(name)

    # --- end-of-run checks --------------------------------------------------------------------
    def convergence_problems(self) -> list[str]:
        problems = []
        for key in self.groups:
            owners, partial = self.owners(key), self.partial_holders(key)
            if len(owners) != 1:
                problems.append(f"{key}: {len(owners)} owners {owners}")
            if partial:
                problems.append(f"{key}: partially held by {partial}")
        return problems


def scenario_sim(seed: int = 0, *, per_node_haresources: bool = False, ping: bool = True,
                 **kw) -> Sim:
    """The source scenario's three nodes (timings default to the scenario's)."""
    sim_kw = {k: kw.pop(k) for k in list(kw) if k in ("core_factory", "op_times", "autostart",
                                                      "ping_interval", "trace_ops", "strict",
                                                      "on_spin", "wire", "policy",
                                                      "carrier")}
    timings = {**SCENARIO, **kw}
    configs = scenario_configs(per_node_haresources=per_node_haresources, ping=ping, **timings)
    return Sim(configs, seed, **sim_kw)

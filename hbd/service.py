"""One running node: the runtime with its edges, from start-up to exit.

`Service.run()` does what `daemon.py`'s docstring lists after the
configuration is read: restore a previous run's leftovers (refusing to join
when that fails), open the edges (media, ping, carrier watch, watchdog,
control socket), start the core, tell systemd, then wait for the shutdown to
complete. It carries out the shell's side of the core's actions that are not
resource operations (ARP probes through the executor, fencing this node),
answers hbctl through the control socket, and reloads on SIGHUP.

Edges, and who calls whom:

| edge | into the core | out of the core |
|---|---|---|
| `Media` (bcast/ucast/mcast) | `Runtime.on_datagram` | `Send` |
| `Pinger` (ICMP) | `PingReplied` | |
| `CarrierWatch` (rtnetlink) | `CarrierChanged` | |
| `Executor` (identity, scripts) | `ResourceOpFinished`, `ProbeFinished` | `RunResourceOp`, `Probe`, `Reannounce` |
| `Fencer` (cluster-glue) | `FenceFinished` | `Fence`, `FenceSelf` |
| watchdog device | | petted on every core timer |
| state dir | | `SaveGeneration`, `SavePeerGenerations` |
| control socket | `AdminRequested` | status snapshots |
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import time
from typing import TYPE_CHECKING, Any

from hbd import logs
from hbd.config.agents import AgentClass, agent_of
from hbd.config.environ import script_env
from hbd.config.haresources import NATIVE_RESOURCES
from hbd.config.model import ClusterConfig, Problem
from hbd.control import (Authorizer, ControlServer, Request, RequestFailed, SocketInUse,
                         respond, socket_path)
from hbd.core import groups as grp
from hbd.core.actions import FenceSelf, Notice, NoticeKind
from hbd.core.cluster import Cluster
from hbd.core.events import (AdminRequested, CarrierChanged, LoadSampled, PingReplied,
                             ShutdownRequested, Started)
from hbd.core.policy import Policy
from hbd.core.status import ClusterStatus
from hbd.notify import Hooks
from hbd.options import DaemonOptions
from hbd.resources.carrier import CarrierWatch
from hbd.resources.executor import Executor
from hbd.resources.fence import Fencer, Method, self_fence
from hbd.resources.identity import Identity
from hbd.resources.script import ScriptRunner
from hbd.respawn import Respawner
from hbd.runtime import Runtime, wall_offset
from hbd.sdnotify import Notifier
from hbd.signals import install_signals
from hbd.state import StateDir
from hbd.transport.media import Media, MediaError
from hbd.transport.ping import Pinger
from hbd.watchdog import Watchdog, heartbeat_timeout, open_watchdog

if TYPE_CHECKING:           # prometheus-client (~12 MB) only for a node that exports metrics
    from hbd.metrics import Metrics, MetricsServer

LOAD_INTERVAL = 10.0
# ha.cf settings a reload applies to the running daemon; every other change waits
# for a restart (the core was built with it)
LIVE_HACF = ("logfile", "debugfile", "logfacility", "debug", "msgfmt", "compression",
             "compression_threshold", "traditional_compression", "written", "lines")

Loaded = tuple[ClusterConfig | None, list[Problem]]


def watched_interfaces(config: ClusterConfig) -> tuple[str, ...]:
    """The interfaces whose carrier the core acts on: heartbeat media and the
    interfaces the groups name."""
    out = dict.fromkeys(m.iface for m in config.hacf.media)
    for group in config.groups:
        out.update(dict.fromkeys(sorted(grp.interfaces(group))))
    return tuple(out)


class Service:
    def __init__(self, config: ClusterConfig, options: DaemonOptions, state: StateDir, *,
                 generation: int, uuid: bytes, peer_generations: dict[str, int],
                 load: Any) -> None:
        self.config = config
        self.options = options
        self.state = state
        self.generation = generation
        self.uuid = uuid
        self.peer_generations = peer_generations
        self.load = load                   # () -> (config | None, problems): for SIGHUP
        self.log = logs.get("hbd.service").bind(node=config.node_name)
        self.notifier = Notifier.from_env()
        self.started_at = time.monotonic()
        self.identity = Identity(state.path, garp_count=options.garp_count,
                                 garp_interval=options.garp_interval)
        self.scripts = ScriptRunner(options.load.agent_dirs, timeout=options.op_timeout,
                                    env=script_env(config))
        self.media: Media | None = None
        self.pinger: Pinger | None = None
        self.carrier: CarrierWatch | None = None
        self.watchdog: Watchdog | None = None
        self.control: ControlServer | None = None
        self.runtime: Runtime | None = None
        self.fencer: Fencer | None = None
        self.hooks = Hooks([n.argv for n in config.hbd.notify], node=config.node_name,
                           timeout=config.hbd.notify_timeout)
        self.metrics: Metrics | None = None
        if config.hbd.metrics is not None:
            self._metrics()
        self.metrics_server: MetricsServer | None = None
        self.respawner = Respawner(config.hacf.respawned, config.hacf.env,
                                   logs.get("hbd.respawn").bind(node=config.node_name),
                                   base_env=script_env(config))
        self.tasks: list[asyncio.Task[Any]] = []

    # --- start-up -----------------------------------------------------------------------
    def _check_scripts(self) -> list[str]:
        problems = []
        for group in self.config.groups:
            for resource in group.resources:
                if agent_of(resource, NATIVE_RESOURCES).cls is not AgentClass.NATIVE:
                    reason = self.scripts.check(resource)
                    if reason:
                        problems.append(f"{resource.spec}: {reason}")
        return problems

    async def _open_edges(self, runtime: Runtime) -> None:
        hacf = self.config.hacf
        self.media = Media(hacf.media, port=hacf.udpport, on_datagram=runtime.on_datagram,
                           screen=lambda data: runtime.screen(data))   # follows reloads
        await self.media.open()
        addresses = [a for p in self.config.ping_nodes for a in p.addresses]
        if addresses:
            self.pinger = Pinger(addresses, interval=self.config.keepalive,
                                 on_reply=lambda a: runtime.feed(PingReplied(a)))
            await self.pinger.open()
        self.carrier = CarrierWatch(watched_interfaces(self.config),
                                    lambda iface, up: runtime.feed(CarrierChanged(iface, up)))
        for iface, up in (await self.carrier.start()).items():
            if not up:                     # the core takes an unreported interface as up
                runtime.feed(CarrierChanged(iface, False))
        os.makedirs(self.options.run_dir, mode=0o755, exist_ok=True)
        authorizer = await asyncio.to_thread(Authorizer, hacf.apiauth)   # name service
        for line in authorizer.unresolved:
            self.log.warning("apiauth names an unknown user or group", problem=line)
        self.control = ControlServer(socket_path(self.options.run_dir),
                                     self._answer, authorizer=authorizer)
        await self.control.start()
        self.hooks.start()
        if self.config.hbd.metrics is not None:
            from hbd.metrics import MetricsServer
            self.metrics_server = MetricsServer.for_endpoint(self._metrics(),
                                                             self.config.hbd.metrics)
            await self.metrics_server.start()

    def _open_watchdog(self) -> None:
        device = self.config.hacf.watchdog
        if device:
            self.watchdog = open_watchdog(device, heartbeat_timeout(self.config.deadtime),
                                          min_interval=self.config.keepalive, log=self.log)

    async def run(self) -> int:
        recovery = await self.identity.recover()
        for line in recovery.lines:
            self.log.warning("restored after an unclean stop", action=line)
        if not recovery.ok:   # never join holding what another node may take over
            self.log.error("refusing to join: the node's own identity could not be restored "
                           "(see above); the journal keeps it for the next start")
            await self.identity.close()
            return 1
        problems = self._check_scripts()
        if problems:
            for problem in problems:
                self.log.error("unsafe or missing resource script", problem=problem)
            return 6
        loop = asyncio.get_running_loop()
        cluster = Cluster(self.config, generation=self.generation, uuid=self.uuid,
                          now=loop.time(), rng=random.Random(int.from_bytes(os.urandom(8))),
                          wall_offset=wall_offset(loop), policy=Policy.from_settings(
                              self.config.hbd), peer_generations=self.peer_generations)
        executor = Executor(self.identity, self.scripts,
                            on_finished=lambda event: runtime.feed(event))
        self.fencer = Fencer(self.config.hacf.stonith, self.config.node_name,
                             on_finished=lambda event: runtime.feed(event))
        self._open_watchdog()
        runtime = Runtime(cluster, send_bytes=lambda data: self._send(data),
                          executor=executor, save_generation=self.state.save_generation,
                          on_status=lambda line: self.notifier.notify(status=line),
                          fence=self.fencer.fence, fence_self=self._fence_self,
                          save_peers=self.state.save_peer_generations,
                          pet=self.watchdog.pet if self.watchdog else None,
                          probe_wait=self.config.hbd.arp_probe_wait)
        runtime.on_notice = self._on_notice
        runtime.on_op_finished = self._on_op_finished
        self.runtime = runtime
        try:
            await self._open_edges(runtime)
        except (MediaError, SocketInUse, OSError) as exc:
            self.log.error("cannot start", reason=str(exc))
            await self._close(executor, clean=False)
            return 1
        install_signals(loop, on_term=self._on_term, on_hup=self._on_hup)
        runtime.feed(Started())
        self.notifier.notify(ready=1, status=f"{self.config.node_name} up")
        self.tasks += [asyncio.create_task(self._sample_load(runtime)),
                       asyncio.create_task(self._systemd_watchdog())]
        self.log.info("hbd started", config_dir=self.config.config_dir,
                      generation=cluster.generation, media=len(self.config.hacf.media))
        try:
            code = await runtime.finished
        except Exception:
            code = 1
        await self._close(executor, clean=code == 0)
        return code

    def _send(self, data: bytes) -> None:
        if self.media is not None:
            self.media.send(data)

    async def _close(self, executor: Executor, *, clean: bool) -> None:
        self.notifier.notify(stopping=1)
        for task in self.tasks:
            task.cancel()
        await self.respawner.close()    # heartbeat: after the resources, before the media
        if self.runtime:
            self.runtime.close()
        await self.hooks.close(drain=5.0)        # a last group_lost still runs
        if self.metrics_server is not None:
            await self.metrics_server.close()
        await executor.close()
        for edge in (self.control, self.pinger, self.media, self.carrier):
            if edge is not None:
                await edge.close()
        await self.scripts.close()
        if self.fencer is not None:
            await self.fencer.close()
        if not clean:   # leaving on an error: never exit holding another node's identity
            recovery = await self.identity.recover()
            for line in recovery.lines:
                self.log.warning("restored on the way out", action=line)
            if not recovery.ok:
                self.log.error("leaving with part of the identity not restored; "
                               "`hbd restore` or the next start finishes it")
        if self.watchdog is not None and clean:
            self.watchdog.close()          # the magic close: only a clean stop disarms it
        await self.identity.close()

    def _on_notice(self, notice: Notice) -> None:
        if (notice.kind is NoticeKind.NODE and notice.subject == self.config.node_name
                and notice.get("status") == "active"):
            self.respawner.start()      # communication is up (idempotent)
        self.hooks.on_notice(notice)
        if self.metrics is not None:
            self.metrics.on_notice(notice)

    # --- the shell's side of actions that are not resource operations ---------------------------
    def _fence_self(self, action: FenceSelf) -> None:
        async def go() -> None:
            result = await self_fence(Method(action.method.value), action.reason,
                                      fencer=self.fencer)
            self.log.critical("still up after fencing itself", detail=result.detail)
        self.tasks.append(asyncio.create_task(go()))

    # --- periodic inputs ---------------------------------------------------------------------
    async def _sample_load(self, runtime: Runtime) -> None:
        while True:
            try:
                with open("/proc/loadavg", encoding="ascii") as handle:
                    runtime.feed(LoadSampled(handle.read().strip()))
            except OSError:
                pass
            await asyncio.sleep(LOAD_INTERVAL)

    async def _systemd_watchdog(self) -> None:
        interval = self.notifier.watchdog_interval()
        while interval:
            self.notifier.notify(watchdog=1)
            await asyncio.sleep(interval)

    # --- signals ---------------------------------------------------------------------------
    def _on_term(self, name: str) -> None:
        self.log.info("shutting down", signal=name)
        self.respawner.begin_shutdown()     # heartbeat: nothing is restarted from now on
        self.notifier.notify(stopping=1, status="releasing resources")
        if self.runtime is not None:
            self.runtime.feed(ShutdownRequested())

    def _on_hup(self) -> None:
        self.notifier.notify(reloading=1, monotonic_usec=time.clock_gettime_ns(
            time.CLOCK_MONOTONIC) // 1000)
        task = asyncio.get_running_loop().create_task(self._reload_off_loop())
        self.tasks.append(task)

    async def _reload_off_loop(self) -> None:
        """Read and check the files in a thread (a large or slow file must not stall
        the loop), then apply on the loop."""
        try:
            config, problems = await asyncio.to_thread(self.load)
            if config is None:
                for problem in problems:
                    self.log.error("reload refused", problem=str(problem))
            else:
                self._reload(config)
        finally:
            self.notifier.notify(ready=1)

    def _reload(self, new: ClusterConfig) -> None:
        """Apply what can change under a running core; name what needs a restart."""
        old = self.config           # what the core runs with
        live = dict.fromkeys(LIVE_HACF)
        pending = [f.name for f in dataclasses.fields(old.hacf)
                   if f.name not in live and getattr(old.hacf, f.name) != getattr(new.hacf, f.name)]
        if old.groups != new.groups:
            pending.append("haresources")
        if dataclasses.replace(old.hbd, logformat=new.hbd.logformat, source=new.hbd.source,
                               lines=new.hbd.lines) != new.hbd:
            pending.append("hbd.cf")
        if pending:
            self.log.warning("reload: these changes need a restart (systemctl restart hbd); "
                             "running on with the old values", changed=", ".join(pending))
        for problem in logs.configure(logfile=new.hacf.logfile, debugfile=new.hacf.debugfile,
                                      logfacility=new.hacf.logfacility,
                                      debug=new.hacf.debug > 0, logformat=new.hbd.logformat):
            self.log.warning(problem)
        if self.runtime is not None:
            self.runtime.apply_config(new)          # authkeys, msgfmt, compression
        applied = [name for name in LIVE_HACF if name != "lines"
                   and getattr(old.hacf, name) != getattr(new.hacf, name)]
        if new.authkeys != old.authkeys:
            applied.append("authkeys")
        if new.hbd.logformat != old.hbd.logformat:
            applied.append("logformat")
        self.log.info("configuration reloaded", applied=", ".join(applied) or "nothing new")

    # --- hbctl ---------------------------------------------------------------------------------
    # The control socket's ControlHandler (hbd.control.answers): hbctl, cl_status, hb_standby.
    async def _answer(self, request: Request) -> object:
        return respond(request, self)

    def cluster_status(self) -> ClusterStatus | None:
        return self.runtime.status() if self.runtime else None

    def cluster_config(self) -> ClusterConfig:
        return self.config

    def metrics_text(self) -> str:
        """Without a metrics endpoint the counters start at the first `hbctl metrics`."""
        return self._metrics().text()

    def _metrics(self) -> Metrics:
        if self.metrics is None:
            from hbd.metrics import Metrics
            self.metrics = Metrics(self.config.node_name, status=self.cluster_status,
                                   counters=self.daemon_info)
        return self.metrics

    def _on_op_finished(self, group: str, op: str, seconds: float, ok: bool) -> None:
        if self.metrics is not None:
            self.metrics.on_op_finished(group, op, seconds, ok)

    def request_admin(self, event: AdminRequested) -> None:
        if self.runtime is None:
            raise RequestFailed("hbd is still starting: try again in a moment")
        self.runtime.feed(event)

    def daemon_info(self) -> dict[str, object]:
        info: dict[str, object] = {
            "pid": os.getpid(), "uptime_s": round(time.monotonic() - self.started_at, 3),
            "config_dir": self.config.config_dir, "state_dir": self.state.path,
            "journaled": self.identity.journaled()}
        if self.media:
            info["media"] = self.media.counters()
        if self.runtime:
            info["runtime"] = dict(self.runtime.counters)
        if self.control:
            info["control"] = self.control.counters()
        info["notify"] = dict(self.hooks.counters)
        if self.respawner.clients or self.respawner.skipped:
            info["respawn"] = self.respawner.counters()
        if self.watchdog is not None:
            info["watchdog"] = {"device": self.watchdog.device, "pets": self.watchdog.pets,
                                "missed": self.watchdog.missed, "error": self.watchdog.error}
        return info

"""One running node: the runtime with its edges, from start-up to exit.

`Service.run()` does what `daemon.py`'s docstring lists after the
configuration is read: restore a previous run's leftovers, open media, ping
and the control socket, start the core, tell systemd, then wait for the
shutdown to complete. It answers hbctl through the control socket and
reloads on SIGHUP.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import time

from hbd import logs
from hbd.config.agents import AgentClass, agent_of
from hbd.config.haresources import NATIVE_RESOURCES
from hbd.config.model import ClusterConfig
from hbd.control import ControlServer, Request, SocketInUse, socket_path
from hbd.core.cluster import Cluster
from hbd.core.events import LoadSampled, PingReplied, ShutdownRequested, Started
from hbd.daemon import install_signals, new_rng, read_config
from hbd.resources.executor import Executor
from hbd.resources.fence import Fencer
from hbd.resources.identity import Identity
from hbd.resources.script import ScriptRunner
from hbd.runtime import Runtime, wall_offset
from hbd.sdnotify import Notifier
from hbd.state import StateDir
from hbd.transport.media import Media, MediaError
from hbd.transport.ping import Pinger

LOAD_INTERVAL = 10.0
# ha.cf settings a reload applies to the running daemon; every other change waits
# for a restart (the core was built with it)
LIVE_HACF = ("logfile", "debugfile", "logfacility", "debug", "msgfmt", "compression",
             "compression_threshold", "traditional_compression", "written")
SCRIPT_ENV_KEYS = {"logfacility": "HA_LOGFACILITY", "logfile": "HA_LOGFILE",
                   "debugfile": "HA_DEBUGLOG"}


def script_env(config: ClusterConfig) -> dict[str, str]:
    env = {"HA_D": config.config_dir, "HA_DIR": config.config_dir,
           "HA_RCDIR": os.path.join(config.config_dir, "rc.d"),
           "HA_CURHOST": config.node_name}
    for attr, key in SCRIPT_ENV_KEYS.items():
        value = getattr(config.hacf, attr)
        if value:
            env[key] = value
    return env


class Service:
    def __init__(self, config: ClusterConfig, args: argparse.Namespace, state: StateDir,
                 generation: int, uuid: bytes) -> None:
        self.config = config
        self.generation = generation
        self.uuid = uuid
        self.args = args
        self.state = state
        self.log = logs.get("hbd.service").bind(node=config.node_name)
        self.notifier = Notifier.from_env()
        self.started_at = time.monotonic()
        self.identity = Identity(state.path, garp_count=args.garp_count,
                                 garp_interval=args.garp_interval)
        self.scripts = ScriptRunner(_dirs(args), timeout=args.op_timeout, env=script_env(config))
        self.media: Media | None = None
        self.pinger: Pinger | None = None
        self.control: ControlServer | None = None
        self.runtime: Runtime | None = None
        self.fencer: Fencer | None = None
        self.tasks: list[asyncio.Task] = []

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
        os.makedirs(self.args.run_dir, mode=0o755, exist_ok=True)
        authorizer = _authorizer(self.config)
        for line in authorizer.unresolved:
            self.log.warning("apiauth names an unknown user or group", problem=line)
        self.control = ControlServer(socket_path(self.args.run_dir),
                                     self._answer, authorizer=authorizer)
        await self.control.start()

    async def run(self) -> int:
        for line in await self.identity.recover():
            self.log.warning("restored after an unclean stop", action=line)
        problems = self._check_scripts()
        if problems:
            for problem in problems:
                self.log.error("unsafe or missing resource script", problem=problem)
            return 6
        loop = asyncio.get_running_loop()
        cluster = Cluster(self.config, generation=self.generation,
                          uuid=self.uuid, now=loop.time(), rng=new_rng(),
                          wall_offset=wall_offset(loop))
        executor = Executor(self.identity, self.scripts,
                            on_finished=lambda event: runtime.feed(event))
        self.fencer = Fencer(self.config.hacf.stonith, self.config.node_name,
                             on_finished=lambda event: runtime.feed(event))
        runtime = Runtime(cluster, send_bytes=lambda data: self.media.send(data),
                          executor=executor, save_generation=self.state.save_generation,
                          on_status=lambda line: self.notifier.notify(status=line),
                          fence=self.fencer.fence)
        self.runtime = runtime
        try:
            await self._open_edges(runtime)
        except (MediaError, SocketInUse, OSError) as exc:
            self.log.error("cannot start", reason=str(exc))
            await self._close(executor)
            return 1
        install_signals(loop, on_term=self._on_term, on_hup=self._on_hup)
        runtime.feed(Started())
        self.notifier.notify(ready=1, status=f"{self.config.node_name} up")
        self.tasks += [asyncio.create_task(self._sample_load(runtime)),
                       asyncio.create_task(self._watchdog())]
        self.log.info("hbd started", config_dir=self.config.config_dir,
                      generation=cluster.generation, media=len(self.config.hacf.media))
        try:
            code = await runtime.finished
        except Exception:
            code = 1
        await self._close(executor, restore=code != 0)
        return code

    async def _close(self, executor: Executor, *, restore: bool = False) -> None:
        self.notifier.notify(stopping=1)
        for task in self.tasks:
            task.cancel()
        if self.runtime:
            self.runtime.close()
        await executor.close()
        for edge in (self.control, self.pinger, self.media):
            if edge is not None:
                await edge.close()
        await self.scripts.close()
        if self.fencer is not None:
            await self.fencer.close()
        if restore:   # leaving on an error: never exit holding another node's identity
            for line in await self.identity.recover():
                self.log.warning("restored on the way out", action=line)
        await self.identity.close()

    # --- periodic inputs ---------------------------------------------------------------------
    async def _sample_load(self, runtime: Runtime) -> None:
        while True:
            try:
                with open("/proc/loadavg", encoding="ascii") as handle:
                    runtime.feed(LoadSampled(handle.read().strip()))
            except OSError:
                pass
            await asyncio.sleep(LOAD_INTERVAL)

    async def _watchdog(self) -> None:
        interval = self.notifier.watchdog_interval()
        while interval:
            self.notifier.notify(watchdog=1)
            await asyncio.sleep(interval)

    # --- signals ---------------------------------------------------------------------------
    def _on_term(self, name: str) -> None:
        self.log.info("shutting down", signal=name)
        self.notifier.notify(stopping=1, status="releasing resources")
        self.runtime.feed(ShutdownRequested())

    def _on_hup(self) -> None:
        self.notifier.notify(reloading=1, monotonic_usec=time.clock_gettime_ns(
            time.CLOCK_MONOTONIC) // 1000)
        try:
            config, problems = read_config(self.args, self.config.node_name)
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
        if pending:
            self.log.warning("reload: these changes need a restart (systemctl restart hbd); "
                             "running on with the old values", changed=", ".join(pending))
        for problem in logs.configure(logfile=new.hacf.logfile, debugfile=new.hacf.debugfile,
                                      logfacility=new.hacf.logfacility,
                                      debug=new.hacf.debug > 0):
            self.log.warning(problem)
        self.runtime.apply_config(new)          # authkeys, msgfmt, compression
        applied = [name for name in LIVE_HACF
                   if getattr(old.hacf, name) != getattr(new.hacf, name)]
        if new.authkeys != old.authkeys:
            applied.append("authkeys")
        self.log.info("configuration reloaded", applied=", ".join(applied) or "nothing new")

    # --- hbctl ---------------------------------------------------------------------------------
    async def _answer(self, request: Request):
        from hbd.control import handle_request
        return handle_request(request, self)

    def daemon_info(self) -> dict:
        info = {"pid": os.getpid(), "uptime_s": round(time.monotonic() - self.started_at, 3),
                "config_dir": self.config.config_dir, "state_dir": self.state.path,
                "journaled": self.identity.journaled()}
        if self.media:
            info["media"] = self.media.counters()
        if self.runtime:
            info["runtime"] = dict(self.runtime.counters)
        return info


def _dirs(args: argparse.Namespace):
    from hbd.commands.check_config import agent_dirs
    return agent_dirs(args)


def _authorizer(config: ClusterConfig):
    from hbd.control import Authorizer
    return Authorizer(config.hacf.apiauth)

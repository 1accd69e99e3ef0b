"""The drill runner: steady state, failure, recovery, figures (see scenario.py's table).

    runner = DrillRunner(lab, HbdSystem(lab), services, deadtime=1.0, stonith=False)
    result = runner.run("crash", ("node0",))

Each drill: check the steady state (the client sees each VIP answered by its
primary), start node1's link monitor and the holders sampler, inject the
failure (`faults.py`), then

* for a drill that moves the VIP (stop, unplug, isolate, poweroff, crash, and
  hang with STONITH or a watchdog): wait for node1 to answer on the VIP (or, with `hold`, a
  fixed time, as the benchmark's cable pull of 2 s), let it settle, recover,
  wait for the primary to answer again, let it settle;
* for a drill after which the VIP should stay (hang without either, hblan):
  wait `hold` (hang: 3 x deadtime; hblan: the cut), recover, and watch for
  `after` seconds (3 x deadtime, at least 3 s) that nothing moves;

and read the figures off the client's probe log, the sampler's records and
node1's link monitor (`expect.py`). Works with any HA system through `System`
(hbd here; heartbeat and keepalived in the benchmark).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from hbd_lab import timeline
from hbd_lab.cluster import Lab, wait_for
from hbd_lab.expect import Setting, evaluate
from hbd_lab.faults import Faults
from hbd_lab.scenario import (DRILLS, STANDBY, VIPS, DrillResult, HbdSystem, System, ms,
                              own_identity_problems)
from hbd_lab.services import LinkMonitor, Services

__all__ = ["DRILLS", "VIPS", "STANDBY", "DrillResult", "DrillRunner", "HbdSystem", "System",
           "ms", "own_identity_problems"]


class DrillRunner:
    def __init__(self, lab: Lab, system: System, services: Services, *,
                 deadtime: float = 1.0, stonith: bool = False, watchdog: bool = False,
                 settle: float = 1.0,
                 takeover_timeout: float = 30.0, failback_timeout: float = 30.0,
                 hblan_cut: float = 10.0,
                 progress: Callable[[str], None] = lambda text: None) -> None:
        self.lab = lab
        self.system = system
        self.services = services
        self.faults = Faults(lab, system, services)
        self.setting = Setting(deadtime, stonith, watchdog)
        self.settle = settle
        self.takeover_timeout = takeover_timeout
        self.failback_timeout = failback_timeout
        self.hblan_cut = hblan_cut
        self.progress = progress

    # --- kept for callers that inject by hand (the benchmark's reset) ------------------
    def inject(self, drill: str, node: str) -> None:
        self.faults.inject(drill, node)

    def boot(self, node: str) -> None:
        self.faults.boot(node)

    # --- waiting on the client's view ----------------------------------------------
    def answered(self, vip_of: str, node: str, after: float) -> timeline.Probe | None:
        probes = timeline.for_target(self.services.probes(), VIPS[vip_of][0])
        return timeline.first_answer_by(probes, node, after)

    def taken(self, vip_of: str, primaries: tuple[str, ...],
              after: float) -> timeline.Probe | None:
        """The first answer on `vip_of`'s VIP after `after` by a node not failing:
        node1 when the system follows the scenario, another node when it does not."""
        probes = timeline.for_target(self.services.probes(), VIPS[vip_of][0])
        return timeline.first_answer_besides(probes, primaries, after)

    def wait_answer(self, vip_of: str, node: str, after: float, timeout: float,
                    what: str, *, taken_from: tuple[str, ...] = ()) -> float | None:
        """When `node` answered on `vip_of`'s VIP after `after` (with `taken_from`:
        any node but those), or None after `timeout`."""
        def seen() -> timeline.Probe | None:
            if taken_from:
                return self.taken(vip_of, taken_from, after)
            return self.answered(vip_of, node, after)
        try:
            probe = wait_for(seen, timeout=timeout, what=what, interval=0.02)
        except TimeoutError:
            return None
        return probe.t

    def steady(self, primaries: tuple[str, ...] = tuple(VIPS), timeout: float = 60.0) -> None:
        for primary in VIPS:
            if self.wait_answer(primary, primary, time.monotonic(), timeout,
                                f"{primary} to answer on {VIPS[primary][0]}") is None:
                raise TimeoutError(f"the lab is not steady: {VIPS[primary][0]} is not answered "
                                   f"by {primary}")

    def _pause(self, seconds: float, what: str) -> None:
        end = time.monotonic() + seconds
        wait_for(lambda: time.monotonic() >= end, timeout=seconds + 1, what=what, interval=0.02)

    # --- one drill -----------------------------------------------------------------------
    def moves(self, drill: str) -> bool:
        """Whether the drill expects the VIP to move to node1."""
        return drill not in ("hblan", "hang") or (drill == "hang" and self.setting.fencing)

    def run(self, drill: str, primaries: tuple[str, ...], *,
            hold: float | None = None) -> DrillResult:
        """Run `drill` on `primaries`. `hold`: how long the failure lasts (default: until
        node1 answered and settled for a moving drill, else the drill's own time)."""
        if drill not in DRILLS:
            raise ValueError(f"unknown drill {drill}")
        label = "+".join(primaries)
        result = DrillResult(drill, label, self.system.name)
        tag = f"{drill}-{label}"
        monitor = LinkMonitor(self.lab, STANDBY, os.path.join(
            self.services.log_dir, f"monitor-{tag}.log"))
        sampler = None
        try:
            self.progress(f"{drill} {label}: waiting for the steady state")
            self.steady(primaries)
            sampler = self.services.sample(tag)
            wait_for(sampler.states, timeout=10, what="the holders sampler to start")
            self.progress(f"{drill} {label}: injecting")
            result.t_fail = time.monotonic()
            for node in primaries:
                self.faults.inject(drill, node)
            self._during(result, drill, primaries, hold)
            changed = monitor.first_change_after(result.t_fail)
            result.detection = None if changed is None else changed - result.t_fail
            self.progress(f"{drill} {label}: recovering")
            result.t_recover = time.monotonic()
            for node in primaries:
                self.faults.recover(drill, node)
            self._after(result, drill, primaries)
            result.t_end = time.monotonic()
        finally:
            monitor.close()
            if sampler is not None:
                sampler.close()
        evaluate(result, primaries, self.services.probes(),
                 sampler.states() if sampler else [], self.setting)
        if not result.restored:
            result.problems += own_identity_problems(self.lab, STANDBY)
        return result

    def _during(self, result: DrillResult, drill: str, primaries: tuple[str, ...],
                hold: float | None) -> None:
        deadtime = self.setting.deadtime
        if hold is None and not self.moves(drill):
            hold = self.hblan_cut if drill == "hblan" else max(3.0, 3 * deadtime)
        if hold is not None:
            self._pause(hold, f"{drill} to last {hold:g} s")
        else:
            timeout = self.takeover_timeout
            if drill == "unplug":     # a system that never moves on it: do not wait long
                timeout = min(timeout, 3 * deadtime + 2)
            for node in primaries:
                self.wait_answer(node, STANDBY, result.t_fail, timeout,
                                 f"a node to take {VIPS[node][0]}", taken_from=primaries)
            self._pause(self.settle, "settling")
        # powered off although the drill did not do it: a STONITH device did
        result.fenced = drill != "poweroff" and all(map(self.faults.powered_off, primaries))

    def _after(self, result: DrillResult, drill: str, primaries: tuple[str, ...]) -> None:
        if not self.moves(drill):
            self._pause(max(3.0, 3 * self.setting.deadtime), "nothing to move after recovery")
        elif self.taken(primaries[0], primaries, result.t_fail) is not None:
            latest = 0.0
            for node in primaries:
                t = self.wait_answer(node, node, result.t_recover or 0.0, self.failback_timeout,
                                     f"{node} to answer on {VIPS[node][0]} again")
                if t is None:
                    break
                latest = max(latest, t)
            else:
                result.t_back = latest
        try:
            wait_for(lambda: not own_identity_problems(self.lab, STANDBY), timeout=10,
                     what=f"{STANDBY} to be itself again")
            result.restored = True
        except TimeoutError:
            pass
        self._pause(self.settle, "settling")


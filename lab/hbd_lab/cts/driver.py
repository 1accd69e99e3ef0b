"""Run heartbeat's CTS against the lab: what CTSlab.py's `__main__` does, lab-wired.

Run by `run.py` with CTS's Python: `compat/` and /usr/share/heartbeat/cts
first on PYTHONPATH, the run's settings in the JSON file HBD_CTS_CONFIG
names. Nothing of CTS is edited; at run time this module

* points `RemoteExec` at `bin/hbd-cts-rsh` instead of ssh/scp, and "is the node
  booted" at the node's namespace instead of ping (nodes need no DNS);
* subclasses heartbeat's `HeartbeatCM` (its name stays "heartbeat", so the
  heartbeat-only tests and audits apply) with the lab's commands
  (`bin/hbd-cts-node`), resource probes (`probes/`) and timings scaled to
  the lab's (deadtime 1 s instead of 30 s);
* gives `LogWatcher` a debug level of 0 rather than None (Python 3 cannot
  compare None with 4);
* logs CTS's own lines to a file and stderr (CTSlab.py's loggers write
  Python 3 strings one character per line);
* runs the chosen tests in turn, each `iterations` times, through CTS's own
  `RandomTests` (its scenario, audits, bad-news scan and summary): the test
  choice is a round robin, the node choice stays random (seeded).

Test names are CTS's (`Flip`, `standby`, `DetectionTime`) or its class names
(`FlipTest`, `StandbyTest`, `Fastdetection`); `StopTest` and `StartTest`,
which CTS runs only inside other tests, may be named too.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import time
from typing import Any

import CTS  # type: ignore[import-not-found]
import CTSaudits  # type: ignore[import-not-found]
import CTSlab  # type: ignore[import-not-found]
import CTStests  # type: ignore[import-not-found]
from CM_hb import HeartbeatCM  # type: ignore[import-not-found]

CFG: dict[str, Any] = {}


class Log:
    """One of CTS's loggers: a callable taking a line, with `name()` and `write()`."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def __call__(self, line: str) -> None:
        text = f"{time.strftime('%b %d %H:%M:%S')}\t{line}\n"
        if self.path is None:
            sys.stderr.write(text)
            sys.stderr.flush()
        else:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(text)

    def write(self, data: str) -> None:
        for line in data.splitlines():
            self(line)

    def name(self) -> str:
        return "StdErrLog" if self.path is None else "FileLog"


class LabCM(HeartbeatCM):  # type: ignore[misc]
    """heartbeat's cluster manager class, with the lab's commands and timings."""

    def __init__(self, env: Any, randseed: Any = None) -> None:
        HeartbeatCM.__init__(self, env, randseed=randseed)
        node = os.path.join(CFG["bin"], "hbd-cts-node")
        self.update({
            "StartCmd": f"{node} start",
            "StopCmd": f"{node} stop",
            "StatusCmd": f"{node} status",
            "RereadCmd": f"{node} reload",
            "BreakCommCmd": f"{node} break",
            "FixCommCmd": f"{node} fix",
            "DelFileCommCmd": "true",
            "SaveFileCmd": "true",
            "ReduceCommCmd": "true %s %s",
            "RestoreCommCmd": "true",
            "Standby": f"{node} standby",
            "DeadTime": CFG["deadtime"],
            "StableTime": CFG["stabletime"],
            "StartTime": CFG["starttime"],
        })
        self.ResourceDirs = [CFG["probes"]]

    def ResourceGroups(self) -> list[list[Any]]:   # noqa: N802 -- CTS's name
        """CM_hb's reading of haresources, except that a resource keeps all its
        arguments (CM_hb keeps the first: both groups' `MacAddr::eth0::MAC`
        became `MacAddr eth0`, "served" on both primaries) and DefaultRoute is
        left out (every lab node has a default route via the gateway; which
        group's it is cannot be seen)."""
        groups = []
        with open(self.ResourceFile, encoding="utf-8") as handle:
            for line in handle:
                words = line.split("#", 1)[0].split()
                group = []
                for word in words[1:]:
                    kind, _, instance = word.partition("::")
                    if not instance and re.match(r"^\d+\.\d+\.\d+\.\d+", kind):
                        kind, instance = "IPaddr", kind
                    if kind != "DefaultRoute":
                        group.append(self.hbResource(kind, instance or None))
                if group:
                    groups.append(group)
        return groups

    def errorstoignore(self) -> list[str]:
        """The lab's environment, not the daemon: heartbeat mlockall()s itself and
        this machine's RLIMIT_MEMLOCK (not raisable here) is too small for it."""
        return ["Cannot lock ourselves into memory"]

    def Components(self) -> list[Any]:   # noqa: N802 -- CTS's name
        """The CRM's processes (ComponentFail, v2 only); CM_hb lacks it, so
        merely listing CTS's tests fails with heartbeat's own class."""
        return []


def patch_cts() -> None:
    remote = os.path.join(CFG["bin"], "hbd-cts-rsh")
    original = CTS.RemoteExec.__init__

    def remote_exec_init(self: Any) -> None:
        original(self)
        self.Command = remote
        self.CommandnoBlock = f"{remote} --nowait"
        self.CpCommand = f"{remote} --copy"

    CTS.RemoteExec.__init__ = remote_exec_init
    watcher_init = CTS.LogWatcher.__init__

    def log_watcher_init(self: Any, log: str, regexes: Any, timeout: int = 10,
                         debug: Any = None) -> None:
        watcher_init(self, log, regexes, timeout, debug or 0)   # Python 3: None > 4 fails

    CTS.LogWatcher.__init__ = log_watcher_init
    # `"min_time" not in test` (RandomTests.run): CTSTest has only __getitem__
    CTStests.CTSTest.__contains__ = lambda self, key: key in self.Stats
    CTS.NodeStatus.IsNodeBooted = lambda self, node: os.path.exists(
        f"/run/netns/{CFG['prefix']}-{node}")
    CTSlab.gethostbyname_ex = lambda node: (node, [], [])


class RoundRobin(random.Random):
    """CTS's random generator, except that the test it picks is the next in turn."""

    tests: list[Any] = []

    def __init__(self, seed: Any) -> None:
        super().__init__(seed)
        self.turn = 0

    def choice(self, seq: Any) -> Any:
        if seq is RoundRobin.tests and seq:
            test = seq[self.turn % len(seq)]
            self.turn += 1
            return test
        return super().choice(seq)


def environment() -> Any:
    env = CTSlab.CtsLab(CFG["nodes"])
    for key, value in {
            "HAdir": CFG["ha_dir"], "ClobberCIB": 0, "CIBfilename": None, "CIBResource": 0,
            "LogFileName": CFG["logfile"], "DoStonith": 0, "SyslogFacility": "local0",
            "DoStandby": 1, "DoFencing": 0, "ResCanStop": 0, "SuppressMonitoring": 1,
            "XmitLoss": "0.0", "RecvLoss": "0.0", "IPBase": "127.0.0.10", "SuppressCib": 1,
            "DoBSC": 0, "use_logd": 0, "logfacility": "local0", "oprofile": [],
            "RandSeed": CFG["seed"], "CMclass": LabCM,
            "logger": (Log(CFG["ctslog"]), Log(None))}.items():
        env[key] = value
    env.SupplyDefaults()
    env.RandomGen = RoundRobin(str(CFG["seed"]))
    return env


def chosen_tests(cm: Any) -> list[Any]:
    classes = list(CTStests.AllTestClasses) + [CTStests.StopTest, CTStests.StartTest]
    if not CFG["tests"]:
        return CTStests.TestList(cm)
    out = []
    for wanted in CFG["tests"]:
        for cls in classes:
            test = cls(cm)
            if wanted in (cls.__name__, test.name):
                if cls in (CTStests.StopTest, CTStests.StartTest):
                    test.is_applicable = lambda: 1
                if not test.is_applicable():
                    raise SystemExit(f"CTS test {wanted} does not apply to this cluster")
                out.append(test)
                break
        else:
            raise SystemExit(f"no CTS test {wanted}")
    return out


def main(argv: list[str]) -> int:
    with open(os.environ["HBD_CTS_CONFIG"], encoding="utf-8") as handle:
        CFG.update(json.load(handle))
    patch_cts()
    env = environment()
    cm = env["CMclass"](env)
    tests = chosen_tests(cm)
    if argv[:1] == ["--list"]:
        for test in CTStests.TestList(cm):
            print(test.name)
        return 0
    cm.log(f">>>>>>>>>>>>>>>> BEGINNING {len(tests) * CFG['iterations']} TESTS ")
    cm.log("HA configuration directory: " + env["HAdir"])
    cm.log("System log files: " + env["LogFileName"])
    cm.log(f"Cluster manager: {CFG['system']} (CTS name {cm['Name']})")
    scenario = CTS.Scenario([CTS.InitClusterManager(env), CTS.PacketLoss(env)])
    runner = CTStests.RandomTests(scenario, cm, tests, CTSaudits.AuditList(cm))
    RoundRobin.tests = runner.Tests
    env.RandomTests = runner
    try:
        if runner.run(len(runner.Tests) * CFG["iterations"]) is None:
            cm.log("Scenario setup failed: no test ran")
            runner.incr("failure")
    except Exception:   # noqa: BLE001 -- CTSlab.py's own handling: log it, summarise
        import traceback
        cm.log(f"Exception by {sys.exc_info()[0]}")
        for logger in env["logger"]:
            traceback.print_exc(50, logger)
        runner.incr("failure")
    runner.summarize()
    return min(runner.Stats["failure"], 100)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""hbd/respawn.py with real processes: ha.cf's `respawn USER COMMAND` run as heartbeat 3.0.6
runs it (as USER, own process group, stdio on /dev/null, HA_* environment), restarted
with its rate limits, and stopped in reverse line order at shutdown."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from hbd.config.model import ClientKind, Respawn
from hbd.respawn import Limits, Outcome, Respawner, State, after_exit, pause_before
from tests.waiting import until

# heartbeat's rules, with the pause shrunk so eleven short runs take well under a second
FAST = Limits(short_run=30.0, restart_delay=0.05, max_short_runs=10, stop_grace=5.0,
              kill_wait=5.0, lookup_timeout=10.0)
WAIT = 20.0

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="running a program as nobody needs root")


class Recorder:
    """A structlog-like logger that keeps (level, event, fields)."""

    def __init__(self, lines: list | None = None, fields: dict | None = None) -> None:
        self.lines = [] if lines is None else lines
        self.fields = fields or {}

    def bind(self, **fields):
        return Recorder(self.lines, {**self.fields, **fields})

    def _add(self, level, event, **fields):
        self.lines.append((level, event, {**self.fields, **fields}))

    def debug(self, event, **fields):
        self._add("debug", event, **fields)

    def info(self, event, **fields):
        self._add("info", event, **fields)

    def warning(self, event, **fields):
        self._add("warning", event, **fields)

    def error(self, event, **fields):
        self._add("error", event, **fields)

    def events(self, level: str | None = None) -> list[str]:
        return [event for lvl, event, _ in self.lines if level in (None, lvl)]


def entry(command: str, user: str = "nobody", line: int = 1,
          kind: ClientKind = ClientKind.PROGRAM) -> Respawn:
    return Respawn(user, tuple(command.split()), line, command, kind)


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    for text in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = text.partition(":")
        out[key] = value.split()
    return out


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def shared():
    """A directory nobody can write to (pytest's tmp_path is root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="hbd-respawn-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


@pytest.fixture
async def closing():
    """Respawners made in a test; closed at its end even when it fails."""
    made: list[Respawner] = []
    yield made
    for respawner in made:
        await asyncio.wait_for(respawner.close(), 60)


# --- the rule (pure) ----------------------------------------------------------------------

def test_the_eleventh_short_run_in_a_row_gives_up_and_a_long_run_resets_the_count():
    limits = Limits()
    count, outcomes = 0, []
    for _ in range(11):
        outcome, count = after_exit(1, 29.9, count, limits)
        outcomes.append(outcome)
    assert outcomes == [Outcome.RESTART] * 10 + [Outcome.TOO_FAST]
    assert after_exit(0, 30.0, 10, limits) == (Outcome.RESTART, 0)     # 30 s is not short
    assert after_exit(-9, 1.0, 9, limits) == (Outcome.RESTART, 10)     # a signal counts too
    assert after_exit(100, 1.0, 4, limits) == (Outcome.FINAL, 4)
    assert after_exit(100, 300.0, 0, limits) == (Outcome.FINAL, 0)
    assert pause_before(0, limits) == 0.0 and pause_before(1, limits) == 1.0


# --- with real processes -------------------------------------------------------------------

@needs_root
async def test_started_as_the_user_in_its_own_group_with_the_env_exported(closing):
    log = Recorder()
    respawner = Respawner([entry("/bin/sleep 1000", line=7)], (("FOO", "bar baz"), ("X", "")),
                          log, base_env={"HA_LOGFACILITY": "daemon"}, limits=FAST)
    closing.append(respawner)
    respawner.start()
    client = respawner.clients[0]
    await until(lambda: client.state is State.RUNNING, WAIT, what="the program running")
    pid = client.pid
    nobody = pwd.getpwnam("nobody")
    status = proc_status(pid)
    assert status["Uid"] == [str(nobody.pw_uid)] * 4
    assert status["Gid"] == [str(nobody.pw_gid)] * 4
    assert set(status["Groups"]) == {str(g) for g in os.getgrouplist("nobody", nobody.pw_gid)}
    assert os.getpgid(pid) == pid and os.getsid(pid) == os.getsid(0)
    # `exec COMMAND`: the shell is replaced by the program
    assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"/bin/sleep\x001000\x00"
    assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"]
    assert {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in "012"} == {"/dev/null"}
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    env = dict(item.split("=", 1) for item in
               Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if item)
    assert (env["HA_FOO"], env["HA_X"], env["HA_LOGFACILITY"]) == ("bar baz", "", "daemon")
    assert f'Starting "/bin/sleep 1000" as uid {nobody.pw_uid}  gid {nobody.pw_gid} (pid {pid})' \
        in log.events("info")
    counters = respawner.counters()
    assert counters["started"] == 1 and counters["running"] == 1
    assert counters["programs"][0]["line"] == 7 and counters["programs"][0]["pid"] == pid
    await respawner.close()
    assert not alive(pid) and client.state is State.STOPPED


@needs_root
async def test_restarted_after_it_exits_and_not_once_shutdown_began(closing):
    log = Recorder()
    respawner = Respawner([entry("/bin/sleep 1000")], (), log, limits=FAST)
    closing.append(respawner)
    respawner.start()
    client = respawner.clients[0]
    await until(lambda: client.pid is not None, WAIT, what="the first run")
    first = client.pid
    os.kill(first, signal.SIGKILL)
    await until(lambda: client.pid not in (None, first), WAIT, what="the restart")
    assert client.runs == 2 and client.short_runs == 1 and client.last_exit == -9
    assert f"Client /bin/sleep 1000 (pid={first}) killed by signal 9." in log.events("error")
    assert 'Respawning client "/bin/sleep 1000":' in log.events("warning")
    assert proc_status(client.pid)["Uid"][0] == str(pwd.getpwnam("nobody").pw_uid)

    respawner.begin_shutdown()                     # heartbeat: shutdown_in_progress
    second = client.pid
    assert alive(second)                           # still running until the resources are released
    os.kill(second, signal.SIGTERM)
    await asyncio.wait_for(asyncio.shield(client.task), WAIT)
    assert client.state is State.STOPPED and client.runs == 2 and client.pid is None
    assert respawner.counters()["restarted"] == 1


@needs_root
async def test_a_short_run_pauses_the_restart_and_shutdown_cancels_it(closing):
    respawner = Respawner([entry("/bin/sleep 1000")], (), Recorder(),
                          limits=Limits(restart_delay=60.0))
    closing.append(respawner)
    respawner.start()
    client = respawner.clients[0]
    await until(lambda: client.pid is not None, WAIT, what="the first run")
    os.kill(client.pid, signal.SIGKILL)
    await until(lambda: client.state is State.STARTING, WAIT, what="the pause before the restart")
    assert client.pid is None and client.short_runs == 1
    respawner.begin_shutdown()          # well within the 60 s pause
    await asyncio.wait_for(asyncio.shield(client.task), WAIT)
    assert client.state is State.STOPPED and client.runs == 1


@needs_root
async def test_exit_status_100_is_final(closing):
    respawner = Respawner([entry('/bin/sh -c "exit 100"')], (), Recorder(), limits=FAST)
    closing.append(respawner)
    respawner.start()
    client = respawner.clients[0]
    await asyncio.wait_for(asyncio.shield(client.task), WAIT)
    assert (client.state, client.runs, client.last_exit) == (State.FINISHED, 1, 100)
    counters = respawner.counters()
    assert (counters["final"], counters["restarted"]) == (1, 0)


@needs_root
async def test_the_eleventh_short_run_logs_respawning_too_fast_and_it_stays_stopped(closing):
    log = Recorder()
    respawner = Respawner([entry("/bin/false")], (), log, limits=FAST)
    closing.append(respawner)
    respawner.start()
    client = respawner.clients[0]
    await asyncio.wait_for(asyncio.shield(client.task), WAIT)   # the supervisor is done
    assert client.state is State.GAVE_UP and client.runs == 11
    assert log.events("error").count("Client /bin/false exited with return code 1.") == 11
    assert log.events("error")[-1] == 'Client /bin/false "respawning too fast"'
    counters = respawner.counters()
    assert (counters["started"], counters["restarted"], counters["too_fast"]) == (11, 10, 1)


@needs_root
async def test_runs_that_are_not_short_never_give_up(closing):
    # every run "lasts" at least 0 s: none is short, so no pause and no limit
    respawner = Respawner([entry("/bin/false")], (), Recorder(),
                          limits=Limits(short_run=0.0, restart_delay=60.0))
    closing.append(respawner)
    respawner.start()
    client = respawner.clients[0]
    await until(lambda: client.runs >= 15, WAIT, what="fifteen runs")
    assert client.state is not State.GAVE_UP and client.short_runs == 0
    await respawner.close()
    assert respawner.counters()["too_fast"] == 0


@needs_root
async def test_stopped_one_at_a_time_in_reverse_line_order(closing, shared):
    out = shared / "out"
    prog = script(shared / "prog.sh",
                  f"trap 'echo term $1 >> {out}; sleep 0.2; echo gone $1 >> {out}; exit 0' TERM\n"
                  f"echo up $1 >> {out}\n"
                  "sleep 1000 & wait $!\n")
    log = Recorder()
    respawner = Respawner([entry(f"{prog} {name}", line=n)
                           for n, name in enumerate("abc", start=10)], (), log, limits=FAST)
    closing.append(respawner)
    respawner.start()
    await until(lambda: out.exists() and out.read_text().count("up") == 3, WAIT,
                what="three programs up")
    assert [e.split('"')[1] for e in log.events("info") if e.startswith("Starting")] == \
        [f"{prog} a", f"{prog} b", f"{prog} c"]           # started in line order
    await asyncio.wait_for(respawner.close(), WAIT)
    lines = out.read_text().split("\n")[3:-1]
    assert lines == ["term c", "gone c", "term b", "gone b", "term a", "gone a"]
    assert all(c.state is State.STOPPED for c in respawner.clients)
    assert respawner.counters()["killed"] == 0


@needs_root
async def test_a_program_ignoring_sigterm_is_killed_with_its_group_after_the_bound(closing, shared):
    pids = shared / "pids"
    prog = script(shared / "stubborn.sh",
                  f"trap '' TERM\nsleep 1000 &\necho $$ $! > {pids}\nwait $!\n")
    log = Recorder()
    limits = Limits(restart_delay=0.05, stop_grace=0.3, kill_wait=5.0)
    respawner = Respawner([entry(str(prog))], (), log, limits=limits)
    closing.append(respawner)
    respawner.start()
    await until(pids.exists, WAIT, what="the program up")
    await until(lambda: len(pids.read_text().split()) == 2, WAIT, what="its pids")
    leader, child = (int(p) for p in pids.read_text().split())
    assert respawner.clients[0].pid == leader
    await asyncio.wait_for(respawner.close(), WAIT)
    await until(lambda: not alive(child), WAIT, what="the group's other process gone")
    assert not alive(leader)
    counters = respawner.counters()
    assert (counters["killed"], counters["unkillable"]) == (1, 0)
    assert any("still running 0.3 s after SIGTERM" in e for e in log.events("warning"))
    assert respawner.clients[0].state is State.STOPPED


async def test_unknown_user_and_missing_program_are_log_lines_not_exceptions(closing):
    log = Recorder()
    respawner = Respawner([entry("/bin/sleep 1000", user="hbd-no-such-user", line=3),
                           entry("/nonexistent/hbd-program", line=4)], (), log, limits=FAST)
    closing.append(respawner)
    respawner.start()
    for client in respawner.clients:
        await asyncio.wait_for(asyncio.shield(client.task), WAIT)
        assert client.state is State.FAILED and client.runs == 0
    errors = log.events("error")
    assert ("Invalid uid [hbd-no-such-user] specified for client child; /bin/sleep is not "
            "started") in errors
    assert any(e.startswith("Cannot exec /nonexistent/hbd-program") for e in errors)
    counters = respawner.counters()
    assert (counters["unknown_user"], counters["cannot_exec"], counters["started"]) == (1, 1, 0)
    await respawner.close()


async def test_api_clients_are_never_run_and_nothing_starts_after_shutdown(closing):
    api = entry("/usr/lib/heartbeat/ipfail", user="hacluster", kind=ClientKind.API_CLIENT)
    respawner = Respawner([api, entry("/bin/sleep 1000", line=2)], (), Recorder(), limits=FAST)
    closing.append(respawner)
    assert [c.entry.line for c in respawner.clients] == [2]
    await respawner.close()                  # shutdown before communication came up
    respawner.start()                        # too late: nothing starts
    counters = respawner.counters()
    assert counters["api_clients_not_run"] == 1 and counters["started"] == 0
    assert respawner.clients[0].task is None and respawner.clients[0].state is State.STOPPED

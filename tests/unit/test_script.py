"""Script resources (hbd/resources/script.py) with tiny scripts in a temporary tree.

tmp_path sits under /tmp (root-owned, sticky) in a directory that pytest makes
0700 for the current user, so the tree passes the ownership check when that
user is trusted; tests that chown need root.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from hbd.config.agents import AgentDirs
from hbd.config.model import Resource
from hbd.core.events import ResourceOpKind
from hbd.resources import proctree
from hbd.resources.script import (
    OUTPUT_CAP,
    SAFE_PATH,
    ScriptRunner,
    StatusScan,
    status_says_running,
    unsafe_path,
)
from tests.unit.kernel_stall import make_stall
from tests.waiting import until

START, STOP, STATUS = ResourceOpKind.START, ResourceOpKind.STOP, ResourceOpKind.STATUS
TRUSTED = tuple(sorted({0, os.getuid()}))
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


@pytest.fixture
def tree(tmp_path: Path):
    for sub in ("ha.d/resource.d", "init.d", "ocf/resource.d/test"):
        (tmp_path / sub).mkdir(parents=True)
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(0o755)
    yield tmp_path
    # whatever a failed test left running (scripts record their pids) is killed
    for record in ("ha.d/pids", "ha.d/child"):
        try:
            pids = [int(p) for p in (tmp_path / record).read_text().split()]
        except (OSError, ValueError):
            continue
        for pid in pids:
            try:   # only if it is still ours (pids are reused)
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    cmdline = handle.read()
                if b"sleep" in cmdline or str(tmp_path).encode() in cmdline:
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass


def dirs_of(tree: Path) -> AgentDirs:
    return AgentDirs(str(tree / "ha.d/resource.d"), str(tree / "init.d"), str(tree / "ocf"))


def runner(tree: Path, **options) -> ScriptRunner:
    options.setdefault("trusted_uids", TRUSTED)
    return ScriptRunner(dirs_of(tree), **options)


def script(path: Path, body: str, mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(mode)
    return path


def proc_state(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a process, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()
    except OSError:
        return None
    return fields[0].decode(), int(fields[1])


def dead(pid: int) -> bool:
    """Gone, or a zombie that is not ours (pid 1 of some containers never reaps)."""
    state = proc_state(pid)
    return state is None or (state[0] == "Z" and state[1] != os.getpid())


def our_zombies() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and proc_state(int(entry.name)) == ("Z", os.getpid()):
            found.append(int(entry.name))
    return found


# --- how scripts are called ----------------------------------------------------------

async def test_resource_d_script_gets_args_then_op(tree):
    script(tree / "ha.d/resource.d/web", 'printf "%s\\n" "$@" > "$HA_DIR/argv"\n')
    result = await runner(tree).run(Resource("web", ("10.0.0.5", "", "eth0")), START)
    assert result.ok and result.rc == 0
    # heartbeat splits the "::" list into words, so the empty argument vanishes
    assert (tree / "ha.d/argv").read_text().split("\n")[:-1] == ["10.0.0.5", "eth0", "start"]


async def test_bare_name_falls_back_to_init_d(tree):
    script(tree / "init.d/web", 'printf "%s\\n" "$0" "$@" > /dev/stderr; exit 3\n')
    result = await runner(tree).run(Resource("web", ("x",)), STOP)
    assert not result.ok and result.rc == 3
    assert f"{tree}/init.d/web | x | stop" in result.detail


async def test_lsb_script_gets_only_the_op(tree):
    script(tree / "ha.d/resource.d/web", "exit 9\n")     # never used for lsb:
    script(tree / "init.d/web", 'echo "argv: $*" >&2; exit 1\n')
    result = await runner(tree).run(Resource("lsb:web"), START)
    assert result.detail == "start of lsb:web failed: exit 1; output: argv: start"


async def test_heartbeat_class_looks_only_in_resource_d(tree):
    script(tree / "init.d/web", "exit 0\n")
    result = await runner(tree).run(Resource("heartbeat:web"), START)
    assert not result.ok
    assert result.detail.startswith("start of heartbeat:web refused: resource script "
                                    f"'heartbeat:web' not found: looked for {tree}/ha.d/resource.d/web;")


async def test_script_without_shebang_runs_with_sh(tree):
    path = tree / "ha.d/resource.d/old"
    path.write_text('echo "old style is running"\n')
    path.chmod(0o755)
    assert (await runner(tree).run(Resource("old"), STATUS)).ok


async def test_environment_is_built_not_inherited(tree, monkeypatch):
    monkeypatch.setenv("HBD_JUNK", "leaked")
    script(tree / "ha.d/resource.d/env", 'env > "$HA_DIR/env"\n')
    extra = {"HA_LOGFACILITY": "local7", "HA_DEBUGLOG": "/dev/null"}
    assert (await runner(tree, env=extra).run(Resource("env"), START)).ok
    env = dict(line.split("=", 1) for line in (tree / "ha.d/env").read_text().splitlines())
    assert "HBD_JUNK" not in env and "HOME" not in env
    assert env["PATH"] == SAFE_PATH and env["LANG"] == "C"
    assert env["HA_DIR"] == f"{tree}/ha.d" and env["HA_RESOURCEDIR"] == f"{tree}/ha.d/resource.d"
    assert env["HA_LOGD"] == "no" and env["HA_LOGFACILITY"] == "local7"
    assert not any(key.startswith("OCF_") for key in env)


async def test_ocf_agent_gets_its_environment(tree):
    script(tree / "ocf/resource.d/test/vip", 'echo "$0 $*" > "$OCF_ROOT/argv"; env > "$OCF_ROOT/env"; exit 7\n')
    resource = Resource("ocf:test:vip", ("ip=10.0.0.5", "cidr_netmask=24"))
    result = await runner(tree, timeout=2.5).run(resource, STATUS, instance="web 1/x:0")
    assert (result.ok, result.rc) == (False, 7)
    assert (tree / "ocf/argv").read_text() == f"{tree}/ocf/resource.d/test/vip monitor\n"
    env = dict(line.split("=", 1) for line in (tree / "ocf/env").read_text().splitlines())
    assert env["OCF_ROOT"] == f"{tree}/ocf"
    assert env["OCF_RESKEY_ip"] == "10.0.0.5" and env["OCF_RESKEY_cidr_netmask"] == "24"
    assert env["OCF_RESOURCE_INSTANCE"] == "web_1_x:0"
    assert env["OCF_RESKEY_CRM_meta_timeout"] == "2500"
    assert (env["OCF_RA_VERSION_MAJOR"], env["OCF_RA_VERSION_MINOR"]) == ("1", "0")
    assert (env["OCF_RESOURCE_TYPE"], env["OCF_RESOURCE_PROVIDER"]) == ("vip", "test")


async def test_ocf_instance_defaults_to_the_spec(tree):
    script(tree / "ocf/resource.d/test/vip", 'echo "$OCF_RESOURCE_INSTANCE" >&2; exit 1\n')
    result = await runner(tree).run(Resource("ocf:test:vip", ("ip=10.0.0.5",)), START)
    assert result.detail.endswith("output: ocf:test:vip::ip_10.0.0.5")


# --- how results are read ------------------------------------------------------------

STATUS_SAMPLES = [
    ("httpd is running", True),
    ("Running", True),
    ("[ ok ] sshd is running.", True),
    ("Everything OK", True),
    ("ok", False),                      # OK is matched case-sensitively
    ("httpd is stopped", False),
    ("", False),
    ("httpd is not running", False),
    ("NOT Running", False),
    ("not\nrunning", True),             # "not" needs the space right after it
    ("not \nstarted, running", False),  # ... but "running" may come lines later
    ("cannot find it; running", False), # "cannot " contains "not "
    ("running, not stopped", True),     # "running" must come after the "not "
    ("notrunning OK", True),
]


@pytest.mark.parametrize("output, running", STATUS_SAMPLES)
def test_status_rule_matches_heartbeat(output, running):
    assert status_says_running(output.encode()) is running


def test_status_samples_agree_with_a_real_shell_case():
    """The table above, checked against /bin/sh running ResourceManager's patterns."""
    case = ('case "$1" in *[Nn][Oo][Tt]\\ *[Rr]unning*) echo no;; '
            '*[Rr]unning*|*OK*) echo yes;; *) echo no;; esac')
    for output, running in STATUS_SAMPLES:
        said = subprocess.run(["/bin/sh", "-c", case, "sh", output], capture_output=True,
                              text=True, check=True).stdout.strip()
        assert said == ("yes" if running else "no"), output


def test_status_scan_gives_the_same_answer_in_any_chunking():
    text = b"xx not yy\n" + b"z" * 50 + b"Runn" + b"ing OK"
    for size in range(1, len(text) + 1):
        scan = StatusScan()
        for start in range(0, len(text), size):
            scan.feed(text[start:start + size])
        assert scan.running is False, size


async def test_status_reads_stdout_and_ignores_exit_code(tree):
    run = runner(tree).run
    script(tree / "ha.d/resource.d/a", 'echo "a is running"; exit 3\n')
    script(tree / "ha.d/resource.d/b", 'echo "b is stopped"; exit 0\n')
    script(tree / "init.d/c", 'echo "c is running" >&2; exit 0\n')
    a, b, c = await run(Resource("a"), STATUS), await run(Resource("b"), STATUS), \
        await run(Resource("lsb:c"), STATUS)
    assert (a.ok, a.rc, a.detail) == (True, 3, "a is running (status exit 3)")
    assert (b.ok, b.detail) == (False, "b is not running (status exit 0); output: b is stopped")
    assert not c.ok                     # stderr is not part of the match


async def test_status_matches_whole_output_beyond_the_cap(tree):
    script(tree / "ha.d/resource.d/big",
           'echo "not yet"; head -c 100000 /dev/zero | tr "\\0" "x"; echo; echo running\n')
    result = await runner(tree).run(Resource("big"), STATUS)
    assert not result.ok


@pytest.mark.parametrize("op, rc, ok, detail", [
    (STATUS, 0, True, "ocf:test:a is running"),
    (STATUS, 7, False, "ocf:test:a is not running"),
    (STATUS, 1, False, "monitor of ocf:test:a failed: OCF rc 1 (generic error)"),
    (STATUS, 3, False, "monitor of ocf:test:a failed: OCF rc 3 (unimplemented action)"),
    (START, 0, True, "start of ocf:test:a succeeded"),
    (START, 2, False, "start of ocf:test:a failed: OCF rc 2 (invalid or excess arguments)"),
    (START, 5, False, "start of ocf:test:a failed: OCF rc 5 (program not installed)"),
    (START, 6, False, "start of ocf:test:a failed: OCF rc 6 (program not configured)"),
    (START, 42, False, "start of ocf:test:a failed: OCF rc 42 (unknown code)"),
    (STOP, 0, True, "stop of ocf:test:a succeeded"),
    (STOP, 7, False, "stop of ocf:test:a failed: OCF rc 7 (not running); a successful stop must exit 0"),
])
async def test_ocf_exit_codes(tree, op, rc, ok, detail):
    script(tree / "ocf/resource.d/test/a", f"exit {rc}\n")
    result = await runner(tree).run(Resource("ocf:test:a"), op)
    assert (result.ok, result.rc, result.detail) == (ok, rc, detail)


async def test_failure_detail_keeps_only_the_tail(tree):
    script(tree / "ha.d/resource.d/chatty",
           'i=0; while [ $i -lt 3000 ]; do echo "line $i of noise"; i=$((i+1)); done\n'
           'echo "the real reason"; exit 1\n')
    result = await runner(tree).run(Resource("chatty"), START)
    assert result.detail.startswith("start of chatty failed: exit 1; output: ...")
    assert result.detail.endswith("line 2999 of noise | the real reason")
    assert len(result.detail) < OUTPUT_CAP + 100


async def test_native_resource_is_not_run(tree):
    result = await runner(tree).run(Resource("IPaddr", ("10.0.0.5",)), START)
    assert not result.ok and "is native" in result.detail


async def test_missing_interpreter_is_a_value(tree):
    (tree / "ha.d/resource.d/bad").write_text("#!/nonexistent/interpreter\n")
    (tree / "ha.d/resource.d/bad").chmod(0o755)
    result = await runner(tree).run(Resource("bad"), START)
    assert not result.ok and "cannot run" in result.detail


async def test_non_executable_script_is_named(tree):
    script(tree / "ha.d/resource.d/web", "exit 0\n", mode=0o644)
    problem = runner(tree).check(Resource("web"))
    assert problem == (f"resource script {tree}/ha.d/resource.d/web is not executable: "
                       f"run 'chmod 755 {tree}/ha.d/resource.d/web'")


# --- timeouts and children ------------------------------------------------------------

HANGS = ('sleep 1000 & echo "$$ $!" > "$HA_DIR/pids.new"; mv "$HA_DIR/pids.new" "$HA_DIR/pids"; '
         'echo "waiting for godot"; wait\n')


def hang_pids(tree: Path) -> tuple[int, int]:
    """(script, its sleep child) as written by HANGS."""
    pid, child = (tree / "ha.d/pids").read_text().split()
    return int(pid), int(child)


async def test_timeout_kills_the_whole_process_group(tree):
    script(tree / "ha.d/resource.d/hang", HANGS)
    result = await runner(tree, timeout=0.5, kill_grace=2.0).run(Resource("hang"), START)
    assert not result.ok and result.rc is None
    assert result.detail == "start of hang timed out after 0.5 s; killed; output: waiting for godot"
    pid, child = hang_pids(tree)
    assert proc_state(pid) is None                 # reaped by us
    await until(lambda: dead(child))
    assert our_zombies() == []


async def test_timeout_escalates_to_kill_when_term_is_ignored(tree):
    script(tree / "ha.d/resource.d/stubborn", "trap '' TERM\n" + HANGS)
    loop = asyncio.get_running_loop()
    began = loop.time()
    result = await runner(tree, timeout=0.3, kill_grace=0.3).run(Resource("stubborn"), STOP)
    assert "timed out after 0.3 s; killed" in result.detail
    assert loop.time() - began < 3.0
    await until(lambda: dead(hang_pids(tree)[1]))
    assert our_zombies() == []


async def test_leftover_child_holding_output_does_not_delay_the_result(tree):
    script(tree / "ha.d/resource.d/daemon", 'sleep 1000 & echo $! > "$HA_DIR/child"; echo started\n')
    run = runner(tree, timeout=10.0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    result = await run.run(Resource("daemon"), START)
    child = int((tree / "ha.d/child").read_text())
    try:
        assert result.ok and loop.time() - began < 3.0
        assert not dead(child)                     # a start may leave a daemon behind
    finally:
        os.kill(child, signal.SIGKILL)
        await run.close()
    await until(lambda: dead(child))


async def test_close_kills_and_reaps_a_running_script(tree):
    script(tree / "ha.d/resource.d/hang", HANGS)
    run = runner(tree, timeout=60.0, kill_grace=1.0)
    task = asyncio.create_task(run.run(Resource("hang"), START))
    await until((tree / "ha.d/pids").exists)
    await run.close()
    result = await task
    assert not result.ok and "killed by SIGTERM" in result.detail
    pid, child = hang_pids(tree)
    assert proc_state(pid) is None
    await until(lambda: dead(child))
    assert our_zombies() == []


async def test_cancelled_run_kills_the_group(tree):
    script(tree / "ha.d/resource.d/hang", HANGS)
    task = asyncio.create_task(runner(tree, timeout=60.0).run(Resource("hang"), START))
    await until((tree / "ha.d/pids").exists)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    pid, child = hang_pids(tree)
    await until(lambda: proc_state(pid) is None and dead(child))
    assert our_zombies() == []


# --- safety ----------------------------------------------------------------------------

@pytest.mark.parametrize("where, mode, words", [
    ("ha.d/resource.d", 0o775, "is writable by group: chmod g-w"),
    ("ha.d", 0o757, "is writable by others: chmod o-w"),
    ("ha.d/resource.d/web", 0o777, "is writable by group and others: chmod go-w"),
])
async def test_writable_path_is_refused_and_named(tree, where, mode, words):
    script(tree / "ha.d/resource.d/web", 'touch "$HA_DIR/ran"\n')
    (tree / where).chmod(mode)
    run = runner(tree)
    reason = f"{tree}/{where} {words} {tree}/{where}"
    assert reason in run.check(Resource("web"))
    result = await run.run(Resource("web"), START)
    assert not result.ok and reason in result.detail
    assert result.detail.startswith(f"start of web refused: unsafe script {tree}/ha.d/resource.d/web")
    assert not (tree / "ha.d/ran").exists()


@needs_root
async def test_directory_of_another_owner_is_refused(tree):
    script(tree / "ha.d/resource.d/web", "exit 0\n")
    os.chown(tree / "ha.d/resource.d", 65534, 65534)
    problem = runner(tree, trusted_uids=(0,)).check(Resource("web"))
    assert problem.endswith(f"{tree}/ha.d/resource.d is owned by uid 65534, not root: "
                            f"chown root {tree}/ha.d/resource.d")


@needs_root
async def test_script_of_another_owner_is_refused(tree):
    os.chown(script(tree / "ha.d/resource.d/web", "exit 0\n"), 65534, 0)
    assert "owned by uid 65534" in runner(tree, trusted_uids=(0,)).check(Resource("web"))


async def test_sticky_directory_is_allowed(tree):
    (tree / "ha.d").chmod(0o1777)
    script(tree / "ha.d/resource.d/web", "exit 0\n")
    assert runner(tree).check(Resource("web")) is None
    assert (await runner(tree).run(Resource("web"), START)).ok


async def test_symlink_target_is_checked(tree):
    (tree / "elsewhere").mkdir(mode=0o755)
    target = script(tree / "elsewhere/web", "exit 0\n")
    (tree / "ha.d/resource.d/web").symlink_to(target)
    run = runner(tree)
    assert run.check(Resource("web")) is None
    assert (await run.run(Resource("web"), START)).ok
    (tree / "elsewhere").chmod(0o777)
    assert f"{tree}/elsewhere is writable by group and others" in run.check(Resource("web"))


async def test_symlinked_directory_on_the_way_is_checked(tree):
    (tree / "open").mkdir(mode=0o777)
    (tree / "open").chmod(0o777)
    (tree / "real").mkdir(mode=0o755)
    script(tree / "real/web", "exit 0\n")
    (tree / "open/link").symlink_to(tree / "real")          # replaceable by anyone
    (tree / "ha.d/resource.d/web").symlink_to(tree / "open/link/web")
    problem = runner(tree).check(Resource("web"))
    assert f"{tree}/open is writable by group and others" in problem


def test_unsafe_path_of_missing_file_says_so(tree):
    assert "No such file" in unsafe_path(str(tree / "nothing"), TRUSTED)


def test_unsafe_path_accepts_a_clean_tree(tree):
    path = script(tree / "ha.d/resource.d/web", "exit 0\n")
    assert unsafe_path(str(path), TRUSTED) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o755


# --- the whole tree, and bounded waits (issue 10) ---------------------------------------

# The grandchild leaves the script's process group and session (setsid) and ignores
# SIGTERM (an ignored signal stays ignored across exec). "orphaned": the subshell that
# started it exits at once, so it is reparented before the timeout; "attached": it stays
# the script's own child.
GRANDCHILD = {
    "orphaned": """( setsid sh -c 'trap "" TERM; echo $$ > "$HA_DIR/grandchild.new";
    mv "$HA_DIR/grandchild.new" "$HA_DIR/grandchild"; exec sleep 1000' & )
""",
    "attached": """setsid sh -c 'trap "" TERM; echo $$ > "$HA_DIR/grandchild.new";
    mv "$HA_DIR/grandchild.new" "$HA_DIR/grandchild"; exec sleep 1000' &
""",
}
WAIT_FOR_GRANDCHILD = ('while [ ! -s "$HA_DIR/grandchild" ]; do sleep 0.05; done\n'
                       'echo "$$" > "$HA_DIR/pids"; echo "grandchild started"; sleep 1000\n')


@pytest.mark.parametrize("how", sorted(GRANDCHILD))
async def test_timeout_kills_a_setsid_grandchild_that_ignores_term(tree, how):
    script(tree / "ha.d/resource.d/escape", GRANDCHILD[how] + WAIT_FOR_GRANDCHILD)
    result = await runner(tree, timeout=3.0, kill_grace=0.3).run(Resource("escape"), STOP)
    grandchild = int((tree / "ha.d/grandchild").read_text())
    (tree / "ha.d/child").write_text(str(grandchild))     # for the fixture, if we fail
    assert result.detail == ("stop of escape timed out after 3 s; killed; "
                             "output: grandchild started")
    # not in the script's group, not the script's child (orphaned), deaf to TERM:
    # killpg alone never reaches it
    await until(lambda: dead(grandchild), what=f"grandchild {grandchild} to die")
    assert proc_state(int((tree / "ha.d/pids").read_text())) is None
    assert our_zombies() == []


async def test_cancelled_run_kills_a_setsid_grandchild(tree):
    script(tree / "ha.d/resource.d/escape", GRANDCHILD["orphaned"] + WAIT_FOR_GRANDCHILD)
    run = runner(tree, timeout=60.0)
    task = asyncio.create_task(run.run(Resource("escape"), START))
    await until((tree / "ha.d/pids").exists)
    grandchild = int((tree / "ha.d/grandchild").read_text())
    (tree / "ha.d/child").write_text(str(grandchild))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: dead(grandchild), what=f"grandchild {grandchild} to die")
    await run.close()
    assert our_zombies() == []


async def test_a_timeout_leaves_other_operations_daemons_alone(tree):
    """Only the timed-out operation's tree is killed: a daemon that another script
    started (and left running, as a start does) at the same time lives on."""
    script(tree / "ha.d/resource.d/daemon",
           """setsid sh -c 'echo $$ > "$HA_DIR/child.new"; mv "$HA_DIR/child.new" """
           """"$HA_DIR/child"; exec sleep 1000' &\n"""
           'while [ ! -s "$HA_DIR/child" ]; do sleep 0.05; done\n')
    script(tree / "ha.d/resource.d/hang", HANGS)
    run = runner(tree, timeout=3.0, kill_grace=0.3)
    hang = asyncio.create_task(run.run(Resource("hang"), START))
    started = await run.run(Resource("daemon"), START)
    assert started.ok, started.detail
    daemon = int((tree / "ha.d/child").read_text())
    assert "timed out" in (await hang).detail
    await until(lambda: dead(hang_pids(tree)[1]))
    assert not dead(daemon)
    os.kill(daemon, signal.SIGKILL)
    await until(lambda: dead(daemon))


@pytest.fixture
def stall(tmp_path):
    """Something that keeps a process in the kernel, in state D, deaf to SIGKILL, for
    real (tests/unit/kernel_stall.py: an unanswered FUSE request, else a cgroup v1
    freezer)."""
    made = make_stall(tmp_path)
    if isinstance(made, str):
        pytest.skip(f"cannot keep a process in uninterruptible sleep here: {made}")
    try:
        yield made
    finally:
        made.close()


async def test_a_script_that_outlives_sigkill_fails_its_op_without_hanging(tree, stall):
    script(tree / "ha.d/resource.d/stuck", 'echo $$ > "$HA_DIR/pids"\n' + stall.body)
    run = runner(tree, timeout=5.0, kill_grace=0.2, reap_timeout=0.5)
    task = asyncio.create_task(run.run(Resource("stuck"), STOP))
    await until(lambda: (tree / "ha.d/pids").exists() and (tree / "ha.d/pids").read_text())
    pid = int((tree / "ha.d/pids").read_text())
    await stall.hold(pid)
    try:
        # bounded: timeout + grace + reap, then a failed result (the test's own bound
        # is only there so that a regression fails instead of hanging the suite)
        result = await asyncio.wait_for(task, 30)
        comm = proctree.read_stat(pid).comm
        assert not result.ok and result.rc is None
        assert result.detail.startswith(
            f"stop of stuck timed out after 5 s; killed; pid {pid} ({comm}, state D: "
            "uninterruptible sleep) still alive 0.5 s after SIGKILL and left behind")
        assert proc_state(pid)[0] == "D"               # still there, still stuck
        # the runner is not hung: the group's next operation runs
        script(tree / "ha.d/resource.d/next", "echo next is running\n")
        assert (await run.run(Resource("next"), STATUS)).ok
    finally:
        stall.close()
    await until(lambda: proc_state(pid) is None, what=f"{pid} to die and be reaped")
    await run.close()
    assert our_zombies() == []


async def test_a_stuck_proc_scan_is_given_up_not_waited_for():
    gate = threading.Event()
    with pytest.raises(TimeoutError):
        await proctree.in_thread(gate.wait, 60, timeout=0.2)
    gate.set()
    assert await proctree.in_thread(lambda: 42, timeout=5) == 42

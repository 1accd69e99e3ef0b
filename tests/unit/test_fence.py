"""STONITH (hbd/resources/fence.py): command lines without parameters, real runs of
cluster-glue's `stonith` with a device of our own, timeouts, self-fencing."""

from __future__ import annotations

import os
import secrets
import signal
import stat
from pathlib import Path

import pytest

from hbd.config.hacf import parse_hacf
from hbd.core.actions import Fence
from hbd.resources.fence import (
    STONITH,
    Fencer,
    Method,
    config_line,
    devices_for,
    self_fence,
    stonith_argv,
)
from hbd.resources.outcome import OpResult
from tests.waiting import until

PLUGIN_DIR = Path("/usr/lib/stonith/plugins/external")


def devices(text):
    hacf, problems = parse_hacf("node node0\nnode node1\nbcast eth2\n" + text, "ha.cf")
    assert not [p for p in problems if p.severity.value == "error"], problems
    return hacf.stonith


def fake_stonith(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


async def fence_once(fencer: Fencer, node: str = "node0", timeout: float = 30):
    results = []
    fencer.on_finished = results.append
    fencer.fence(Fence(7, node))
    await until(lambda: results, timeout=timeout, what="the fence to finish")
    await fencer.close()
    return results[0]


def test_command_lines_never_carry_parameters():
    file_form, positional, named = devices(
        "stonith baytech /etc/ha.d/conf/stonith.baytech\n"
        "stonith_host * baytech 10.0.0.3 mylogin mysecretpassword\n"
        "stonith_host node1 external/ssh hostlist=node0\n")
    assert stonith_argv(file_form, "node0") == [
        STONITH, "-t", "baytech", "-F", "/etc/ha.d/conf/stonith.baytech", "-T", "reset", "node0"]
    assert stonith_argv(positional, "node0", param_fd=9) == [
        STONITH, "-t", "baytech", "-F", "/dev/fd/9", "-T", "reset", "node0"]
    assert config_line(positional) == "10.0.0.3 mylogin mysecretpassword"
    assert stonith_argv(named, "node0") == [
        STONITH, "-t", "external/ssh", "-E", "-T", "reset", "node0"]
    with pytest.raises(ValueError):
        stonith_argv(positional, "node0")
    # stonith_host lines for another host do not apply here
    assert devices_for((file_form, positional, named), "node0") == [file_form, positional]


async def test_fencer_tries_devices_in_order_and_passes_names_in_the_environment(tmp_path):
    log = tmp_path / "calls"
    fake = fake_stonith(tmp_path / "stonith", f"""echo "$* a=${{a-unset}} b=${{b-unset}}" >> {log}
case "$*" in *" -n") echo "a b"; exit 0 ;; esac
case "$2" in bad) exit 1;; esac
""")
    bad, good = devices("stonith_host * bad a=1\nstonith_host * good b=2\n")
    result = await fence_once(Fencer((bad, good), "node1", on_finished=None, binary=fake))
    assert result.op_id == 7 and result.ok and result.node == "node0"
    # each device's names are asked first; the ones the line does not give are empty
    assert log.read_text().splitlines() == [
        "-t bad -n a=unset b=unset", "-t bad -E -T reset node0 a=1 b=",
        "-t good -n a=unset b=unset", "-t good -E -T reset node0 a= b=2"]


async def test_positional_parameters_arrive_through_a_pipe(tmp_path):
    fake = fake_stonith(tmp_path / "stonith", f'cat "$4" > {tmp_path}/got; echo "$*" > {tmp_path}/argv\n')
    (device,) = devices("stonith_host * baytech 10.0.0.3 login pass word\n")
    result = await fence_once(Fencer((device,), "node1", on_finished=None, binary=fake))
    assert result.ok, result.detail
    assert (tmp_path / "got").read_text() == "10.0.0.3 login pass word\n"
    assert "pass" not in (tmp_path / "argv").read_text()


async def test_too_long_a_parameter_line_is_refused_with_the_way_out(tmp_path):
    fake = fake_stonith(tmp_path / "stonith", f"touch {tmp_path}/ran\n")
    (device,) = devices(f"stonith_host * baytech {'x' * 1100}\n")
    result = await fence_once(Fencer((device,), "node1", on_finished=None, binary=fake))
    assert not result.ok and "put them in a file: stonith baytech FILE" in result.detail
    assert not (tmp_path / "ran").exists()


async def test_a_hung_device_is_killed_tree_and_all(tmp_path):
    grandchild = tmp_path / "grandchild"
    fake = fake_stonith(tmp_path / "stonith", f"""case "$*" in *" -n") echo a; exit 0 ;; esac
( setsid sh -c 'trap "" TERM; echo $$ > {grandchild}.new;
  mv {grandchild}.new {grandchild}; exec sleep 1000' & )
while [ ! -s {grandchild} ]; do sleep 0.05; done
echo "calling the device"; sleep 1000
""")
    (device,) = devices("stonith_host * hung a=1\n")
    fencer = Fencer((device,), "node1", on_finished=None, binary=fake, timeout=3.0,
                    kill_grace=0.2)
    result = await fence_once(fencer)
    pid = int(grandchild.read_text())
    try:
        assert not result.ok
        assert result.detail == "stonith -t hung -T reset node0 timed out after 3 s; killed"
        await until(lambda: _gone(pid), what=f"the device's grandchild {pid} to die")
    finally:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state == "Z"


# --- cluster-glue's own stonith, with an external device of ours (root) ----------------------

@pytest.fixture
def device_type(tmp_path):
    """An external STONITH plugin that records what it was given and holds the reset
    until the test says go; installed where cluster-glue looks, removed after."""
    if os.geteuid() != 0 or not PLUGIN_DIR.is_dir() or not os.access(STONITH, os.X_OK):
        pytest.skip("needs root and cluster-glue's stonith")
    name = f"hbdtest-{os.getpid()}-{secrets.token_hex(3)}"
    plugin = PLUGIN_DIR / name
    plugin.write_text(f"""#!/bin/sh
case "$1" in
  gethosts) echo node0 node1 ;;
  reset|off)
    echo "hostlist=$hostlist password=$password" > {tmp_path}/given.new
    mv {tmp_path}/given.new {tmp_path}/given
    i=0; while [ ! -e {tmp_path}/go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
    exit 0 ;;
  on|status) exit 0 ;;
  getconfignames) echo hostlist password ;;
  getinfo-devid|getinfo-devname) echo hbd-test ;;
  getinfo-devdescr) echo "hbd test device" ;;
  getinfo-devurl) echo "file:///" ;;
  getinfo-xml) echo "<parameters></parameters>" ;;
  *) exit 1 ;;
esac
""")
    plugin.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    try:
        yield f"external/{name}"
    finally:
        plugin.unlink()
        (tmp_path / "go").touch()


def cmdlines() -> dict[int, bytes]:
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    found[int(entry.name)] = handle.read()
            except OSError:
                pass
    return found


@pytest.mark.parametrize("form", ["positional", "name=value"])
async def test_no_command_line_shows_the_password_while_a_fence_runs(tmp_path, device_type, form):
    password = f"pw-{secrets.token_hex(8)}"
    params = (f"node0 {password}" if form == "positional"
              else f"hostlist=node0 password={password}")
    (device,) = devices(f"stonith_host * {device_type} {params}\n")
    results = []
    fencer = Fencer((device,), "node1", on_finished=results.append)
    fencer.fence(Fence(1, "node0"))
    await until((tmp_path / "given").exists, timeout=20, what="the device's reset to run")
    # the reset is running now: stonith, cluster-glue's shell and the plugin all live
    lines = cmdlines()
    assert any(b"stonith\0-t\0" + device_type.encode() in line for line in lines.values())
    leaks = {pid: line for pid, line in lines.items() if password.encode() in line}
    assert leaks == {}
    (tmp_path / "go").touch()
    await until(lambda: results, timeout=20, what="the fence to finish")
    await fencer.close()
    assert results[0].ok, results[0].detail
    # ... and the device got them all
    assert (tmp_path / "given").read_text() == f"hostlist=node0 password={password}\n"


# --- self-fencing ---------------------------------------------------------------------------

class Reboots:
    def __init__(self, ok: bool = False) -> None:
        self.reasons: list[str] = []
        self.ok = ok

    def __call__(self, reason: str) -> OpResult:
        self.reasons.append(reason)
        return OpResult(self.ok, f"reboot: {reason}")


async def test_self_fence_through_stonith_resets_this_node(tmp_path):
    log = tmp_path / "calls"
    fake = fake_stonith(tmp_path / "stonith", f'echo "$*" >> {log}\n')
    (device,) = devices("stonith_host node1 baytech 10.0.0.3 login pw\n")
    reboots = Reboots()
    fencer = Fencer((device,), "node1", on_finished=None, binary=fake)
    result = await self_fence(Method.STONITH, "stop of vip1 failed", fencer=fencer,
                              reboot=reboots)
    assert result.ok and result.detail.startswith("fenced self through STONITH")
    assert log.read_text().split()[-3:] == ["-T", "reset", "node1"]
    assert reboots.reasons == []


async def test_self_fence_reboots_when_stonith_cannot(tmp_path):
    fake = fake_stonith(tmp_path / "stonith", "exit 1\n")
    (device,) = devices("stonith_host * baytech 10.0.0.3 login pw\n")
    reboots = Reboots()
    result = await self_fence(Method.STONITH, "stop of vip1 failed",
                              fencer=Fencer((device,), "node1", on_finished=None, binary=fake),
                              reboot=reboots)
    assert not result.ok
    assert reboots.reasons == [("stop of vip1 failed; self-fencing through STONITH failed "
                                "(stonith -t baytech -T reset node1: exit 1: ); rebooting instead")]
    reboots = Reboots()
    await self_fence(Method.STONITH, "stop failed", fencer=None, reboot=reboots)
    assert reboots.reasons == [("stop failed; no STONITH device applies to this node; "
                                "rebooting instead")]


async def test_self_fence_by_reboot():
    reboots = Reboots(ok=True)
    assert (await self_fence(Method.REBOOT, "stop of vip1 failed", reboot=reboots)).ok
    assert reboots.reasons == ["stop of vip1 failed"]

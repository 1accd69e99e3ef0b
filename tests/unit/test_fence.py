"""STONITH command lines (hbd/resources/fence.py) and a real run of the shell side."""

from __future__ import annotations

import asyncio

from hbd.config.hacf import parse_hacf
from hbd.core.actions import Fence
from hbd.resources.fence import Fencer, devices_for, stonith_argv


def devices(text):
    hacf, problems = parse_hacf("node node0\nnode node1\nbcast eth2\n" + text, "ha.cf")
    assert not [p for p in problems if p.severity.value == "error"], problems
    return hacf.stonith


def test_heartbeat_forms_become_stonith_command_lines():
    file_form, positional, named = devices(
        "stonith baytech /etc/ha.d/conf/stonith.baytech\n"
        "stonith_host * baytech 10.0.0.3 mylogin mysecretpassword\n"
        "stonith_host node1 external/ssh hostlist=node0\n")
    assert stonith_argv(file_form, "node0") == [
        "/usr/sbin/stonith", "-t", "baytech", "-F", "/etc/ha.d/conf/stonith.baytech",
        "-T", "reset", "node0"]
    assert stonith_argv(positional, "node0")[3:5] == ["-p", "10.0.0.3 mylogin mysecretpassword"]
    assert stonith_argv(named, "node0")[3:] == ["hostlist=node0", "-T", "reset", "node0"]
    # stonith_host lines for another host do not apply here
    assert devices_for((file_form, positional, named), "node0") == [file_form, positional]


def test_fencer_tries_devices_in_order_and_reports_the_result(tmp_path):
    log = tmp_path / "calls"
    fake = tmp_path / "stonith"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\ncase "$2" in bad) exit 1;; esac\n')
    fake.chmod(0o755)
    bad, good = devices("stonith_host * bad a=1\nstonith_host * good b=2\n")
    results = []

    async def main():
        fencer = Fencer((bad, good), "node1", on_finished=results.append, binary=str(fake))
        fencer.fence(Fence(7, "node0"))
        while not results:
            await asyncio.sleep(0.01)
        await fencer.close()
    asyncio.run(asyncio.wait_for(main(), 10))
    assert results[0].op_id == 7 and results[0].ok and results[0].node == "node0"
    assert log.read_text().splitlines() == ["-t bad a=1 -T reset node0",
                                            "-t good b=2 -T reset node0"]

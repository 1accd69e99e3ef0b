"""Heartbeat's own Cluster Test Suite against hbd: a short selection on every CI run.

`hbd_lab.cts` runs Debian's CTS (/usr/share/heartbeat/cts) unmodified against a
fresh lab of its own (a test-unique prefix, removed by `run()` whatever happens):
InitClusterManager starts hbd on the three nodes, then StopTest, StartTest,
FlipTest, StandbyTest and Fastdetection (CTS's "DetectionTime") run once each,
judged by CTS on the cluster's syslog, with its resource audit and its
bad-news scan (`ERROR:`, `CRIT:`...) after each. CTS waits on log patterns with
its own deadlines; the test asserts on CTS's verdict only. The full run against
hbd and heartbeat 3.0.6 is `hbd lab cts` (bench/results/cts-*.txt).
"""

from __future__ import annotations

import ast

import pytest

from tests.netns.conftest import require_netns, unique_prefix

CI_TESTS = ["StopTest", "StartTest", "FlipTest", "StandbyTest", "Fastdetection"]


def _overall(summary: list[str]) -> dict:
    line = next((s for s in summary if s.startswith("Overall Results:")), None)
    return ast.literal_eval(line.split(":", 1)[1]) if line else {}


def test_cts_selection_passes_against_hbd(tmp_path):
    require_netns()
    from hbd_lab.cts import run as cts

    reason = cts.unavailable()
    if reason:
        pytest.skip(reason)
    result = cts.run(system="hbd", tests=CI_TESTS, prefix=unique_prefix(), out_dir=tmp_path,
                     echo=False)
    report = "\n".join(result.lines[-60:]) + "\n--- cluster log (tail) ---\n" + \
        "\n".join(result.cluster_log.read_text(errors="replace").splitlines()[-40:])
    overall = _overall(result.summary)
    assert overall.get("success") == len(CI_TESTS), report
    assert overall.get("failure") == 0 and overall.get("BadNews") == 0, report
    assert "auditfail" not in overall, report
    assert result.passed, report

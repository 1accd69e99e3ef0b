"""Suite-wide rules.

In CI (`CI=true`: root, and `.ci/run` has installed every package the tests
need) a skipped test is a failure: a test that skips for a missing privilege
or peer package there has not run, and nothing may count it as done. Locally
(not root, or without Debian's heartbeat) skips stay skips and say why.
"""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing may skip: {reason}"

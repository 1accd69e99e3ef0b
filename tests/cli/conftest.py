"""Log lines of the control server are captured (`logged`), never printed into the
output that hbctl's tests compare."""

from __future__ import annotations

import pytest
import structlog


@pytest.fixture(autouse=True)
def logged():
    with structlog.testing.capture_logs() as entries:
        yield entries

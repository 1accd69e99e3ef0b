"""The lab's own tests: its package, its pure figures, its scripts and its report.

The namespace fixtures (`topology`, `make_lab`) are tests/netns's.
"""

from tests.netns.conftest import make_lab, topology  # noqa: F401 - fixtures

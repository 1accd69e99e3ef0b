"""Python 2's `UserDict` module for heartbeat's CTS: the class is in `collections`."""

from collections import UserDict

__all__ = ["UserDict"]

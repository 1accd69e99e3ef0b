"""hbd: a heartbeat-compatible high-availability cluster daemon."""

__version__ = "0.1.0"

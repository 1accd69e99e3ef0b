"""timeline.outage: the longest silence of one VIP inside a window (pure)."""

from __future__ import annotations

from hbd_lab.timeline import Probe, outage


def probes(pattern: str, start: float = 0.0, step: float = 0.01) -> list[Probe]:
    """'+' an answer, '-' a lost probe, one per `step` seconds."""
    return [Probe(start + i * step, "vip", c == "+") for i, c in enumerate(pattern)]


def test_a_silence_that_ended_before_the_window_is_not_counted():
    # failover silence (1 s) ends 1 s before the failback window starts; the failback
    # itself loses two probes: the window's outage is the failback's 30 ms
    log = probes("+" + "-" * 99 + "+" * 100 + "--" + "+" * 20)
    gap = outage(log, start=1.95, end=2.5)
    assert gap is not None and round(gap.seconds, 3) == 0.03


def test_a_silence_running_at_the_window_start_is_counted_whole():
    log = probes("+" * 10 + "-" * 50 + "+" * 10)
    gap = outage(log, start=0.3, end=1.0)
    assert gap is not None and round(gap.seconds, 3) == 0.51


def test_no_answer_after_the_silence_is_none():
    assert outage(probes("+" * 10 + "-" * 30), start=0.15, end=1.0) is None

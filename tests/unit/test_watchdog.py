"""The watchdog device and the immediate reboot (hbd/watchdog.py), with fake devices:
a FIFO read by the test, and regular files. No test opens a real /dev/watchdog (it
would arm the machine's watchdog) or writes to /proc/sysrq-trigger."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading

import pytest

from hbd.watchdog import (
    SYSRQ_TRIGGER,
    Watchdog,
    heartbeat_timeout,
    open_watchdog,
    reboot_now,
)
from tests.waiting import until


@pytest.fixture
def fifo(tmp_path):
    """A FIFO standing for /dev/watchdog, and its read end (non-blocking)."""
    path = tmp_path / "watchdog"
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    yield path, reader
    os.close(reader)


def drain(reader: int) -> bytes:
    try:
        return os.read(reader, 65536)
    except BlockingIOError:
        return b""


def test_heartbeats_timeout_is_deadtime_plus_10ms_in_whole_seconds():
    assert [heartbeat_timeout(d) for d in (1, 1.5, 2, 9.995, 10, 30)] == [2, 2, 3, 11, 11, 31]


def test_open_pets_once_and_a_fake_device_keeps_no_timeout(fifo):
    path, reader = fifo
    dog = open_watchdog(str(path), heartbeat_timeout(1))
    assert dog.is_open and dog.pets == 1 and dog.timeout is None   # a FIFO has no ioctl
    assert drain(reader) == b"\0"
    assert dog.close() is None and not dog.is_open
    assert drain(reader) == b"V"


async def test_pets_follow_the_timer_that_drives_them_and_stop_with_it(fifo):
    """The runtime pets from its timer path: one byte per keepalive while the loop
    runs the timer; none once the timer stops (a hung core); 'V' on a clean stop."""
    path, reader = fifo
    keepalive = 0.05
    dog = open_watchdog(str(path), heartbeat_timeout(1), min_interval=keepalive)
    loop = asyncio.get_running_loop()
    got = bytearray(drain(reader))
    times: list[float] = []
    driving = True

    def timer() -> None:               # stands for the runtime's timer callback
        if driving:
            before = dog.pets
            assert dog.pet(loop.time())
            if dog.pets > before:
                times.append(loop.time())
            loop.call_later(keepalive / 5, timer)   # fires more often than keepalive

    timer()
    await until(lambda: got.extend(drain(reader)) or len(got) >= 11, timeout=10,
                what="ten pets after the first")
    driving = False
    count = dog.pets
    assert set(got) == {0} and len(got) == count
    # min_interval turns the timer's many calls into one write per keepalive
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= keepalive * 0.99 for gap in gaps), gaps
    # not driven: nothing more is written (wait several keepalives for a stray byte)
    deadline = loop.time() + 6 * keepalive
    while loop.time() < deadline:
        assert drain(reader) == b""
        await asyncio.sleep(keepalive / 2)
    assert dog.pets == count
    assert dog.close() is None
    assert drain(reader) == b"V"


def test_a_regular_file_works_as_a_fake_device(tmp_path):
    path = tmp_path / "dev-watchdog"
    path.touch()
    dog = open_watchdog(str(path), 11)
    assert dog.pet() and dog.pet()
    dog.close()
    assert path.read_bytes() == b"\0\0\0V"


def test_a_device_that_cannot_be_opened_is_a_value_not_an_exception(tmp_path):
    dog = open_watchdog(str(tmp_path / "missing"), 11)
    assert not dog.is_open and "No such file" in dog.error
    assert dog.pet() is False and dog.close() is None
    os.mkfifo(tmp_path / "noreader")
    dog = open_watchdog(str(tmp_path / "noreader"), 11)
    assert not dog.is_open and "a FIFO with no reader" in dog.error


def test_a_failing_write_closes_the_device_and_never_raises(fifo):
    path, reader = fifo
    dog = open_watchdog(str(path), 11)
    drain(reader)
    os.close(reader)                         # no reader any more: EPIPE on write
    try:
        assert dog.pet() is False
        assert not dog.is_open and dog.error.startswith(f"write to {path} failed: Broken pipe")
        assert dog.pet() is False            # still no exception
    finally:
        os.open(path, os.O_RDONLY | os.O_NONBLOCK)   # for the fixture's close


def test_a_full_device_is_a_missed_pet_not_a_failure(fifo):
    path, reader = fifo
    dog = open_watchdog(str(path), 11)
    while dog.pet():                         # fill the pipe: the next write would block
        pass
    assert dog.is_open and dog.missed == 1
    drain(reader)
    assert dog.pet() and dog.missed == 1


# --- reboot_now --------------------------------------------------------------------------

def test_reboot_syncs_then_writes_b(tmp_path):
    trigger = tmp_path / "sysrq-trigger"
    trigger.touch()
    order = []
    result = reboot_now("stop of vip1 failed", sysrq_trigger=str(trigger),
                        sync=lambda: order.append(trigger.read_bytes()))
    assert order == [b""]                   # synced before the 'b'
    assert trigger.read_bytes() == b"b"
    assert result.ok and "after sync" in result.detail and "stop of vip1 failed" in result.detail


def test_a_hung_sync_does_not_hold_the_reboot(tmp_path):
    trigger = tmp_path / "sysrq-trigger"
    gate = threading.Event()
    try:
        result = reboot_now("stop failed", sysrq_trigger=str(trigger), sync_timeout=0.2,
                            sync=gate.wait)
    finally:
        gate.set()
    assert trigger.read_bytes() == b"b" and "without sync" in result.detail


def test_reboot_that_cannot_be_asked_for_says_so(tmp_path):
    result = reboot_now("stop failed", sysrq_trigger=str(tmp_path / "no/such/dir"),
                        sync=lambda: None)
    assert not result.ok and result.detail.startswith("cannot reboot: writing 'b' to")


def test_the_real_trigger_is_only_the_default():
    assert SYSRQ_TRIGGER == "/proc/sysrq-trigger"
    assert isinstance(Watchdog("x"), Watchdog)

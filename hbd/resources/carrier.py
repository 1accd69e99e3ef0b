"""Carrier watch: which of the named interfaces have a link, now and at every change.

A cable pulled at the switch, a peer veth going down or a NIC losing its link
clears the interface's IFF_LOWER_UP flag, and the kernel says so at once on
rtnetlink. The core uses it for two rules of issue 9: a node whose every
heartbeat medium has lost its link knows it is the one cut off, and a node
whose service interface loses carrier releases its groups at once.

`CarrierWatch(ifaces, on_change)`: `await start()` reads the links (through
`netlink.LinkEvents`, subscribed before the read so that no change is
missed), calls `on_change(name, carrier)` once for every named interface
(False for one that does not exist) and returns that state; then a
background task calls `on_change` each time an interface's carrier changes
(an interface that disappears has none; one that appears is reported).
`close()` stops it. If the netlink socket fails, the task opens a new one
after `retry` seconds, reads the links again and reports what changed in
between. `carrier` means: administratively up and IFF_LOWER_UP.

`watch_carrier(ifaces, on_change)` is the same as one coroutine that runs
until it is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence

import structlog

from hbd.resources.netdata import Link
from hbd.resources.netlink import LinkEvents

log = structlog.get_logger("hbd.resources")
RETRY = 1.0


def has_carrier(link: Link) -> bool:
    return link.up and link.carrier


class CarrierWatch:
    """Reports carrier up/down of named interfaces (module docstring)."""

    def __init__(self, ifaces: Iterable[str], on_change: Callable[[str, bool], None], *,
                 retry: float = RETRY) -> None:
        self.ifaces = tuple(dict.fromkeys(ifaces))
        self.on_change = on_change
        self.retry = retry
        self.state: dict[str, bool] = {}
        self._names: dict[int, str] = {}
        self._events: LinkEvents | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> dict[str, bool]:
        """Report and return the state now; then watch in the background."""
        links = await self._open()
        for name in self.ifaces:
            self.state[name] = False
        for link in links:
            self._seen(link, report=False)
        for name in self.ifaces:
            self.on_change(name, self.state[name])
        self._task = asyncio.get_running_loop().create_task(self._run())
        return dict(self.state)

    async def close(self) -> None:
        if self._events is not None:
            self._events.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _open(self) -> list[Link]:
        if self._events is not None:
            self._events.close()
        self._events = LinkEvents()
        return await self._events.open()

    async def _run(self) -> None:
        while True:
            events = self._events
            try:
                if events is None:
                    self._resync(await self._open())
                    continue
                async for link in events.changes():
                    self._seen(link)
                if events.closed:
                    return
                raise OSError("the netlink socket closed")
            except Exception as exc:  # noqa: BLE001 - a socket failure: open again
                log.warning("carrier watch: netlink failed; reading the links again",
                            error=str(exc))
                if self._events is not None:
                    self._events.close()
                self._events = None
                await asyncio.sleep(self.retry)

    def _resync(self, links: Sequence[Link]) -> None:
        present = {link.name for link in links}
        for link in links:
            self._seen(link)
        for name in self.ifaces:
            if name not in present:
                self._report(name, False)

    def _seen(self, link: Link, *, report: bool = True) -> None:
        if link.index >= 0:
            old = self._names.get(link.index)
            self._names[link.index] = link.name
            if old is not None and old != link.name and old in self.ifaces:   # renamed away
                self._update(old, False, report)
        if link.name in self.ifaces:
            self._update(link.name, link.index >= 0 and has_carrier(link), report)

    def _update(self, name: str, carrier: bool, report: bool) -> None:
        if not report:
            self.state[name] = carrier
        else:
            self._report(name, carrier)

    def _report(self, name: str, carrier: bool) -> None:
        if self.state.get(name) != carrier:
            self.state[name] = carrier
            self.on_change(name, carrier)


async def watch_carrier(ifaces: Iterable[str], on_change: Callable[[str, bool], None]) -> None:
    """Report the carrier of `ifaces` now and at every change, until cancelled."""
    watch = CarrierWatch(ifaces, on_change)
    try:
        await watch.start()
        await asyncio.Event().wait()
    finally:
        await watch.close()

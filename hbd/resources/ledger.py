"""The identity journal as the identity code holds it, and how a step fails.

`Ledger` keeps the journal (`journal.py`) in memory, loaded from the state
dir on first use, and commits drafts of it: a draft becomes the journal only
once it is durably on disk (the write runs in a thread, off the event loop).
Problems found while loading (a corrupt file moved aside) are kept in `notes`
until recovery reports them.

`Failed` ends an identity step; its text becomes the operation's detail.
`Gone` is the failure "the interface is not there (any more)", which a
release treats as nothing left to restore. `need` turns a `NetFailure` value
into a `Failed`.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

import structlog

from hbd.resources.journal import Journal, JournalFile
from hbd.resources.netdata import NetFailure

log = structlog.get_logger("hbd.resources")
T = TypeVar("T")


class Failed(Exception):
    """Ends an operation; the message becomes the OpResult detail."""


class Gone(Failed):
    """The interface is not there (any more): nothing on it to restore."""


def need(value: T | NetFailure) -> T:
    if isinstance(value, NetFailure):
        raise Failed(value.detail)
    return value


def need_ok(failure: NetFailure | None) -> None:
    if failure is not None:
        raise Failed(failure.detail)


def joined(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)


class Ledger:
    """The journal in memory and on disk (module docstring)."""

    def __init__(self, state_dir: str) -> None:
        self.file = JournalFile(state_dir)
        self._journal: Journal | None = None
        self.notes: list[str] = []

    @property
    def path(self) -> str:
        return self.file.path

    def current(self) -> Journal:
        if self._journal is None:
            self._journal, notes = self.file.load()
            self.notes += notes
            for note in notes:
                log.warning("identity journal", problem=note)
        return self._journal

    def reload(self) -> list[str]:
        """Read the file again (start-up); the problems found so far, then cleared."""
        journal, lines = self.file.load()
        lines, self.notes = self.notes + lines, []
        self._journal = journal
        return lines

    async def commit(self, draft: Journal) -> None:
        """Make `draft` the journal, durably; Failed (journal unchanged) if it cannot be written."""
        draft.drop_empty_stacks()
        previous, self._journal = self._journal, draft  # the disk follows even if cancelled
        try:
            await asyncio.to_thread(self.file.save, draft)
        except OSError as exc:
            self._journal = previous
            raise Failed(f"cannot write the journal {self.file.path}: "
                         f"{exc.strerror or exc}") from exc

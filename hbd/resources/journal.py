"""What hbd changed in this node's network identity, kept so a crash can be undone.

The identity resources change things that outlive the daemon: addresses, MACs,
the hostname and the default route. Before each change the journal records the
original state and what is about to change, durably; after a successful
release the record goes. If the daemon dies holding resources, or in the
middle of a takeover, the next run reads the journal and puts the originals
back (`Identity.recover`).

Two kinds of record:

* `Claim`: an IPv4 address a resource put on an interface. `added` says
  whether hbd added it (False: it was already there, so release leaves it).
* `Stack`: one changed setting (the MAC of one interface, the hostname, the
  default routes) as its `original` value plus the values `pushes`ed over it,
  one per resource, in order. The setting shows the top of the stack. Releasing
  a resource removes its push wherever it sits; only when it was on top does
  the setting change, to the new top, and releasing the last push restores the
  original. `changing` holds what must be put back if a change is interrupted
  halfway (for a MAC: the link state and the routes a link flap flushes).

A holder is a resource spec plus the group it belongs to (`group`, "" when the
caller does not say). The same spec may be held by two groups at once (both of
the scenario's groups hold `DefaultRoute::192.168.32.254`): each holds its own
claim or push, and the setting goes back only when the last one is released.
Taking again what a holder already holds replaces its record (a retried start
never stacks twice).

`Journal` is plain data with pure helpers; it is saved as JSON. `JournalFile`
does the disk side: write a temporary file, check that the one `write` took
every byte (a short write, which on a regular file means a full file system
or a file-size limit, is an error), fsync it, rename it over `identity.json`,
fsync the directory; on any error the temporary file is removed and the old
journal stays as it was. An empty journal removes the file. A file that
cannot be read as a journal is moved aside to `identity.json.corrupt-<n>` and
reported, never raised.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

JOURNAL_NAME = "identity.json"
VERSION = 1


class ShortWrite(OSError):
    """`os.write` took fewer bytes than it was given."""


class JournalCorrupt(ValueError):
    """The journal text is not a journal this version can read."""


@dataclass
class Claim:
    spec: str
    ifname: str
    address: str
    prefixlen: int
    broadcast: str | None
    added: bool
    seq: int = 0
    group: str = ""


@dataclass
class Push:
    spec: str
    value: Any
    seq: int = 0
    group: str = ""


@dataclass
class Stack:
    """A setting's original value and the values pushed over it (module docstring)."""

    kind: str
    key: str
    original: Any
    pushes: list[Push] = field(default_factory=list)
    changing: dict[str, Any] | None = None

    def top(self) -> Any:
        return self.pushes[-1].value if self.pushes else self.original

    def holds(self, spec: str, group: str = "") -> bool:
        return any((p.spec, p.group) == (spec, group) for p in self.pushes)

    def push(self, spec: str, value: Any, seq: int = 0, group: str = "") -> None:
        """Put `value` on top for the holder (moving its earlier push, if any)."""
        self.pop(spec, group)
        self.pushes.append(Push(spec, value, seq, group))

    def after_pop(self, spec: str, group: str = "") -> tuple[bool, Any]:
        """(must the setting change?, the value it must show) once the holder lets go."""
        rest = [p for p in self.pushes if (p.spec, p.group) != (spec, group)]
        shown = rest[-1].value if rest else self.original
        return shown != self.top(), shown

    def pop(self, spec: str, group: str = "") -> None:
        self.pushes = [p for p in self.pushes if (p.spec, p.group) != (spec, group)]


@dataclass
class Journal:
    claims: list[Claim] = field(default_factory=list)
    stacks: list[Stack] = field(default_factory=list)
    next_seq: int = 1

    # --- address claims -------------------------------------------------------
    def claim(self, spec: str, group: str = "") -> Claim | None:
        return next((c for c in self.claims if (c.spec, c.group) == (spec, group)), None)

    def add_claim(self, claim: Claim) -> None:
        self.drop_claim(claim.spec, claim.group)
        claim.seq = self._seq()
        self.claims.append(claim)

    def drop_claim(self, spec: str, group: str = "") -> None:
        self.claims = [c for c in self.claims if (c.spec, c.group) != (spec, group)]

    def shared(self, claim: Claim) -> bool:
        """Another claim of ours holds the same address on the same interface."""
        return any(c is not claim and (c.ifname, c.address) == (claim.ifname, claim.address)
                   for c in self.claims)

    # --- stacks -----------------------------------------------------------------
    def stack(self, kind: str, key: str = "") -> Stack | None:
        return next((s for s in self.stacks if (s.kind, s.key) == (kind, key)), None)

    def open_stack(self, kind: str, key: str, original: Any) -> Stack:
        """The stack for (kind, key), created with `original` if there is none."""
        found = self.stack(kind, key)
        if found is None:
            found = Stack(kind, key, original)
            self.stacks.append(found)
        return found

    def push(self, stack: Stack, spec: str, value: Any, group: str = "") -> None:
        stack.push(spec, value, self._seq(), group)

    def drop_empty_stacks(self) -> None:
        self.stacks = [s for s in self.stacks if s.pushes or s.changing]

    # --- views ----------------------------------------------------------------------
    def specs(self) -> list[str]:
        """Every spec recorded as held, in the order it was taken."""
        entries = [(c.seq, c.spec) for c in self.claims]
        entries += [(p.seq, p.spec) for s in self.stacks for p in s.pushes]
        return [spec for _, spec in sorted(entries)]

    @property
    def empty(self) -> bool:
        return not self.claims and not any(s.pushes or s.changing for s in self.stacks)

    def copy(self) -> Journal:
        return copy.deepcopy(self)

    def _seq(self) -> int:
        self.next_seq += 1
        return self.next_seq - 1

    # --- JSON -------------------------------------------------------------------------
    def dumps(self) -> str:
        return json.dumps({"version": VERSION, **asdict(self)}, indent=1, sort_keys=True)

    @classmethod
    def loads(cls, text: str) -> Journal:
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != VERSION:
                raise JournalCorrupt(f"not a version {VERSION} journal")
            return cls([Claim(**_record(c, Claim)) for c in _list(data, "claims")],
                       [_stack(s) for s in _list(data, "stacks")],
                       _typed(data, "next_seq", int))
        except (ValueError, TypeError, KeyError) as exc:
            raise JournalCorrupt(str(exc) or type(exc).__name__) from exc


def _typed(data: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise JournalCorrupt(f"'{key}' has the wrong type")
    return value


def _list(data: dict[str, Any], key: str) -> list[Any]:
    found: list[Any] = _typed(data, key, list)
    return found


def _record(data: Any, cls: type) -> dict[str, Any]:
    if not isinstance(data, dict) or set(data) != {f.name for f in fields(cls)}:
        raise JournalCorrupt(f"a {cls.__name__.lower()} record has the wrong fields")
    for key in ("spec", "ifname", "address", "kind", "key", "group"):
        if key in data:
            _typed(data, key, str)
    for key in ("prefixlen", "seq"):
        if key in data:
            _typed(data, key, int)
    if "added" in data:
        _typed(data, "added", bool)
    if data.get("broadcast") is not None:
        _typed(data, "broadcast", str)
    return data


# what a stacked setting's values look like, by kind (a MAC or hostname is a
# string, default routes a list of route records)
_VALUE_TYPES: dict[str, type] = {"mac": str, "hostname": str, "route": list}


def _value(kind: str, value: Any, what: str) -> Any:
    wanted = _VALUE_TYPES.get(kind)
    if wanted is None:
        raise JournalCorrupt(f"unknown setting kind '{kind}'")
    if not isinstance(value, wanted) or (isinstance(value, list)
                                         and not all(isinstance(v, dict) for v in value)):
        raise JournalCorrupt(f"{what} of a {kind} setting has the wrong type")
    return value


def _stack(data: Any) -> Stack:
    record = _record(data, Stack)
    pushes = [Push(**_record(p, Push)) for p in _typed(record, "pushes", list)]
    if record["changing"] is not None:
        _typed(record, "changing", dict)
    kind = record["kind"]
    _value(kind, record["original"], "the original value")
    for push in pushes:
        _value(kind, push.value, "a pushed value")
    return Stack(kind, record["key"], record["original"], pushes, record["changing"])


class JournalFile:
    """`state_dir/identity.json`, written durably (module docstring)."""

    def __init__(self, directory: str, name: str = JOURNAL_NAME) -> None:
        self.directory = directory
        self.path = os.path.join(directory, name)

    def load(self) -> tuple[Journal, list[str]]:
        """The journal (empty if there is none) and lines reporting a corrupt file."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            return Journal(), []
        except (OSError, UnicodeDecodeError) as exc:
            return Journal(), [self._move_aside(f"cannot read {self.path}: {exc}")]
        try:
            return Journal.loads(text), []
        except JournalCorrupt as exc:
            return Journal(), [self._move_aside(f"{self.path} is corrupt ({exc})")]

    def save(self, journal: Journal) -> None:
        """Replace the file durably; raises OSError (the caller turns it into a value)."""
        if journal.empty:
            if os.path.exists(self.path):
                os.unlink(self.path)
                self._sync_dir()
            return
        os.makedirs(self.directory, exist_ok=True)
        self._replace(journal.dumps().encode("utf-8"))

    def _replace(self, data: bytes) -> None:
        """Write a temporary file whole, fsync, rename over the journal, fsync the dir."""
        tmp = f"{self.path}.tmp.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise ShortWrite(f"short write to {tmp}: {written} of {len(data)} bytes "
                                     "(file system full?); the previous journal is kept")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._sync_dir()

    def _move_aside(self, problem: str) -> str:
        for n in range(1, 1000):
            target = f"{self.path}.corrupt-{n}"
            if not os.path.exists(target):
                break
        try:
            os.replace(self.path, target)
            self._sync_dir()
        except OSError as exc:
            return f"{problem}; could not move it aside to {target}: {exc}"
        return f"{problem}; moved it aside to {target} and carried on without it"

    def _sync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

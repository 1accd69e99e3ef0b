"""The mutable accumulator the ha.cf parser fills in, one line at a time.

Kept separate so that the per-directive handlers (`hacf_items.py`) and the
driver (`hacf.py`) share it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from hbd.config.model import ApiAuth, Medium, PingNode, Problem, Respawn, Severity, Stonith


@dataclass
class HaCfBuilder:
    """Everything read so far from one ha.cf, plus the problems found."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    line: int = 0
    fields: dict[str, Any] = field(default_factory=dict)      # HaCf field -> value
    field_lines: dict[str, int] = field(default_factory=dict)  # HaCf field -> line
    directive_lines: dict[str, int] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)
    node_lines: dict[str, int] = field(default_factory=dict)
    media: list[Medium] = field(default_factory=list)
    first_media_line: int | None = None
    ping_nodes: list[PingNode] = field(default_factory=list)
    ping_lines: dict[str, int] = field(default_factory=dict)
    respawn: list[Respawn] = field(default_factory=list)
    apiauth: list[ApiAuth] = field(default_factory=list)
    stonith: list[Stonith] = field(default_factory=list)
    env: list[tuple[str, str]] = field(default_factory=list)
    watchdog_line: int | None = None
    written: list[tuple[str, str]] = field(default_factory=list)
    # host name -> IPv4 address (None: unknown); None: names cannot be resolved
    resolve: Callable[[str], str | None] | None = None

    def error(self, message: str, line: int | None = -1) -> None:
        self._add(Severity.ERROR, message, line)

    def warning(self, message: str, line: int | None = -1) -> None:
        self._add(Severity.WARNING, message, line)

    def _add(self, severity: Severity, message: str, line: int | None) -> None:
        where = self.line if line == -1 else line
        self.problems.append(Problem(self.source, where, severity, message))

    def set_field(self, name: str, value: Any) -> None:
        self.fields[name] = value
        self.field_lines[name] = self.line

    def add_medium(self, medium: Medium) -> None:
        if medium in self.media:
            self.warning("this medium is already declared; the duplicate is ignored")
            return
        self.media.append(medium)
        if self.first_media_line is None:
            self.first_media_line = self.line

    def add_ping_node(self, node: PingNode) -> None:
        if node.name in self.ping_lines:
            kind = "ping_group" if node.is_group else "ping node"
            self.error(f"{kind} '{node.name}' is already declared on line "
                       f"{self.ping_lines[node.name]}; give each ping node or group a unique name")
            return
        self.ping_nodes.append(node)
        self.ping_lines[node.name] = self.line

"""Where each script resource's program is, and whether it may run (pure).

The look-up rules are heartbeat's `ResourceManager` (resource.d, then init.d)
plus the class prefixes of `agents.py`. The file system is reached only
through a `FileProbe`, which `load.py` implements on the real disk; tests can
give a fake one.
"""

from __future__ import annotations

from typing import Protocol
from collections.abc import Sequence

from hbd.config.agents import Agent, AgentClass, AgentDirs, agent_of, candidates
from hbd.config.haresources import NATIVE_RESOURCES
from hbd.config.lexer import suggest
from hbd.config.model import Problem, ResourceGroup, Severity


class FileProbe(Protocol):
    """The questions about files that the checks ask."""

    def exists(self, path: str) -> bool:
        """True when something (a symlink included) is at `path`."""
        ...

    def is_file(self, path: str) -> bool:
        """True for a regular file (after symlinks)."""
        ...

    def is_executable(self, path: str) -> bool:
        """True for a regular file this process may execute."""
        ...

    def unsafe(self, path: str, trusted_uids: Sequence[int]) -> str | None:
        """Why running `path` as root would let an untrusted user choose the code."""
        ...


def find_agent(agent: Agent, dirs: AgentDirs, probe: FileProbe) -> tuple[str | None, list[str]]:
    """(path of the first regular executable for `agent`, places looked at)."""
    looked = candidates(agent, dirs)
    for path in looked:
        if probe.is_executable(path):
            return path, looked
    return None, looked


def script_problem(name: str, looked: list[str], probe: FileProbe) -> str:
    """Why no runnable script was found for `name` (and what to do)."""
    present = [p for p in looked if probe.exists(p)]
    if present:
        path = present[0]
        if probe.is_file(path):
            return f"resource script {path} is not executable: run 'chmod 755 {path}'"
        return f"resource script {path} is not a regular file; it must be an executable script"
    if not looked:
        return f"resource script '{name}': no directory to look in"
    hint = suggest(name, NATIVE_RESOURCES)
    native = (f"did you mean the native resource '{hint}'?" if hint else
              f"or use a native resource ({', '.join(NATIVE_RESOURCES)})")
    return (f"resource script '{name}' not found: looked for {' and '.join(looked)}; "
            f"install it there (chmod 755), {native}")


def script_resources(groups: Sequence[ResourceGroup]) -> dict[str, Agent]:
    """Resource name -> agent, for every non-native resource, in file order."""
    found: dict[str, Agent] = {}
    for group in groups:
        for resource in group.resources:
            agent = agent_of(resource, NATIVE_RESOURCES)
            if agent.cls is not AgentClass.NATIVE:
                found.setdefault(resource.name, agent)
    return found


def check_scripts(groups: Sequence[ResourceGroup], source: str, dirs: AgentDirs,
                  probe: FileProbe, trusted_uids: Sequence[int] = (0,)) -> list[Problem]:
    """Every non-native resource must resolve to an executable script that only a
    trusted user can change (the daemon runs it as root)."""
    problems: list[Problem] = []
    lines: dict[str, int | None] = {}
    for group in groups:
        for resource in group.resources:
            lines.setdefault(resource.name, group.line)
    for name, agent in script_resources(groups).items():
        path, looked = find_agent(agent, dirs, probe)
        if path is None:
            problems.append(Problem(source, lines[name], Severity.ERROR,
                                    script_problem(name, looked, probe)))
        elif (unsafe := probe.unsafe(path, trusted_uids)) is not None:
            problems.append(Problem(source, lines[name], Severity.ERROR,
                                    f"unsafe script {path}: {unsafe}"))
        if agent.cls in (AgentClass.HEARTBEAT, AgentClass.LSB, AgentClass.OCF):
            problems.append(Problem(source, lines[name], Severity.NOTE, (
                f"'{name}' uses a Pacemaker-style class prefix that heartbeat does not "
                "read: keep this haresources for hbd nodes only")))
    return problems


def script_paths(groups: Sequence[ResourceGroup], dirs: AgentDirs,
                 probe: FileProbe) -> dict[str, str]:
    """Script resource name -> resolved path, for every one that resolves."""
    found: dict[str, str] = {}
    for name, agent in script_resources(groups).items():
        path, _ = find_agent(agent, dirs, probe)
        if path:
            found[name] = path
    return found

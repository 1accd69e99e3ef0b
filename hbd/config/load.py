"""Read a configuration directory (ha.cf, haresources, authkeys) and validate it.

This is the only module of `hbd.config` that touches the disk. It:

* reads each file as UTF-8 (bad bytes become a problem naming the line);
* checks authkeys before trusting it: a regular file (not a symlink) owned by
  the expected user (root by default) with no group or other permission bit.
  Each message says the command that fixes it;
* parses the three files with the pure parsers and checks them together: this
  node must be declared in ha.cf, every haresources home node too, and every
  script resource must be a regular executable file in resource.d or init.d
  (looked up in that order, as heartbeat's ResourceManager does; class-prefixed
  agents where `agents.py` says);
* warns about respawn programs that do not exist (heartbeat refuses to start).

`load_config()` never raises for a bad configuration: it returns
`(ClusterConfig | None, problems)`, None whenever there is an error.
`load_or_raise()` raises `ConfigError` instead.
"""

from __future__ import annotations

import os
import stat
from typing import Sequence

from hbd.config.agents import (DEFAULT_OCF_ROOT, Agent, AgentClass, AgentDirs, agent_of,
                               candidates)
from hbd.config.authkeys import parse_authkeys
from hbd.config.hacf import parse_hacf
from hbd.config.haresources import NATIVE_RESOURCES, parse_haresources
from hbd.config.lexer import suggest
from hbd.config.model import (AuthKeys, ClusterConfig, ConfigError, HaCf, Problem, ResourceGroup,
                              Severity)
from hbd.pathsafety import unsafe_path

DEFAULT_INIT_DIR = "/etc/init.d"
FILES = ("ha.cf", "haresources", "authkeys")


def _problem(source: str, line: int | None, message: str,
             severity: Severity = Severity.ERROR) -> Problem:
    return Problem(source, line, severity, message)


def read_text(path: str, *, required: bool = True) -> tuple[str | None, list[Problem]]:
    """The file's text, or None and a problem saying why it cannot be used."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        if not required:
            return None, []
        return None, [_problem(path, None, f"file not found: create {path} (conf/node0/ in the "
                               "hbd sources has a complete example)")]
    except IsADirectoryError:
        return None, [_problem(path, None, "is a directory; it must be a text file")]
    except OSError as exc:
        return None, [_problem(path, None, f"cannot read: {exc.strerror or exc}")]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [_problem(path, line, f"not valid UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                               f"column {column}); is this a binary file? Save it as plain text")]


def local_node_name(config_dir: str) -> str:
    """This node's name: the first line of DIR/nodeinfo, else `uname -n`, lower-cased."""
    try:
        with open(os.path.join(config_dir, "nodeinfo"), encoding="utf-8") as handle:
            first = handle.readline().strip()
    except (OSError, UnicodeDecodeError):
        first = ""
    return (first or os.uname().nodename).lower()


def check_authkeys_file(path: str, owner_uid: int = 0) -> list[Problem]:
    """Refuse an authkeys that is a symlink, not a regular file, or too open."""
    try:
        info = os.lstat(path)
    except OSError:
        return []  # read_text reports the missing file
    if stat.S_ISLNK(info.st_mode):
        return [_problem(path, None, "is a symbolic link; the key file must be a regular file: "
                         f"run 'cp --remove-destination \"$(readlink -f {path})\" {path}' "
                         f"then 'chmod 600 {path}'")]
    if not stat.S_ISREG(info.st_mode):
        return [_problem(path, None, "is not a regular file; write the keys into a plain file")]
    problems: list[Problem] = []
    if info.st_uid != owner_uid:
        owner = "root:root" if owner_uid == 0 else str(owner_uid)
        problems.append(_problem(path, None, f"is owned by uid {info.st_uid}, not "
                                 f"{'root' if owner_uid == 0 else owner_uid}: run 'chown {owner} {path}'"))
    if info.st_mode & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        problems.append(_problem(path, None, f"has mode {mode:04o}: its keys are secrets and no "
                                 f"group or other permission is allowed: run 'chmod 600 {path}'"))
    return problems


def find_agent(agent: Agent, dirs: AgentDirs) -> tuple[str | None, list[str]]:
    """(path of the first regular executable for `agent`, places looked at)."""
    looked = candidates(agent, dirs)
    for path in looked:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path, looked
    return None, looked


def script_problem(name: str, looked: list[str]) -> str:
    """Why no runnable script was found for `name` (and what to do)."""
    present = [p for p in looked if os.path.lexists(p)]
    if present:
        path = present[0]
        if os.path.isfile(path):
            return f"resource script {path} is not executable: run 'chmod 755 {path}'"
        return f"resource script {path} is not a regular file; it must be an executable script"
    if not looked:
        return f"resource script '{name}': no directory to look in"
    hint = suggest(name, NATIVE_RESOURCES)
    native = (f"did you mean the native resource '{hint}'?" if hint else
              f"or use a native resource ({', '.join(NATIVE_RESOURCES)})")
    return (f"resource script '{name}' not found: looked for {' and '.join(looked)}; "
            f"install it there (chmod 755), {native}")


def _script_resources(groups: Sequence[ResourceGroup]) -> dict[str, Agent]:
    """Resource name -> agent, for every non-native resource, in file order."""
    found: dict[str, Agent] = {}
    for group in groups:
        for resource in group.resources:
            agent = agent_of(resource, NATIVE_RESOURCES)
            if agent.cls is not AgentClass.NATIVE:
                found.setdefault(resource.name, agent)
    return found


def check_scripts(groups: Sequence[ResourceGroup], source: str, dirs: AgentDirs,
                  trusted_uids: Sequence[int] = (0,)) -> list[Problem]:
    """Every non-native resource must resolve to an executable script that only a
    trusted user can change (the daemon runs it as root)."""
    problems: list[Problem] = []
    lines = {}
    for group in groups:
        for resource in group.resources:
            lines.setdefault(resource.name, group.line)
    for name, agent in _script_resources(groups).items():
        path, looked = find_agent(agent, dirs)
        if path is None:
            problems.append(_problem(source, lines[name], script_problem(name, looked)))
        elif (unsafe := unsafe_path(path, trusted_uids)) is not None:
            problems.append(_problem(source, lines[name], f"unsafe script {path}: {unsafe}"))
        if agent.cls in (AgentClass.HEARTBEAT, AgentClass.LSB, AgentClass.OCF):
            problems.append(_problem(source, lines[name], (
                f"'{name}' uses a Pacemaker-style class prefix that heartbeat does not "
                "read: keep this haresources for hbd nodes only"), Severity.NOTE))
    return problems


def script_paths(groups: Sequence[ResourceGroup], dirs: AgentDirs) -> dict[str, str]:
    """Script resource name -> resolved path, for every one that resolves."""
    found: dict[str, str] = {}
    for name, agent in _script_resources(groups).items():
        path, _ = find_agent(agent, dirs)
        if path:
            found[name] = path
    return found


def default_dirs(config_dir: str) -> AgentDirs:
    return AgentDirs(os.path.join(config_dir, "resource.d"), DEFAULT_INIT_DIR, DEFAULT_OCF_ROOT)


def _check_respawn(hacf: HaCf, source: str) -> list[Problem]:
    problems = []
    for item in hacf.respawn:
        program = item.argv[0]
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            problems.append(_problem(source, item.line, f"respawn program {program} does not exist "
                                     "or is not executable (heartbeat refuses to start with "
                                     "\"Client child command is not executable\")",
                                     Severity.WARNING))
    return problems


def _check_node(hacf: HaCf, node: str, source: str) -> list[Problem]:
    if not hacf.nodes or node in hacf.nodes:
        return []
    return [_problem(source, None, f"this node '{node}' is not declared (nodes: "
                     f"{', '.join(hacf.nodes)}): add 'node {node}' to ha.cf, or give the right "
                     "name with --node or in nodeinfo")]


def _load_hacf(path: str, node: str) -> tuple[HaCf | None, list[Problem]]:
    text, problems = read_text(path)
    if text is None:
        return None, problems
    hacf, more = parse_hacf(text, path)
    return hacf, problems + more + _check_respawn(hacf, path) + _check_node(hacf, node, path)


def _load_haresources(path: str, hacf: HaCf | None, dirs: AgentDirs,
                      trusted_uids: Sequence[int] = (0,)) -> tuple[tuple[ResourceGroup, ...], list[Problem]]:
    text, problems = read_text(path, required=False)
    if text is None:
        if not problems:
            problems = [_problem(path, None, "file not found: this node manages no resource "
                                 "groups; create it to list them", Severity.WARNING)]
        return (), problems
    groups, more = parse_haresources(text, path, hacf.nodes if hacf else None)
    return groups, problems + more + check_scripts(groups, path, dirs, trusted_uids)


def _load_authkeys(path: str, owner_uid: int) -> tuple[AuthKeys | None, list[Problem]]:
    problems = check_authkeys_file(path, owner_uid)
    text, more = read_text(path)
    if text is None:
        return None, problems + more
    keys, parsed = parse_authkeys(text, path)
    return keys, problems + parsed


def _sorted(problems: list[Problem], sources: Sequence[str]) -> list[Problem]:
    order = {source: i for i, source in enumerate(sources)}
    indexed = list(enumerate(problems))
    indexed.sort(key=lambda item: (order.get(item[1].source, len(order)),
                                   item[1].line or 0, item[0]))
    return [p for _, p in indexed]


def load_config(config_dir: str, node_name: str | None = None, *,
                dirs: AgentDirs | None = None,
                authkeys_owner: int = 0) -> tuple[ClusterConfig | None, list[Problem]]:
    """Read and validate `config_dir`; the config is None when any problem is an error.

    `dirs` says where scripts are looked for (default: `default_dirs(config_dir)`).
    """
    node = (node_name or local_node_name(config_dir)).lower()
    paths = [os.path.join(config_dir, name) for name in FILES]
    dirs = dirs or default_dirs(config_dir)
    hacf, problems = _load_hacf(paths[0], node)
    groups, more = _load_haresources(paths[1], hacf, dirs, (0, authkeys_owner))
    keys, key_problems = _load_authkeys(paths[2], authkeys_owner)
    problems = _sorted(problems + more + key_problems, paths)
    if hacf is None or keys is None or any(p.severity is Severity.ERROR for p in problems):
        return None, problems
    config = ClusterConfig(node_name=node, hacf=hacf, groups=groups, authkeys=keys,
                           config_dir=config_dir)
    return config, problems


def load_or_raise(config_dir: str, node_name: str | None = None, *,
                  dirs: AgentDirs | None = None,
                  authkeys_owner: int = 0) -> tuple[ClusterConfig, list[Problem]]:
    """Like `load_config`, but raise `ConfigError` on any error.

    Returns the configuration and the remaining (warning) problems to log.
    """
    config, problems = load_config(config_dir, node_name, dirs=dirs,
                                   authkeys_owner=authkeys_owner)
    if config is None:
        raise ConfigError(problems)
    return config, problems

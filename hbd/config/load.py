"""Read a configuration directory and validate it: the one loading entry point.

`load_cluster(LoadOptions(...))` is what `hbd check-config` and the daemon
call. It never raises for a bad configuration: it returns
`(ClusterConfig | None, problems)`, None whenever a problem is an error.
This is the only module of `hbd.config` that touches the disk. It:

* reads ha.cf, haresources, authkeys and the optional hbd.cf with a bounded
  read: only regular files, at most `limits.max_bytes(name)` bytes, as UTF-8
  (a larger file is one error naming it; bad bytes are a problem naming the
  line); parsers stop after `limits.MAX_ERRORS` errors;
* checks authkeys before trusting it: a regular file (not a symlink) owned
  by the expected user (root by default) with no group or other permission
  bit. Each message says the command that fixes it;
* parses the files with the pure parsers and checks them together
  (`crosscheck.py`); every script resource must be a regular executable file
  that only a trusted user can change (`scripts.py`, on the real disk);
* looks at respawn programs as heartbeat would (it refuses to start when one
  is missing or its user is unknown: hbd warns and starts without it), and
  marks a program that links heartbeat's client library as an API client
  that hbd does not run.

`load_config()` and `load_or_raise()` are the older entry points, kept for
their callers.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import stat
from dataclasses import dataclass
from collections.abc import Callable, Sequence

from hbd.config import limits, scripts
from hbd.config.agents import DEFAULT_OCF_ROOT, Agent, AgentDirs
from hbd.config.authkeys import parse_authkeys
from hbd.config.crosscheck import cross_check
from hbd.config.hacf import parse_hacf
from hbd.config.haresources import parse_haresources
from hbd.config.hacf import DIRECTIVES as HACF_DIRECTIVES
from hbd.config.hbdcf import parse_hbdcf
from hbd.config.model import (AuthKeys, ClientKind, ClusterConfig, ConfigError, HaCf, Problem,
                              ResourceGroup, Severity)
from hbd.config.respawn import API_LIBRARIES, LINKED_REASON, replaced_warning
from hbd.config.settings import HbdSettings
from hbd.pathsafety import unsafe_path

DEFAULT_CONFIG_DIR = "/etc/ha.d"
DEFAULT_INIT_DIR = "/etc/init.d"
FILES = ("ha.cf", "haresources", "authkeys", "hbd.cf")
ELF_HEAD = 64 * 1024       # bytes of a respawn program searched for heartbeat's API libraries


@dataclass(frozen=True)
class LoadOptions:
    """What `load_cluster` needs to know besides the files themselves."""

    config_dir: str = DEFAULT_CONFIG_DIR
    node_name: str | None = None           # None: first line of nodeinfo, else uname -n
    resource_dir: str | None = None        # None: CONFIG_DIR/resource.d; "": not looked in
    init_dir: str = DEFAULT_INIT_DIR
    ocf_root: str = DEFAULT_OCF_ROOT
    authkeys_owner: int = 0                # uid that must own authkeys (and may own scripts)
    # host name -> IPv4 address for ucast peers written as names; None: names are
    # refused (hbd.commands.check_config.resolve_ipv4 is the system resolver)
    resolve_host: Callable[[str], str | None] | None = None

    @property
    def agent_dirs(self) -> AgentDirs:
        resource_dir = (os.path.join(self.config_dir, "resource.d") if self.resource_dir is None
                        else self.resource_dir)
        return AgentDirs(resource_dir, self.init_dir, self.ocf_root)


def _problem(source: str, line: int | None, message: str,
             severity: Severity = Severity.ERROR) -> Problem:
    return Problem(source, line, severity, message)


def _read_bounded(path: str, limit: int) -> bytes | str:
    """The file's bytes, or a message saying why it is not read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return "is a directory; it must be a text file"
        if not stat.S_ISREG(info.st_mode):
            return "is not a regular file (a FIFO, device or socket); it must be a text file"
        if info.st_size > limit:
            return limits.too_big(info.st_size, limit)
        chunks: list[bytes] = []
        size = 0
        while size <= limit and (chunk := os.read(fd, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    return limits.too_big(len(raw), limit) if len(raw) > limit else raw


def read_text(path: str, *, required: bool = True,
              limit: int | None = None) -> tuple[str | None, list[Problem]]:
    """The file's text, or None and a problem saying why it cannot be used."""
    limit = limits.max_bytes(os.path.basename(path)) if limit is None else limit
    try:
        raw = _read_bounded(path, limit)
    except FileNotFoundError:
        if not required:
            return None, []
        return None, [_problem(path, None, f"file not found: create {path} (conf/node0/ in the "
                               "hbd sources has a complete example)")]
    except OSError as exc:
        return None, [_problem(path, None, f"cannot read: {exc.strerror or exc}")]
    if isinstance(raw, str):
        return None, [_problem(path, None, raw)]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [_problem(path, line, f"not valid UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                               f"column {column}); is this a binary file? Save it as plain text")]


def local_node_name(config_dir: str) -> str:
    """This node's name: the first line of DIR/nodeinfo, else `uname -n`, lower-cased."""
    text, _ = read_text(os.path.join(config_dir, "nodeinfo"), required=False)
    first = text.splitlines()[0].strip() if text and text.strip() else ""
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


class Disk:
    """`scripts.FileProbe` on the real file system."""

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def is_file(self, path: str) -> bool:
        return os.path.isfile(path)

    def is_executable(self, path: str) -> bool:
        return os.path.isfile(path) and os.access(path, os.X_OK)

    def unsafe(self, path: str, trusted_uids: Sequence[int]) -> str | None:
        return unsafe_path(path, trusted_uids)


DISK = Disk()


def find_agent(agent: Agent, dirs: AgentDirs) -> tuple[str | None, list[str]]:
    """(path of the first regular executable for `agent`, places looked at)."""
    return scripts.find_agent(agent, dirs, DISK)


def script_problem(name: str, looked: list[str]) -> str:
    """Why no runnable script was found for `name` (and what to do)."""
    return scripts.script_problem(name, looked, DISK)


def check_scripts(groups: Sequence[ResourceGroup], source: str, dirs: AgentDirs,
                  trusted_uids: Sequence[int] = (0,)) -> list[Problem]:
    return scripts.check_scripts(groups, source, dirs, DISK, trusted_uids)


def script_paths(groups: Sequence[ResourceGroup], dirs: AgentDirs) -> dict[str, str]:
    """Script resource name -> resolved path, for every one that resolves."""
    return scripts.script_paths(groups, dirs, DISK)


def default_dirs(config_dir: str) -> AgentDirs:
    return LoadOptions(config_dir).agent_dirs


def links_heartbeat_api(path: str) -> bool:
    """True for an ELF executable that names heartbeat's client libraries."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(ELF_HEAD)
    except OSError:
        return False
    return head.startswith(b"\x7fELF") and any(lib in head for lib in API_LIBRARIES)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _check_respawn(hacf: HaCf, source: str) -> tuple[HaCf, list[Problem]]:
    """Missing programs and users (heartbeat refuses both), API clients by their libraries."""
    problems: list[Problem] = []
    entries = []
    for item in hacf.respawn:
        program = item.argv[0]
        if not DISK.is_executable(program):
            tail = "; hbd starts without it" if item.runs else ""
            problems.append(_problem(source, item.line, f"respawn program {program} does not exist "
                                     "or is not executable: heartbeat 3.0.6 refuses to start with "
                                     "this line (\"Client child command is not executable\"), so "
                                     "this node could not go back to heartbeat as it is" + tail,
                                     Severity.WARNING))
        elif item.runs and links_heartbeat_api(program):
            item = dataclasses.replace(item, kind=ClientKind.API_CLIENT)
            problems.append(_problem(source, item.line, replaced_warning(item.argv, LINKED_REASON),
                                     Severity.WARNING))
        if item.runs and not _user_exists(item.user):
            problems.append(_problem(source, item.line, f"respawn: user '{item.user}' does not "
                                     f"exist, so {program} cannot run as that user (heartbeat "
                                     "refuses to start: \"Invalid uid\"); hbd starts without it",
                                     Severity.WARNING))
        entries.append(item)
    return dataclasses.replace(hacf, respawn=tuple(entries)), problems


def _check_notify(settings: HbdSettings, source: str) -> list[Problem]:
    return [_problem(source, hook.line, f"notify program {hook.argv[0]} does not exist or is not "
                     "executable: that hook will fail on every event", Severity.WARNING)
            for hook in settings.notify if not DISK.is_executable(hook.argv[0])]


def _load_hacf(path: str, options: LoadOptions) -> tuple[HaCf | None, list[Problem]]:
    text, problems = read_text(path)
    if text is None:
        return None, problems
    hacf, more = parse_hacf(text, path, resolve=options.resolve_host)
    hacf, respawn_problems = _check_respawn(hacf, path)
    return hacf, problems + more + respawn_problems


def _load_haresources(path: str, hacf: HaCf | None, dirs: AgentDirs,
                      trusted_uids: Sequence[int]) -> tuple[tuple[ResourceGroup, ...], list[Problem]]:
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
    return keys, problems + limits.capped(parsed, path)


def _load_hbdcf(path: str) -> tuple[HbdSettings, list[Problem]]:
    text, problems = read_text(path, required=False)
    if text is None:
        return HbdSettings(), problems
    settings, more = parse_hbdcf(text, path, heartbeat_directives=frozenset(HACF_DIRECTIVES))
    return settings, problems + more + _check_notify(settings, path)


def _sorted(problems: list[Problem], sources: Sequence[str]) -> list[Problem]:
    order = {source: i for i, source in enumerate(sources)}
    indexed = list(enumerate(problems))
    indexed.sort(key=lambda item: (order.get(item[1].source, len(order)),
                                   item[1].line or 0, item[0]))
    return [p for _, p in indexed]


def _load(options: LoadOptions) -> tuple[ClusterConfig | None, list[Problem]]:
    node = (options.node_name or local_node_name(options.config_dir)).lower()
    paths = [os.path.join(options.config_dir, name) for name in FILES]
    hacf, problems = _load_hacf(paths[0], options)
    groups, more = _load_haresources(paths[1], hacf, options.agent_dirs,
                                     (0, options.authkeys_owner))
    keys, key_problems = _load_authkeys(paths[2], options.authkeys_owner)
    settings, hbd_problems = _load_hbdcf(paths[3])
    problems += more + key_problems + hbd_problems
    if hacf is not None:
        problems += cross_check(hacf, groups, settings, node=node, hacf_source=paths[0],
                                hbd_source=paths[3])
    problems = _sorted(problems, paths)
    if hacf is None or keys is None or any(p.severity is Severity.ERROR for p in problems):
        return None, problems
    return ClusterConfig(node_name=node, hacf=hacf, groups=groups, authkeys=keys,
                         config_dir=options.config_dir, hbd=settings), problems


def load_cluster(options: LoadOptions) -> tuple[ClusterConfig | None, list[Problem]]:
    """Read and validate `options.config_dir`; the config is None when any problem is an error."""
    if not os.path.isdir(options.config_dir):
        return None, [_problem(options.config_dir, None, "configuration directory not found; "
                               "give it with --config-dir")]
    try:
        return _load(options)
    except (OSError, UnicodeError, ValueError) as exc:  # a bug or a race: say it plainly
        return None, [_problem(options.config_dir, None, f"cannot read the configuration: {exc}")]


def load_config(config_dir: str, node_name: str | None = None, *,
                dirs: AgentDirs | None = None,
                authkeys_owner: int = 0) -> tuple[ClusterConfig | None, list[Problem]]:
    """`load_cluster` with the older arguments (`dirs` default: `default_dirs(config_dir)`)."""
    dirs = dirs or default_dirs(config_dir)
    return load_cluster(LoadOptions(config_dir, node_name, dirs.resource_d, dirs.init_d,
                                    dirs.ocf_root, authkeys_owner))


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

"""Typed, frozen configuration: what ha.cf, haresources and authkeys say.

This module holds only data shapes. The parsers (`hacf.py`, `haresources.py`,
`authkeys.py`, `hbdcf.py`) build them from text and collect `Problem`s;
`load.py` reads the files of a configuration directory and validates them
together. hbd's own settings (hbd.cf) are in `settings.py`.
Everything here is pure: no file, clock or socket access.

Durations are float seconds named after the ha.cf directive that sets them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hbd.config.settings import HbdSettings


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth saying) about a configuration file."""

    source: str
    line: int | None
    severity: Severity
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.severity.value}: {self.message}"


class ConfigError(Exception):
    """Raised once, carrying every problem found (errors and warnings)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        errors = [p for p in problems if p.severity is Severity.ERROR]
        super().__init__("\n".join(str(p) for p in errors) or "invalid configuration")


class AutoFailback(enum.Enum):
    ON = "on"
    OFF = "off"
    LEGACY = "legacy"


# --- media -----------------------------------------------------------------

@dataclass(frozen=True)
class Bcast:
    iface: str


@dataclass(frozen=True)
class Ucast:
    iface: str
    peer: str


@dataclass(frozen=True)
class Mcast:
    iface: str
    group: str
    port: int
    ttl: int
    loop: bool


Medium = Bcast | Ucast | Mcast


def medium_name(medium: Medium) -> str:
    """The link name heartbeat shows for a medium (its interface, or the peer)."""
    return medium.iface


# --- ping nodes --------------------------------------------------------------

@dataclass(frozen=True)
class PingNode:
    """A ping node (`ping ADDR`) or ping group (`ping_group NAME ADDR...`).

    A ping node is named by its address and has that one address; a group is
    alive while any of its addresses answers.
    """

    name: str
    addresses: tuple[str, ...]
    is_group: bool = False


# --- processes, API, fencing -------------------------------------------------

class ClientKind(enum.Enum):
    """What hbd does with a `respawn` line (see `hbd.config.respawn`)."""

    PROGRAM = "program"        # an ordinary program: hbd runs and restarts it as heartbeat does
    API_CLIENT = "api-client"  # needs heartbeat's client API (ipfail, pingd, dopd, ...): not run


@dataclass(frozen=True)
class Respawn:
    """One `respawn USER COMMAND` line of ha.cf.

    Heartbeat 3.0.6 (`heartbeat.c`, observed with Debian's package) starts the
    command once communication is up and restarts it when it exits, with
    these rules, which the daemon reproduces for `ClientKind.PROGRAM` entries:

    * it runs `/bin/sh -c "exec COMMAND"` (`command`, the rest of the line after
      the user: the shell is replaced by the program) as USER's uid and primary gid,
      in its own process group, stdin/stdout/stderr on /dev/null, with the
      `env NAME=value` lines exported as `HA_NAME` (`HaCf.env`);
    * an exit with status 100 is final: the program is not restarted;
    * a restart waits 1 s when the previous run lasted under 30 s;
    * runs shorter than 30 s are counted; a run of 30 s or more resets the
      count; when the count exceeds 10 (the 11th short run in a row),
      heartbeat logs "respawning too fast" and never restarts it again;
    * nothing is restarted during shutdown; after the resources are released
      clients are stopped one at a time (SIGTERM), in the reverse order of
      their lines.

    `argv` is the command's blank-separated words (argv[0] is the program, an
    absolute path), for display and look-ups. `kind` is `API_CLIENT` for a
    heartbeat API client: hbd offers no heartbeat API, ipfail's job is done by
    hbd's own ping handling, and such an entry is never run.
    """

    user: str
    argv: tuple[str, ...]
    line: int | None = None
    command: str = ""
    kind: ClientKind = ClientKind.PROGRAM

    def __post_init__(self) -> None:
        if not self.command:
            object.__setattr__(self, "command", " ".join(self.argv))

    @property
    def runs(self) -> bool:
        """True when the daemon starts and respawns this entry."""
        return self.kind is ClientKind.PROGRAM


@dataclass(frozen=True)
class ApiAuth:
    client: str
    uids: tuple[str, ...] = ()
    gids: tuple[str, ...] = ()
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Stonith:
    """`stonith TYPE CONFIGFILE` or `stonith_host HOST TYPE PARAMS...`."""

    device_type: str
    params: tuple[str, ...]
    host: str = "*"
    from_file: bool = False        # `stonith TYPE CONFIGFILE`: params is (CONFIGFILE,)


# --- haresources -------------------------------------------------------------

@dataclass(frozen=True)
class Resource:
    """One resource of a group, e.g. `IPaddr::192.168.32.21/24/eth0`.

    `spec` is the text as written in haresources (after the bare-IP shorthand
    has been expanded), `name` the script or native resource name, `args` the
    `::`-separated arguments.
    """

    name: str
    args: tuple[str, ...] = ()
    spec: str = ""

    def __post_init__(self) -> None:
        if not self.spec:
            object.__setattr__(self, "spec", "::".join((self.name, *self.args)))


@dataclass(frozen=True)
class ResourceGroup:
    """One haresources line: a home (primary) node and ordered resources.

    Start order is left to right, stop order right to left. The group is named
    on the wire by its first resource (`key`), as heartbeat does.
    """

    primary: str
    resources: tuple[Resource, ...]
    line: int | None = None

    @property
    def key(self) -> str:
        return self.resources[0].spec

    def start_order(self) -> tuple[Resource, ...]:
        return self.resources

    def stop_order(self) -> tuple[Resource, ...]:
        return tuple(reversed(self.resources))


# --- authkeys ------------------------------------------------------------------

class AuthMethod(enum.Enum):
    CRC = "crc"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"                       # hbd only (heartbeat 3.0.6 refuses it)
    CHACHA20POLY1305 = "chacha20poly1305"   # hbd only: encrypted too (hbd/wire/seal.py)


@dataclass(frozen=True)
class AuthKey:
    index: int
    method: AuthMethod
    secret: bytes = b""


@dataclass(frozen=True)
class AuthKeys:
    """`auth N` (the outbound index) and the configured indexes 0..15."""

    sign_index: int
    keys: tuple[AuthKey, ...]

    def get(self, index: int) -> AuthKey | None:
        for key in self.keys:
            if key.index == index:
                return key
        return None

    @property
    def signing_key(self) -> AuthKey:
        key = self.get(self.sign_index)
        if key is None:  # load() refuses such a file; this is a programming error
            raise ValueError(f"authkeys: auth {self.sign_index} is not defined")
        return key

    @property
    def authenticated(self) -> bool:
        """False when the signing method is crc (integrity only, no secret)."""
        return self.signing_key.method is not AuthMethod.CRC

    @classmethod
    def single(cls, method: str = "crc", secret: str | bytes = b"", index: int = 1) -> AuthKeys:
        raw = secret.encode() if isinstance(secret, str) else secret
        return cls(sign_index=index, keys=(AuthKey(index, AuthMethod(method), raw),))


# --- ha.cf -------------------------------------------------------------------

@dataclass(frozen=True)
class HaCf:
    """What ha.cf says, with heartbeat 3.0.6's defaults filled in."""

    nodes: tuple[str, ...] = ()
    keepalive: float = 1.0
    deadtime: float = 30.0
    warntime: float = 15.0
    initdead: float = 30.0
    deadping: float = 30.0
    udpport: int = 694
    media: tuple[Medium, ...] = ()
    ping_nodes: tuple[PingNode, ...] = ()
    auto_failback: AutoFailback = AutoFailback.LEGACY
    respawn: tuple[Respawn, ...] = ()
    apiauth: tuple[ApiAuth, ...] = ()
    stonith: tuple[Stonith, ...] = ()
    # `watchdog DEVICE` (heartbeat 3.0.6, observed with strace on Debian's
    # package): at start heartbeat opens DEVICE write-only and sets its timeout
    # with WDIOC_SETTIMEOUT to deadtime (whole seconds, truncated) + 1 s, e.g.
    # 11 s for deadtime 10 and 3 s for 2500ms; a failing ioctl (not a real
    # watchdog) is logged and the device is still used. It pets the device by
    # writing one NUL byte each time it receives its own heartbeat, i.e. once
    # per keepalive, from its main loop: a hung heartbeat stops petting and the
    # kernel reboots the node. On a clean stop it writes "V" (the magic close)
    # and closes it, so the timer stops. A device it cannot open is logged
    # ("Cannot open watchdog device") and heartbeat runs without one. Only one
    # watchdog line is allowed. None: no watchdog.
    watchdog: str | None = None
    logfile: str | None = None
    debugfile: str | None = None
    logfacility: str | None = None
    debug: int = 0
    msgfmt: str = "classic"
    hbgenmethod: str = "file"
    uuidfrom: str = "file"
    compression: str = "zlib"
    compression_threshold: int = 2  # KB
    traditional_compression: bool = False
    max_rexmit_delay: float = 0.25
    hopfudge: int = 1
    # True when ha.cf turns Pacemaker on (`crm yes|on|respawn...`): heartbeat would
    # then ignore haresources; hbd never runs Pacemaker and runs the haresources
    # cluster anyway (informational, with a warning at load).
    crm: bool = False
    cluster: str = "linux-ha"
    # `env NAME=value` lines: (NAME, value), exported as HA_NAME to respawned programs
    env: tuple[tuple[str, str], ...] = ()
    # directive -> value as written, for `hbctl hbparameter`-style queries
    written: tuple[tuple[str, str], ...] = ()
    # directive -> the line where it first appears (for whole-configuration checks)
    lines: tuple[tuple[str, int], ...] = ()

    def line_of(self, directive: str) -> int | None:
        """The line of the first `directive` line in ha.cf, if any."""
        return next((line for name, line in self.lines if name == directive), None)

    @property
    def respawned(self) -> tuple[Respawn, ...]:
        """The respawn entries the daemon runs (heartbeat API clients left out)."""
        return tuple(item for item in self.respawn if item.runs)


# --- the whole configuration ----------------------------------------------------

@dataclass(frozen=True)
class ClusterConfig:
    """Everything one node needs to run: its name, the three heartbeat files and hbd.cf.

    `nodes` is in ha.cf order, which is priority order. `groups` is in
    haresources order.
    """

    node_name: str
    hacf: HaCf = field(default_factory=HaCf)
    groups: tuple[ResourceGroup, ...] = ()
    authkeys: AuthKeys = field(default_factory=AuthKeys.single)
    config_dir: str = "/etc/ha.d"
    hbd: HbdSettings = field(default_factory=HbdSettings)   # hbd.cf, hbd's own settings

    # convenient views used by the core
    @property
    def nodes(self) -> tuple[str, ...]:
        return self.hacf.nodes

    @property
    def keepalive(self) -> float:
        return self.hacf.keepalive

    @property
    def deadtime(self) -> float:
        return self.hacf.deadtime

    @property
    def warntime(self) -> float:
        return self.hacf.warntime

    @property
    def initdead(self) -> float:
        return self.hacf.initdead

    @property
    def deadping(self) -> float:
        return self.hacf.deadping

    @property
    def auto_failback(self) -> AutoFailback:
        return self.hacf.auto_failback

    @property
    def ping_nodes(self) -> tuple[PingNode, ...]:
        return self.hacf.ping_nodes

    def group(self, key: str) -> ResourceGroup | None:
        for group in self.groups:
            if group.key == key:
                return group
        return None

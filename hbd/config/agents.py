"""Which program runs a haresources resource, and where it is looked for (pure).

A haresources word names a resource in one of these classes:

| written as | class | looked for in |
|---|---|---|
| `IPaddr::…`, `IPaddr2::…`, `MacAddr::…`, `Hostname::…`, `DefaultRoute::…` | native | hbd itself |
| `NAME[::ARG…]` (any other bare name) | script | resource.d, then init.d (heartbeat's order) |
| `heartbeat:NAME[::ARG…]` | heartbeat | resource.d only |
| `lsb:NAME` | lsb | init.d only (no arguments) |
| `ocf:PROVIDER:TYPE[::KEY=VALUE…]` | ocf | OCF_ROOT/resource.d/PROVIDER/TYPE |

The prefixed forms are Pacemaker's resource-class names, for operators coming
from Pacemaker and for running a script instead of the native resource of the
same name (`heartbeat:IPaddr::192.168.32.21/24/eth0` runs resource.d/IPaddr).
A heartbeat node reading the same haresources does not know them; use them
only on all-hbd clusters (check-config says so).
"""

from __future__ import annotations

import enum
import posixpath
import re
from dataclasses import dataclass
from collections.abc import Container, Sequence

from hbd.config.model import Resource

DEFAULT_OCF_ROOT = "/usr/lib/ocf"
OCF_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROVIDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class AgentClass(enum.Enum):
    NATIVE = "native"
    SCRIPT = "script"
    HEARTBEAT = "heartbeat"
    LSB = "lsb"
    OCF = "ocf"


@dataclass(frozen=True)
class Agent:
    cls: AgentClass
    type: str                 # script or agent file name
    provider: str = ""        # OCF only


@dataclass(frozen=True)
class AgentDirs:
    """Where scripts live: a node's resource.d, the init.d, and OCF_ROOT."""

    resource_d: str
    init_d: str = "/etc/init.d"
    ocf_root: str = DEFAULT_OCF_ROOT


def parse_agent(name: str, native: Container[str]) -> tuple[Agent | None, str | None]:
    """The agent a resource name denotes, or a message saying what is wrong."""
    if ":" not in name:
        cls = AgentClass.NATIVE if name in native else AgentClass.SCRIPT
        return Agent(cls, name), None
    prefix, _, rest = name.partition(":")
    if prefix == "ocf":
        provider, _, kind = rest.partition(":")
        if not provider or not kind or ":" in kind:
            return None, (f"'{name}' is not an OCF agent name; write ocf:PROVIDER:TYPE, "
                          "e.g. ocf:heartbeat:IPaddr2")
        if not _PROVIDER.match(provider) or "/" in kind:
            return None, f"'{name}': provider and type must be plain names"
        return Agent(AgentClass.OCF, kind, provider), None
    if prefix in ("heartbeat", "lsb"):
        if not rest or ":" in rest:
            return None, f"'{name}': write {prefix}:NAME, e.g. {prefix}:httpd"
        return Agent(AgentClass(prefix), rest), None
    return None, (f"resource class '{prefix}' is not supported; use a bare name, "
                  "heartbeat:NAME, lsb:NAME or ocf:PROVIDER:TYPE")


def check_agent_args(agent: Agent, args: Sequence[str]) -> str | None:
    """Problems with the `::` arguments for this class of agent."""
    if agent.cls is AgentClass.LSB and args:
        return "LSB init scripts take no arguments; drop the '::' part or use a resource.d script"
    if agent.cls is AgentClass.OCF:
        for arg in args:
            key, eq, _ = arg.partition("=")
            if not eq or not OCF_KEY.match(key):
                return (f"OCF parameter '{arg}' must be KEY=VALUE with KEY a parameter name, "
                        "e.g. ip=192.168.32.21")
    return None


def agent_of(resource: Resource, native: Container[str]) -> Agent:
    """The agent of an already validated resource (see `parse_agent`)."""
    agent, problem = parse_agent(resource.name, native)
    if agent is None:  # haresources refuses such a name; this is a programming error
        raise ValueError(problem)
    return agent


def candidates(agent: Agent, dirs: AgentDirs) -> list[str]:
    """The paths to try, in order, for a non-native agent (empty dirs are skipped)."""
    places = {
        AgentClass.SCRIPT: [(dirs.resource_d, agent.type), (dirs.init_d, agent.type)],
        AgentClass.HEARTBEAT: [(dirs.resource_d, agent.type)],
        AgentClass.LSB: [(dirs.init_d, agent.type)],
        AgentClass.OCF: [(dirs.ocf_root, posixpath.join("resource.d", agent.provider, agent.type))],
    }.get(agent.cls, [])
    return [posixpath.join(directory, rel) for directory, rel in places if directory]


def ocf_params(args: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` arguments as OCF_RESKEY_* environment entries."""
    env = {}
    for arg in args:
        key, _, value = arg.partition("=")
        env[f"OCF_RESKEY_{key}"] = value
    return env

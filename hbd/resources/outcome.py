"""What a resource operation returns: a value, never an exception (STYLE.md, Errors)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpResult:
    """`ok` in the sense of the operation: for `status`, ok means "running here".

    `rc` is the script's exit status where there was a script; `detail` says
    what happened in words an operator can act on ("timed out after 20 s,
    killed", "EPERM setting MAC on eth0").
    """

    ok: bool
    detail: str = ""
    rc: int | None = None

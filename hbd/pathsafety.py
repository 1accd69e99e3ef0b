"""Is it safe to run this file as root? (resource scripts; check-config and the daemon)

A script runs as root, so nobody but root (or another trusted uid) may be able
to choose its code: the file and every directory above it must be owned by a
trusted uid and not writable by group or others. A root-owned directory with
the sticky bit (such as /tmp) is allowed as a parent, because others cannot
replace what we own in it. Symbolic links are followed and their targets
checked the same way. Every refusal names the path and the command that fixes it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

MAX_SYMLINKS = 40          # as the kernel's ELOOP limit


def unsafe_path(path: str, trusted_uids: Sequence[int] = (0,)) -> str | None:
    """Why running `path` would let an untrusted user choose the code, or None."""
    try:
        reason, real = _walk(os.path.abspath(path), tuple(trusted_uids), [0])
        if reason is None and not stat.S_ISREG(os.stat(real).st_mode):
            reason = f"{real} is not a regular file"
    except OSError as exc:
        return f"{exc.filename or path}: {exc.strerror}"
    return reason


def _walk(path: str, uids: tuple[int, ...], hops: list[int]) -> tuple[str | None, str]:
    """Check each entry of absolute `path`, following symlinks; (problem, real path)."""
    current = "/"
    reason = _entry_problem("/", os.lstat("/"), uids)
    for part in path.split("/"):
        if reason is not None:
            return reason, current
        if part in ("", "."):
            continue
        if part == "..":
            current = os.path.dirname(current)
            continue
        entry = os.path.join(current, part)
        info = os.lstat(entry)
        reason = _entry_problem(entry, info, uids)
        if reason is not None or not stat.S_ISLNK(info.st_mode):
            current = entry
            continue
        hops[0] += 1
        if hops[0] > MAX_SYMLINKS:
            return f"{path}: too many levels of symbolic links", entry
        reason, current = _walk(os.path.join(current, os.readlink(entry)), uids, hops)
    return reason, current


def _entry_problem(entry: str, info: os.stat_result, uids: tuple[int, ...]) -> str | None:
    if info.st_uid not in uids:
        owners = " or ".join("root" if uid == 0 else f"uid {uid}" for uid in uids)
        return f"{entry} is owned by uid {info.st_uid}, not {owners}: chown root {entry}"
    if stat.S_ISLNK(info.st_mode):
        return None                      # its own mode bits mean nothing
    if stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX:
        return None                      # others cannot replace what we own in it
    writers = [who for bit, who in ((stat.S_IWGRP, "group"), (stat.S_IWOTH, "others"))
               if info.st_mode & bit]
    if not writers:
        return None
    flags = "".join(who[0] for who in writers)
    return f"{entry} is writable by {' and '.join(writers)}: chmod {flags}-w {entry}"

"""The daemon's durable state: who this node is, its generation and UUID.

Files in the state dir (default /var/lib/hbd), in heartbeat's own formats so an
operator recognises them:

| file | content |
|---|---|
| `node` | this node's cluster name, fixed at first start (taking over another node's hostname must never change who this node is) |
| `hb_generation` | generation: decimal, right-aligned in 15 columns plus `\\n` |
| `hb_uuid` | 16 raw bytes |

On first start, when a heartbeat state dir (/var/lib/heartbeat) holds a
generation and UUID, they are adopted: in a rolling upgrade the node keeps its
identity, and its generation only goes up, so heartbeat peers see an ordinary
restart rather than a stranger or a stale node.

Every write is atomic and durable: temporary file, fsync, rename, fsync of
the directory.
"""

from __future__ import annotations

import contextlib
import os
import uuid as uuidlib
from dataclasses import dataclass

HEARTBEAT_STATE_DIR = "/var/lib/heartbeat"


class StateError(Exception):
    pass


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` so that a crash leaves the old or the new file."""
    directory = os.path.dirname(path) or "."
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(4096)
    except FileNotFoundError:
        return None


def _parse_generation(raw: bytes | None, path: str) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw.decode("ascii").strip())
    except (UnicodeError, ValueError):
        raise StateError(f"{path}: not a generation number ({raw[:20]!r}); "
                         "remove the file to start again from the highest known") from None
    if value < 0:
        raise StateError(f"{path}: negative generation {value}")
    return value


@dataclass
class StateDir:
    path: str
    heartbeat_dir: str = HEARTBEAT_STATE_DIR

    def prepare(self) -> None:
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create state dir {self.path}: {exc.strerror}") from None

    def lock(self) -> None:
        """Hold an exclusive lock for this process's life: one hbd per state dir."""
        import fcntl
        fd = os.open(self._file("lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _read(self._file("lock")) or b"?"
            raise StateError(f"another hbd (pid {holder.decode(errors='replace').strip()}) "
                             f"runs with state dir {self.path}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    # --- node name ----------------------------------------------------------
    def node_name(self, requested: str | None, default: str) -> str:
        """The cluster name of this node: --node, else the saved one, else `default`.

        Nothing is written here: `keep_node_name()` saves it once the configuration
        has accepted it (a mistyped --node must not stick)."""
        saved = _read(self._file("node"))
        saved_name = saved.decode("utf-8", "replace").strip().lower() if saved else ""
        return (requested or saved_name or default).strip().lower()

    def keep_node_name(self, name: str) -> None:
        saved = _read(self._file("node"))
        if (saved or b"").decode("utf-8", "replace").strip().lower() != name:
            write_atomic(self._file("node"), f"{name}\n".encode())

    # --- generation -----------------------------------------------------------
    def generation(self) -> int:
        """The last saved generation (ours, else heartbeat's on this node, else 0)."""
        ours = _parse_generation(_read(self._file("hb_generation")), self._file("hb_generation"))
        if ours is not None:
            return ours
        theirs_path = os.path.join(self.heartbeat_dir, "hb_generation")
        with contextlib.suppress(StateError):
            theirs = _parse_generation(_read(theirs_path), theirs_path)
            if theirs is not None:
                return theirs
        return 0

    def save_generation(self, generation: int) -> None:
        write_atomic(self._file("hb_generation"), f"{generation:>15}\n".encode())

    # --- uuid -------------------------------------------------------------------
    def uuid(self) -> bytes:
        """This node's 16-byte UUID: ours, else heartbeat's, else a new one (saved)."""
        for directory in (self.path, self.heartbeat_dir):
            raw = _read(os.path.join(directory, "hb_uuid"))
            if raw is not None and len(raw) == 16 and raw != bytes(16):
                if directory != self.path:
                    write_atomic(self._file("hb_uuid"), raw)
                return raw
        raw = uuidlib.uuid4().bytes
        write_atomic(self._file("hb_uuid"), raw)
        return raw

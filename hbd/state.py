"""The daemon's durable state: who this node is, its generation and UUID, and the
generations its peers last announced.

Files in the state dir (default /var/lib/hbd), in heartbeat's own formats so an
operator recognises them:

| file | content |
|---|---|
| `node` | this node's cluster name, fixed at first start (taking over another node's hostname must never change who this node is) |
| `hb_generation` | generation: decimal, right-aligned in 15 columns plus `\\n` |
| `hb_uuid` | 16 raw bytes |
| `peers.json` | each peer's last generation (`{"version": 1, "peers": {"node0": 17}}`), for replay protection across restarts |

Round trip with heartbeat 3.0.6 (issue 11). On first start, when heartbeat's
state dir (/var/lib/heartbeat) holds a UUID, it is adopted with heartbeat's
generation: in a rolling upgrade the node keeps its identity and its
generation only goes up, so heartbeat peers see an ordinary restart. From then
on the two dirs are *paired* (heartbeat's `hb_uuid` is this node's UUID) and
hbd keeps heartbeat's `hb_generation` current, in heartbeat's format, each
time it saves its own: stopping hbd and starting heartbeat on the same node
is a clean rejoin (heartbeat announces the saved generation + 1, as after one
of its own restarts). A generation heartbeat saved after hbd's (a node rolled
back, then upgraded again) is taken too: the higher one wins. A heartbeat dir
with another node's UUID, or none, is never written: several hbd instances
on one host (the lab) must not share, or claim, one heartbeat identity.

Every write is checked and durable: a temporary file in the same directory,
the whole content written (a short write is an error and leaves the old file
in place), fsync, rename, fsync of the directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hbd import logs

HEARTBEAT_STATE_DIR = "/var/lib/heartbeat"
PEERS_FILE = "peers.json"
PEERS_VERSION = 1
MAX_PEERS = 256            # heartbeat allows 100 nodes (MAXNODE)
MAX_NODE_NAME = 100        # heartbeat's HOSTLENG
MAX_GENERATION = 2**64 - 1  # heartbeat's hg is an unsigned long in hex
READ_CAP = 64 * 1024       # bytes read from any state file


class StateError(Exception):
    pass


def write_atomic(path: str, data: bytes, mode: int = 0o644, *,
                 owner: tuple[int, int] | None = None) -> None:
    """Replace `path` with `data` so that a crash leaves the old or the new file.

    Raises OSError (the old file untouched, no temporary file left) when the data
    cannot all be written and synced."""
    directory = os.path.dirname(path) or "."
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(f"short write to {tmp}: {written} of {len(data)} bytes "
                              "(disk full or file size limit?)")
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)       # not the umask's choice
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
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
            return handle.read(READ_CAP)
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
    if not 0 <= value <= MAX_GENERATION:
        raise StateError(f"{path}: generation {value} out of range")
    return value


def generation_bytes(generation: int) -> bytes:
    """heartbeat's hb_generation: the number right-aligned in 15 columns, newline."""
    return f"{generation:>15}\n".encode()


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

    def _heartbeat_file(self, name: str) -> str:
        return os.path.join(self.heartbeat_dir, name)

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

    # --- heartbeat's state dir -------------------------------------------------
    def heartbeat_paired(self) -> bool:
        """True when heartbeat's state dir holds this node's UUID (adopted from it at
        first start): hbd then keeps heartbeat's generation current."""
        ours = _read(self._file("hb_uuid"))
        return ours is not None and len(ours) == 16 and \
            _read(self._heartbeat_file("hb_uuid")) == ours

    def _heartbeat_generation(self) -> int | None:
        path = self._heartbeat_file("hb_generation")
        try:
            return _parse_generation(_read(path), path)
        except (StateError, OSError):
            return None

    # --- generation -----------------------------------------------------------
    def generation(self) -> int:
        """The last saved generation: ours, or heartbeat's when it is higher and the
        dirs are paired (or ours is missing: first start); else 0."""
        ours = _parse_generation(_read(self._file("hb_generation")), self._file("hb_generation"))
        theirs = self._heartbeat_generation() if ours is None or self.heartbeat_paired() \
            else None
        return max(g for g in (ours, theirs, 0) if g is not None)

    def save_generation(self, generation: int) -> None:
        """Save ours (an OSError is the caller's: nothing may announce a generation that
        is not on disk), then heartbeat's copy when paired (a failure there is logged:
        it only matters for a later rollback)."""
        if not 0 <= generation <= MAX_GENERATION:
            raise ValueError(f"generation {generation} out of range")
        write_atomic(self._file("hb_generation"), generation_bytes(generation))
        if not self.heartbeat_paired():
            return
        path = self._heartbeat_file("hb_generation")
        try:
            write_atomic(path, generation_bytes(generation), **_same_as(path))
        except OSError as exc:
            logs.get("hbd.state").warning(
                "cannot keep heartbeat's generation current (a rollback to heartbeat "
                "would start from an older one)", path=path, reason=str(exc))

    # --- uuid -------------------------------------------------------------------
    def uuid(self) -> bytes:
        """This node's 16-byte UUID: ours, else heartbeat's (adopted: the dirs are
        paired from then on), else a new one (saved)."""
        for directory in (self.path, self.heartbeat_dir):
            raw = _read(os.path.join(directory, "hb_uuid"))
            if raw is not None and len(raw) == 16 and raw != bytes(16):
                if directory != self.path:
                    write_atomic(self._file("hb_uuid"), raw)
                return raw
        raw = uuidlib.uuid4().bytes
        write_atomic(self._file("hb_uuid"), raw)
        return raw

    # --- peers' generations --------------------------------------------------------
    def load_peer_generations(self) -> dict[str, int]:
        """Each peer's last generation as saved; {} when none was. StateError when the
        file is not one we wrote (the caller logs it and starts without)."""
        path = self._file(PEERS_FILE)
        raw = _read(path)
        if raw is None:
            return {}
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeError, ValueError):
            raise StateError(f"{path}: not JSON") from None
        if not isinstance(doc, dict) or doc.get("version") != PEERS_VERSION \
                or not isinstance(doc.get("peers"), dict):
            raise StateError(f"{path}: not a version {PEERS_VERSION} peers file")
        peers = doc["peers"]
        problem = _peers_problem(peers)
        if problem:
            raise StateError(f"{path}: {problem}")
        return dict(peers)

    def save_peer_generations(self, peers: Mapping[str, int]) -> None:
        """Replace the saved generations (durably). ValueError for what could not be
        loaded back (too many peers, a bad name or generation)."""
        problem = _peers_problem(peers)
        if problem:
            raise ValueError(problem)
        doc = {"version": PEERS_VERSION, "peers": dict(sorted(peers.items()))}
        write_atomic(self._file(PEERS_FILE), (json.dumps(doc) + "\n").encode(), mode=0o600)


def _peers_problem(peers: Mapping[Any, Any]) -> str | None:
    if len(peers) > MAX_PEERS:
        return f"{len(peers)} peers, more than {MAX_PEERS}"
    for name, generation in peers.items():
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NODE_NAME \
                or any(c.isspace() for c in name):
            return f"bad node name {name!r}"
        if type(generation) is not int or not 0 <= generation <= MAX_GENERATION:
            return f"bad generation {generation!r} for {name}"
    return None


def _same_as(path: str) -> dict[str, Any]:
    """write_atomic's mode and owner for replacing `path`: its own, if it exists."""
    try:
        st = os.stat(path)
    except OSError:
        return {}
    return {"mode": st.st_mode & 0o7777, "owner": (st.st_uid, st.st_gid)}

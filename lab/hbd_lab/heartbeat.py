"""Debian's heartbeat 3.0.6 as a lab node, next to hbd nodes (mixed clusters).

`HeartbeatDaemon(lab_node)` runs the real `heartbeat` on a `LabNode`: in the
node's network and UTS namespaces (`lab_node.ns`), plus a private mount
namespace and a private PID namespace of its own:

    nsenter --net=... --uts=... -- unshare --mount --propagation private
        --pid --fork --mount-proc -- sh -c MOUNTS <node dir> heartbeat -f

Inside, heartbeat's fixed paths point into `<node root>/heartbeat/`:

| heartbeat's path | lab node's dir | holds |
|---|---|---|
| `/etc/ha.d` | `etc-ha.d/` | ha.cf, haresources, authkeys, nodeinfo, resource.d, rc.d, ... |
| `/var/lib/heartbeat` | `lib/` | hb_generation, hb_uuid, hostcache, fifo, cores/ |
| `/run` (= `/var/run`) | `run/` | heartbeat.pid, heartbeat/ (API socket, rsctmp), lock/ |
| `/var/log` | `log/` | ha-log, ha-debug (`install()` points logfile/debugfile there) |

`console.log` next to them gets heartbeat's stdout/stderr. The node's
directories are bound relative to the shell's working directory, because
covering `/run` hides the lab's work dir (it lives under /run/hbd-lab).

The PID namespace is containment, not decoration: when a resource fails to
stop, heartbeat's `ResourceManager` runs `pkill -9 heartbeat` and then
`/sbin/reboot -nf`. In a child PID namespace with its own /proc, pkill sees
only this node's processes and reboot(2) only ends the namespace; the private
/run also hides systemd's sockets from `init 6`. `heartbeat -f` keeps the
master in the foreground as PID 1 of that namespace, so the master's exit
ends every heartbeat child and script with it, and all of them are found
from the host by their PID-namespace inode (`pids()`).

`cl_status` runs with `nsenter --target <master>` in the same mount, PID,
network and UTS namespaces, where the API socket is.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

from hbd_lab.cluster import LabNode, wait_for
from hbd_lab.procs import Daemon, descendants

HEARTBEAT_PATHS = ("/usr/libexec/heartbeat/heartbeat", "/usr/lib/heartbeat/heartbeat")
SYSTEM_HA_D = Path("/etc/ha.d")
LOG_DIRECTIVES = ("logfile", "debugfile", "logfacility", "use_logd")
LAB_LOGGING = ("logfile /var/log/ha-log", "debugfile /var/log/ha-debug", "logfacility none")
CONFIG_FILES = ("ha.cf", "haresources", "authkeys", "nodeinfo")
# $1: the node's heartbeat dir (the cwd keeps it reachable once /run is covered);
# $2: the heartbeat binary. Paths are ours; nothing else is interpolated.
_MOUNT_AND_EXEC = """set -e
cd "$1"
mount --bind etc-ha.d /etc/ha.d
mount --bind lib /var/lib/heartbeat
mount --bind run /run
mount --bind log /var/log
exec "$2" -f
"""


def find_heartbeat() -> str | None:
    """The installed heartbeat binary (Debian: /usr/libexec/heartbeat/heartbeat)."""
    return next((p for p in HEARTBEAT_PATHS if os.access(p, os.X_OK)), None)


def unavailable() -> str | None:
    """None when heartbeat 3.0.6 can run here, else why not."""
    if find_heartbeat() is None:
        return "heartbeat is not installed (apt-get install heartbeat)"
    if not shutil.which("cl_status"):
        return "cl_status is not installed (package heartbeat)"
    if not (SYSTEM_HA_D / "harc").exists():
        return "/etc/ha.d/harc is missing (package heartbeat)"
    return None


def lab_hacf(hacf: str) -> str:
    """`hacf` with its log directives replaced by files in the private /var/log."""
    kept = [line for line in hacf.splitlines()
            if (line.split("#", 1)[0].split() or [""])[0] not in LOG_DIRECTIVES]
    return "\n".join(kept + list(LAB_LOGGING)) + "\n"


class HeartbeatDaemon:
    """Debian's heartbeat on one lab node: install, start, stop, kill, ask cl_status.

    The process side (start, pids, stop, kill, freeze, thaw) is `procs.Daemon`'s:
    the process started is `unshare`, heartbeat's master its child in the new PID
    namespace, and every heartbeat process and script a descendant."""

    def __init__(self, node: LabNode) -> None:
        self.node = node
        self.base = node.root / "heartbeat"
        self.etc = self.base / "etc-ha.d"
        self.lib_dir = self.base / "lib"
        self.run_dir = self.base / "run"
        self.log_dir = self.base / "log"
        self.console_path = self.base / "console.log"
        self.daemon = Daemon(node.ns, self.argv, self.console_path)
        self._master: int | None = None

    @property
    def proc(self) -> subprocess.Popen | None:     # unshare: the namespace's parent
        return self.daemon.proc

    @property
    def starts(self) -> int:
        return self.daemon.starts

    # --- the /etc/ha.d tree -----------------------------------------------------------
    def install(self, hacf: str, haresources: str, authkeys: str,
                scripts: dict[str, str] | None = None,
                use_system_resource_d: bool = True) -> None:
        """Write the node's /etc/ha.d: a copy of Debian's (harc, shellfuncs, rc.d and,
        unless told not to, resource.d) plus these files and `scripts` in resource.d.

        ha.cf's log directives are replaced (see `lab_hacf`); nodeinfo names the node."""
        if self.etc.exists():
            shutil.rmtree(self.etc)
        ignore = None if use_system_resource_d else shutil.ignore_patterns("resource.d")
        shutil.copytree(SYSTEM_HA_D, self.etc, symlinks=True, ignore=ignore)
        for name in CONFIG_FILES:
            with contextlib.suppress(FileNotFoundError):
                (self.etc / name).unlink()
        (self.etc / "ha.cf").write_text(lab_hacf(hacf))
        (self.etc / "haresources").write_text(haresources)
        (self.etc / "nodeinfo").write_text(self.node.name + "\n")
        keys = self.etc / "authkeys"
        keys.write_text(authkeys)
        keys.chmod(0o600)
        rd = self.etc / "resource.d"
        rd.mkdir(exist_ok=True)
        for name, text in (scripts or {}).items():
            (rd / name).write_text(text)
            (rd / name).chmod(0o755)
        for d in (self.lib_dir, self.run_dir / "lock", self.run_dir / "resource-agents",
                  self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        _copy_dir_tree(Path("/var/lib/heartbeat"), self.lib_dir)   # cores/root, ccm, crm...
        _copy_dir_tree(Path("/run/heartbeat"), self.run_dir / "heartbeat")

    # --- process control ------------------------------------------------------------------
    def argv(self) -> list[str]:
        binary = find_heartbeat()
        if binary is None:
            raise RuntimeError(unavailable())
        return ["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                "--mount-proc", "--", "sh", "-c", _MOUNT_AND_EXEC, "hbd-lab-heartbeat",
                str(self.base), binary]

    def start(self, timeout: float = 15.0) -> None:
        """Start heartbeat; return once its API answers `cl_status hbstatus`.

        The API answers once communications are up: at once when the peers
        answer, else after initdead."""
        if self.running() or self.node.running():
            raise RuntimeError(f"a daemon already runs on {self.node.name}")
        if not (self.etc / "ha.cf").exists():
            raise RuntimeError(f"install() heartbeat's files on {self.node.name} first")
        self._master = None
        self.daemon.start()
        what = f"heartbeat on {self.node.name}"
        wait_for(lambda: not self.running() or self._find_master(), timeout=timeout,
                 what=f"{what} to exec")
        wait_for(lambda: not self.running() or self.cl_status("hbstatus").returncode == 0,
                 timeout=timeout, what=f"{what} to answer cl_status")
        if not self.running():
            raise RuntimeError(f"{what} exited at start (code {self.daemon.returncode}):\n"
                               f"{self.console_text()[-2000:]}\n{self.log_text()[-2000:]}")

    def _find_master(self) -> int | None:
        """PID (host's view) of heartbeat's master: unshare's child, once it execs."""
        unshare = self.daemon.pid()
        own = _pidns_of(os.getpid())
        for child in descendants(unshare) if unshare else ():
            ns = _pidns_of(child)
            if ns and ns != own and _exe(child) == find_heartbeat():
                self._master = child
                return child
        return None

    def running(self) -> bool:
        return self.daemon.running()

    def master_pid(self) -> int | None:
        return self._master if self.running() else None

    def pids(self) -> list[int]:
        """Every process of this heartbeat (unshare, master, children, the scripts
        they run); the master first. Empty once it is gone."""
        found = self.daemon.pids()
        return sorted(found, key=lambda pid: (pid != self._master, pid))

    def stop(self, timeout: float = 30) -> int | None:
        """heartbeat's own graceful stop, SIGTERM to the master (what `heartbeat -k`
        sends): it releases its groups, sends shutdone and exits. Returns its exit
        code; on timeout it is killed and TimeoutExpired raised."""
        if not self.running():
            return self.daemon.returncode
        self.thaw()
        with contextlib.suppress(ProcessLookupError, TypeError):
            os.kill(self._master, signal.SIGTERM)  # type: ignore[arg-type]  # TypeError: gone
        try:
            return self.daemon.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL every process of this heartbeat: a crash; what it holds stays held."""
        self.daemon.kill()

    def freeze(self, timeout: float = 5.0) -> None:
        """SIGSTOP all its processes (a hung daemon) until none is left running."""
        if not self.daemon.freeze(timeout):
            raise TimeoutError(f"heartbeat on {self.node.name} did not stop")

    def thaw(self) -> None:
        self.daemon.thaw()

    # --- asking it ----------------------------------------------------------------------
    def cl_status(self, *args: str, timeout: float = 10.0) -> subprocess.CompletedProcess:
        """`cl_status ARGS` in heartbeat's namespaces (its API socket is in its /run)."""
        master = self.master_pid()
        if master is None:
            return subprocess.CompletedProcess(["cl_status", *args], 1, "",
                                               "heartbeat is not running\n")
        argv = ["nsenter", f"--target={master}", "--mount", "--pid", "--net", "--uts",
                "--", "cl_status", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    def node_status(self, name: str) -> str | None:
        """`cl_status nodestatus NAME`: active, up, init, dead, ping (None: no answer)."""
        return self.cl_status("nodestatus", name).stdout.strip() or None

    def rscstatus(self) -> str | None:
        """`cl_status rscstatus`: none, local, foreign, all or transition."""
        proc = self.cl_status("rscstatus")
        return proc.stdout.strip() if proc.returncode == 0 else None

    def log_text(self) -> str:
        return _read(self.log_dir / "ha-log")

    def debug_text(self) -> str:
        return _read(self.log_dir / "ha-debug")

    def console_text(self) -> str:
        return _read(self.console_path)


# --- helpers ---------------------------------------------------------------------------------
def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _pidns_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _exe(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _copy_dir_tree(source: Path, target: Path) -> None:
    """Recreate `source`'s directories (no files) under `target`, modes and owners kept."""
    target.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        return
    for top, _dirs, _files in os.walk(source):
        dest = target / Path(top).relative_to(source)
        dest.mkdir(exist_ok=True)
        st = os.stat(top)
        os.chmod(dest, st.st_mode & 0o7777)
        os.chown(dest, st.st_uid, st.st_gid)

"""CTS's remote shell: run a command on a lab node, as `ssh -l root NODE CMD` would.

    python -m hbd_lab.cts.remote [--nowait] NODE 'COMMAND'
    python -m hbd_lab.cts.remote --copy [USER@NODE:]SOURCE [USER@NODE:]TARGET

The command runs with `sh -c` in the node's network and UTS namespaces (the
lab node's "machine"), with the lab's shims first on PATH (`bin/`: the
node's daemon control `hbd-cts-node`, `killall`, `logger`) and
HBD_CTS_NODE / HBD_CTS_SYSLOG / HBD_CTS_CONFIG set. `--nowait` is
`ssh -f`: started in a session of its own, not waited for. `--copy` is scp:
lab nodes share the test host's file system, so it is a local copy.

The run's settings come from the JSON file named by HBD_CTS_CONFIG
(written by `run.py`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from hbd_lab import netns

BIN = Path(__file__).resolve().parent / "bin"


def config() -> dict:
    with open(os.environ["HBD_CTS_CONFIG"], encoding="utf-8") as handle:
        return json.load(handle)


def node_env(cfg: dict, node: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PATH=f"{BIN}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}",
               HBD_CTS_NODE=node, HBD_CTS_SYSLOG=cfg["syslog"][node],
               HBD_CTS_PYTHON=cfg["python"])
    return env


def main(argv: list[str]) -> int:
    if argv[:1] == ["--copy"]:
        source, target = (arg.split(":", 1)[1] if ":" in arg else arg for arg in argv[-2:])
        shutil.copy(source, target)
        return 0
    nowait = argv[:1] == ["--nowait"]
    node, command = argv[-2:] if nowait else argv[:2]
    cfg = config()
    if node not in cfg["nodes"]:
        print(f"{node}: not a node of this lab", file=sys.stderr)
        return 255
    wrapped = netns.Node(f"{cfg['prefix']}-{node}").argv(["sh", "-c", command])
    if nowait:
        subprocess.Popen(wrapped, env=node_env(cfg, node), start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        return 0
    return subprocess.run(wrapped, env=node_env(cfg, node), stdin=subprocess.DEVNULL,
                          check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

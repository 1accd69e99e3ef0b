"""`hbctl`: talk to a running hbd (status, nodes, resources, standby, takeover).

The control socket and the daemon arrive with the daemon issue; until then only
`hbctl check-config` works (it is `hbd check-config`), and every daemon verb
answers as `cl_status` does when no daemon runs: exit 3.
"""

from __future__ import annotations

import argparse
import sys

DAEMON_VERBS = ("status", "nodes", "resources", "standby", "takeover")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hbctl", description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", default="/run/hbd")
    parser.add_argument("verb", choices=(*DAEMON_VERBS, "check-config"))
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.verb == "check-config":
        from hbd.main import main as hbd_main
        return hbd_main(["check-config", *args.rest])
    print(f"hbctl: hbd is not running (no control socket in {args.run_dir})", file=sys.stderr)
    return 3


if __name__ == "__main__":
    raise SystemExit(main())

"""Run resource operations through ScriptRunner, from inside a network namespace.

    script_driver.py [--resource-d DIR] [--timeout S] [--env KEY=VALUE]... SPEC OP [OP...]

SPEC is a haresources word (`heartbeat:IPaddr::192.168.32.21/24/eth0`); each OP
(start, status, stop) runs in turn, one JSON object per line on stdout:
{"op": ..., "ok": ..., "rc": ..., "detail": ...}. The test runs this with
`node.run()`, so that the scripts see the namespace's interfaces while pytest
itself stays in the host's namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from hbd.config.agents import AgentDirs  # noqa: E402
from hbd.config.haresources import parse_resource  # noqa: E402
from hbd.core.events import ResourceOpKind  # noqa: E402
from hbd.resources.script import ScriptRunner  # noqa: E402


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resource-d", default="/etc/ha.d/resource.d")
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("spec")
    parser.add_argument("ops", nargs="+", choices=[kind.value for kind in ResourceOpKind])
    args = parser.parse_args(argv)
    resource, problem = parse_resource(args.spec)
    if resource is None:
        print(problem, file=sys.stderr)
        return 2
    env = dict(item.split("=", 1) for item in args.env)
    runner = ScriptRunner(AgentDirs(args.resource_d), timeout=args.timeout, env=env)
    try:
        for op in args.ops:
            result = await runner.run(resource, ResourceOpKind(op), instance="driver:0")
            print(json.dumps({"op": op, "ok": result.ok, "rc": result.rc,
                              "detail": result.detail}), flush=True)
    finally:
        await runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))

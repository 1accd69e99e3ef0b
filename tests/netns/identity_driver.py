"""Runs hbd's `Identity` (or an ARP listener) inside a node's namespaces, for the tests.

The pytest process stays in the host's namespaces; the tests start this script
with `Node.run()` / `Node.popen()`, so netlink, AF_PACKET and sethostname all act
inside the node.

    identity_driver.py run STATE_DIR [--garp-count N] [--garp-interval S] [--mac-link-down]
                                     [--fsize-limit BYTES]
        reads a JSON list of commands on stdin and prints one JSON line per command:
        {"op": "start"|"stop"|"status", "spec": "IPaddr::...", "group": G (optional)}
            -> {"ok", "detail"}
        {"op": "start_block"|"stop_block"|"status_block", "specs": [...], "group": G}
            -> {"ok", "detail"}  (one move, `Identity.start_block` ...)
        {"op": "execute", "kind": "start"|"stop"|"status", "specs": [...], "group": G}
            -> {"ok", "detail"}  (a `RunResourceOp` through `Executor.perform`)
        {"op": "probe", "spec": "IPaddr::...", "wait": S} -> {"answered", "mac", "error"}
        {"op": "recover"} -> {"lines", "ok"};  {"op": "journaled"} -> {"specs"}
        {"op": "reannounce", "specs": [...]} -> {"ok": true}
        {"op": "hold"} -> {"held": true}, then waits to be killed (a crash, for the tests)

    identity_driver.py listen-arp IFACE IP MAC TIMEOUT [--any-form]
        prints {"ready": true} once listening, then {"arp": {...}, "forms": [request,
        reply]} and exits 0 once both forms of gratuitous ARP announcing IP at MAC were
        heard (each with the frame's Ethernet source, "source_mac"), or one with
        --any-form; exits 1 after TIMEOUT seconds.

    identity_driver.py probe IFACE IP WAIT
        one RFC 5227 ARP probe; prints {"answered", "mac", "error"}.

    identity_driver.py watch-carrier IFACE...
        prints {"iface", "carrier"} for each report of `CarrierWatch` (the initial
        state first), then {"ready": true}, then each change, until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource as resource_limits
import select
import signal
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hbd.config.haresources import parse_resource  # noqa: E402
from hbd.core.actions import RunResourceOp  # noqa: E402
from hbd.core.events import ResourceOpKind  # noqa: E402
from hbd.resources.arp_probe import probe  # noqa: E402
from hbd.resources.carrier import CarrierWatch  # noqa: E402
from hbd.resources.executor import Executor  # noqa: E402
from hbd.resources.garp import ETH_P_ARP, parse_arp  # noqa: E402
from hbd.resources.identity import Identity  # noqa: E402
from hbd.resources.outcome import OpResult  # noqa: E402


class NoScripts:
    """The executor's script side: an identity test runs no scripts."""

    async def run(self, resource, op, *, instance: str = "") -> OpResult:
        return OpResult(False, f"{resource.spec}: not an identity resource")


def emit(payload: dict) -> None:
    print(json.dumps(payload), flush=True)


def resource(spec: str):
    found, problem = parse_resource(spec)
    if found is None:
        raise SystemExit(f"bad spec {spec}: {problem}")
    return found


async def perform(identity: Identity, command: dict) -> None:
    op = command["op"]
    if op in ("start", "stop", "status"):
        result = await getattr(identity, op)(resource(command["spec"]),
                                             group=command.get("group", ""))
        emit({"op": op, "spec": command["spec"], "ok": result.ok, "detail": result.detail})
    elif op in ("start_block", "stop_block", "status_block"):
        result = await getattr(identity, op)([resource(s) for s in command["specs"]],
                                             group=command.get("group", ""))
        emit({"op": op, "ok": result.ok, "detail": result.detail})
    elif op == "execute":
        executor = Executor(identity, NoScripts(), on_finished=lambda event: None)
        specs = command["specs"]
        action = RunResourceOp(1, command.get("group", ""), tuple(resource(s) for s in specs),
                               ResourceOpKind(command["kind"]), tuple(range(len(specs))))
        result = await executor.perform(action)
        emit({"op": op, "ok": result.ok, "detail": result.detail})
    elif op == "probe":
        result = await identity.probe(resource(command["spec"]), command.get("wait", 0.005))
        emit({"op": op, "answered": result.answered, "mac": result.mac, "error": result.error})
    elif op == "recover":
        recovery = await identity.recover()
        emit({"op": op, "lines": list(recovery.lines), "ok": recovery.ok})
    elif op == "journaled":
        emit({"op": op, "specs": identity.journaled()})
    elif op == "reannounce":
        await identity.reannounce([resource(s) for s in command["specs"]])
        emit({"op": op, "ok": True})
    elif op == "hold":
        emit({"held": True})
        await asyncio.Event().wait()
    else:
        raise SystemExit(f"unknown op {op}")


async def run(args: argparse.Namespace) -> None:
    commands = json.loads(sys.stdin.read())
    identity = Identity(args.state_dir, garp_count=args.garp_count,
                        garp_interval=args.garp_interval, mac_link_down=args.mac_link_down)
    try:
        for command in commands:
            await perform(identity, command)
    finally:
        await identity.close()


def listen_arp(args: argparse.Namespace) -> int:
    """Exit 0 once both forms (request and reply) announcing IP at MAC were heard."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as sock:
        sock.bind((args.iface, ETH_P_ARP))
        emit({"ready": True})
        deadline = time.monotonic() + args.timeout
        heard: dict[int, dict] = {}
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            arp = parse_arp(sock.recv(2048))
            if arp and arp.gratuitous and arp.sender_ip == args.ip \
                    and arp.sender_mac == args.mac.lower():
                heard[arp.op] = {"op": arp.op, "sender_mac": arp.sender_mac,
                                 "sender_ip": arp.sender_ip, "source_mac": arp.source_mac}
                if len(heard) == 2 or args.any_form:
                    emit({"arp": heard[arp.op], "forms": list(heard.values())})
                    return 0
    return 1


def probe_once(args: argparse.Namespace) -> int:
    result = asyncio.run(probe(args.ip, args.iface, args.wait))
    emit({"answered": result.answered, "mac": result.mac, "error": result.error})
    return 0


async def watch(ifaces: list[str]) -> None:
    """Print each carrier report as a JSON line until killed."""
    watcher = CarrierWatch(ifaces, lambda name, up: emit({"iface": name, "carrier": up}))
    await watcher.start()
    emit({"ready": True})
    await asyncio.Event().wait()


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    runner = sub.add_parser("run")
    runner.add_argument("state_dir")
    runner.add_argument("--garp-count", type=int, default=3)
    runner.add_argument("--garp-interval", type=float, default=0.05)
    runner.add_argument("--mac-link-down", action="store_true")
    runner.add_argument("--fsize-limit", type=int, help="RLIMIT_FSIZE: journal writes past "
                        "it are short (a full disk, for the tests)")
    listener = sub.add_parser("listen-arp")
    for name in ("iface", "ip", "mac"):
        listener.add_argument(name)
    listener.add_argument("timeout", type=float)
    listener.add_argument("--any-form", action="store_true",
                          help="one form is enough (the kernel's arp_notify sends requests only)")
    prober = sub.add_parser("probe")
    for name in ("iface", "ip"):
        prober.add_argument(name)
    prober.add_argument("wait", type=float)
    watcher = sub.add_parser("watch-carrier")
    watcher.add_argument("ifaces", nargs="+")
    args = parser.parse_args()
    if args.mode == "listen-arp":
        return listen_arp(args)
    if args.mode == "probe":
        return probe_once(args)
    if args.mode == "watch-carrier":
        asyncio.run(watch(args.ifaces))
        return 0
    if args.fsize_limit:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource_limits.setrlimit(resource_limits.RLIMIT_FSIZE,
                                  (args.fsize_limit, args.fsize_limit))
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

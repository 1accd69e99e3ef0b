"""The lab's service and its client: who answers on a VIP, every 10 ms.

`serve` runs on every node (in its network and UTS namespaces), standing for
the scenario's httpd/tomcat: it answers each UDP probe with the node's current
hostname (`nodevir` after a takeover), the MAC of eth0 and the lab node name.
`watch` runs in the client namespace: every `interval` it sends one probe to
each target and writes one JSON line per probe when it is answered or has
timed out:

    {"t": 12.340, "target": "192.168.32.21", "ok": true, "node": "node1",
     "host": "nodevir", "mac": "00:1e:68:1e:99:5e", "rtt": 0.0004}

`t` is the send time on CLOCK_MONOTONIC (system-wide, so the drill runner can
compare it with its own `time.monotonic()`).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import select
import signal
import socket
import struct
import sys
import time

PORT = 7777
SIOCGIFHWADDR = 0x8927


def iface_mac(ifname: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            raw = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR,
                              struct.pack("256s", ifname.encode()[:15]))
        except OSError:
            return ""
    return ":".join(f"{b:02x}" for b in raw[18:24])


def serve(node: str, port: int, ifname: str) -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        data, source = sock.recvfrom(512)
        try:
            request = json.loads(data)
        except ValueError:
            continue
        reply = {"seq": request.get("seq"), "target": request.get("target"), "node": node,
                 "host": socket.gethostname(), "mac": iface_mac(ifname)}
        try:
            sock.sendto(json.dumps(reply).encode(), source)
        except OSError:
            pass


class Watcher:
    def __init__(self, targets: list[str], port: int, interval: float, timeout: float,
                 out) -> None:
        self.targets = targets
        self.port = port
        self.interval = interval
        self.timeout = timeout
        self.out = out
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.pending: dict[int, tuple[str, float]] = {}
        self.seq = 0

    def emit(self, record: dict) -> None:
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()

    def send_round(self, now: float) -> None:
        for target in self.targets:
            self.seq += 1
            self.pending[self.seq] = (target, now)
            try:
                self.sock.sendto(json.dumps({"seq": self.seq, "target": target}).encode(),
                                 (target, self.port))
            except OSError:
                pass   # no route yet / unreachable: it times out like a lost probe

    def receive(self) -> None:
        while True:
            try:
                data = self.sock.recv(1024)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue   # ICMP errors reported on the socket
            now = time.monotonic()
            try:
                reply = json.loads(data)
                target, sent = self.pending.pop(int(reply["seq"]))
            except (ValueError, KeyError, TypeError):
                continue
            self.emit({"t": round(sent, 6), "target": target, "ok": True,
                       "node": reply.get("node"), "host": reply.get("host"),
                       "mac": reply.get("mac"), "rtt": round(now - sent, 6)})

    def expire(self, now: float) -> None:
        for seq, (target, sent) in list(self.pending.items()):
            if now - sent > self.timeout:
                del self.pending[seq]
                self.emit({"t": round(sent, 6), "target": target, "ok": False})

    def run(self, duration: float | None) -> None:
        start = time.monotonic()
        next_at = start
        while duration is None or time.monotonic() - start < duration:
            now = time.monotonic()
            if now >= next_at:
                self.send_round(now)
                next_at += self.interval
                if next_at < now:            # we fell behind: do not burst
                    next_at = now + self.interval
            wait = max(0.0, min(next_at - time.monotonic(), self.interval))
            ready, _, _ = select.select([self.sock], [], [], wait)
            if ready:
                self.receive()
            self.expire(time.monotonic())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hbd_lab.probe")
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--node", required=True)
    s.add_argument("--port", type=int, default=PORT)
    s.add_argument("--iface", default="eth0")
    w = sub.add_parser("watch")
    w.add_argument("--target", action="append", required=True)
    w.add_argument("--port", type=int, default=PORT)
    w.add_argument("--interval", type=float, default=0.01)
    w.add_argument("--timeout", type=float, default=0.25)
    w.add_argument("--duration", type=float)
    w.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.mode == "serve":
        return serve(args.node, args.port, args.iface)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(args.out, "a", encoding="utf-8") as out:
        Watcher(args.target, args.port, args.interval, args.timeout, out).run(args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

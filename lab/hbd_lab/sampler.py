"""Who holds each VIP, sampled on every node every 10 ms (`ip -j addr`, without the forks).

    python -m hbd_lab.sampler --node node0=/run/netns/X-node0 ... \\
        --vip 192.168.32.21 --vip 192.168.32.22 --out FILE [--interval 0.01] [--duration 600]

One process on the host opens a NETLINK_ROUTE socket inside each node's
network namespace (setns(2) while it creates it, then back), and every
`interval` dumps the IPv4 addresses of all nodes (RTM_GETADDR, what `ip -j
-4 addr` shows) one after the other: one sample is the three dumps, ~1 ms
apart. It writes one JSON line per change of the holders, and one at the end:

    {"t": 12.34, "n": 5, "holders": {"192.168.32.21": ["node0"], "192.168.32.22": ["node2"]}}
    {"t": 20.00, "n": 801, "end": true}

`t` is the sample's start on CLOCK_MONOTONIC (as the probe's), `n` the
sample's index, so a state lasted from its line's `n` to the next line's.
Bounded: it stops after `--duration` seconds (default 600) or on SIGTERM. The
records are read by `holders.py`.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import socket
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
NETLINK_ROUTE = 0
RTM_NEWADDR, RTM_GETADDR = 20, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFA_ADDRESS, IFA_LOCAL = 1, 2
_HDR = struct.Struct("=IHHII")          # nlmsghdr
_IFA = struct.Struct("=BBBBI")          # ifaddrmsg
_RTA = struct.Struct("=HH")             # rtattr


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def socket_in(netns_path: str) -> socket.socket:
    """A NETLINK_ROUTE socket that lives in the network namespace at `netns_path`."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(netns_path, os.O_RDONLY)
    try:
        _setns(target)
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)
    sock.bind((0, 0))
    return sock


def parse_addresses(data: bytes) -> tuple[set[str], bool]:
    """IPv4 addresses in a chunk of RTM_NEWADDR messages; and whether it ended the dump."""
    found: set[str] = set()
    offset = 0
    while offset + _HDR.size <= len(data):
        length, kind, _flags, _seq, _pid = _HDR.unpack_from(data, offset)
        if length < _HDR.size:
            return found, True
        if kind in (NLMSG_DONE, NLMSG_ERROR):
            return found, True
        if kind == RTM_NEWADDR:
            family = data[offset + _HDR.size]
            attr = offset + _HDR.size + _IFA.size
            end = offset + length
            while family == socket.AF_INET and attr + _RTA.size <= end:
                alen, atype = _RTA.unpack_from(data, attr)
                if alen < _RTA.size:
                    break
                if atype in (IFA_LOCAL, IFA_ADDRESS) and alen == _RTA.size + 4:
                    found.add(socket.inet_ntoa(data[attr + 4:attr + 8]))
                attr += (alen + 3) & ~3
        offset += (length + 3) & ~3
    return found, False


def dump(sock: socket.socket, seq: int) -> set[str]:
    """Every IPv4 address in the socket's namespace (one RTM_GETADDR dump)."""
    body = _IFA.pack(socket.AF_INET, 0, 0, 0, 0)
    sock.send(_HDR.pack(_HDR.size + len(body), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP,
                        seq, 0) + body)
    found: set[str] = set()
    for _ in range(64):                  # a dump of a lab node is one or two chunks
        chunk, done = parse_addresses(sock.recv(65536))
        found |= chunk
        if done:
            break
    return found


class Sampler:
    def __init__(self, nodes: dict[str, str], vips: list[str], out) -> None:
        self.sockets = {name: socket_in(path) for name, path in nodes.items()}
        self.vips = vips
        self.out = out
        self.seq = 0
        self.samples = 0

    def sample(self) -> dict[str, list[str]]:
        holders: dict[str, list[str]] = {vip: [] for vip in self.vips}
        for name, sock in self.sockets.items():
            self.seq += 1
            try:
                addresses = dump(sock, self.seq)
            except OSError:
                continue
            for vip in self.vips:
                if vip in addresses:
                    holders[vip].append(name)
        return holders

    def run(self, interval: float, duration: float) -> None:
        start = time.monotonic()
        last = None
        next_at = start
        stop = False

        def finish(*_):
            nonlocal stop
            stop = True
        signal.signal(signal.SIGTERM, finish)
        while not stop and time.monotonic() - start < duration:
            now = time.monotonic()
            holders = self.sample()
            if holders != last:
                self.emit({"t": round(now, 6), "n": self.samples, "holders": holders})
                last = holders
            self.samples += 1
            next_at = max(next_at + interval, time.monotonic())
            time.sleep(max(0.0, next_at - time.monotonic()))
        self.emit({"t": round(time.monotonic(), 6), "n": self.samples, "end": True})

    def emit(self, record: dict) -> None:
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hbd_lab.sampler")
    parser.add_argument("--node", action="append", required=True, metavar="NAME=NETNS_PATH")
    parser.add_argument("--vip", action="append", required=True)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    nodes = dict(item.split("=", 1) for item in args.node)
    try:
        with open(args.out, "a", encoding="utf-8") as out:
            Sampler(nodes, args.vip, out).run(args.interval, min(args.duration, 3600.0))
    except OSError as exc:
        print(f"sampler: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

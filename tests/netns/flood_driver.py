"""The attacker on the heartbeat LAN, for tests/netns/test_flood.py and bench/flood.py.

    flood_driver.py --target 10.160.100.31 --spoof 10.160.100.30 --rate 20000
                    --seconds 60 --kind replay|wrongkey [--port 694]

Runs inside its own namespace of the lab (the test starts it there): every
datagram goes to `--target`, an address inside the lab, from a raw socket
that writes `--spoof` as the IPv4 source (the peer the target already knows,
so that nothing is dropped for its address alone). Kinds:

* `replay` — first listens for up to 5 s on the heartbeat port and keeps up
  to 64 datagrams broadcast by `--spoof`, then replays them in turn (valid
  authenticators: the costliest kind per datagram, see bench/fuzz.py);
* `wrongkey` — 1.4 KB netstring statuses signed with a guessed key;
* `oldreplay` — what replaying a capture longer than hbd's memory of recent
  datagrams costs: 20,000 distinct statuses of node0's previous generation,
  signed with the lab's key (`--key`), as an old capture would hold.

Paced in ticks of 2 ms; stops after rate x seconds datagrams or seconds + 5 s,
whichever comes first. Prints one JSON line: sent, elapsed, captured.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from hbd.config.model import AuthKeys
from hbd.wire import Message, encode, preauth

TICK = 0.002


def capture(port: int, spoof: str, seconds: float, limit: int = 64) -> list[bytes]:
    found: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("", port))
        deadline = time.monotonic() + seconds
        while len(found) < limit and (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, (source, _) = sock.recvfrom(65535)
            except TimeoutError:
                break
            if source == spoof:
                found.append(data)
    return found


def wrong_key(count: int) -> list[bytes]:
    keys = AuthKeys.single("sha1", "a-guessed-key")
    return [encode(Message.of(("t", "status"), ("st", "active"), ("src", "node0"),
                              ("seq", f"{n + 1:x}"), ("hg", "6b06eaf6"), ("pad", "x" * 1000)), keys)
            for n in range(count)]


def old_statuses(port: int, spoof: str, key: str, count: int = 20000) -> list[bytes]:
    """Distinct, validly signed statuses of `spoof`'s node from the generation before its own."""
    keys = AuthKeys.single("sha1", key, index=3)          # the lab's authkeys: auth 3
    heard = capture(port, spoof, 5.0, limit=1)
    found = preauth.screen(heard[0], keys) if heard else None
    if not isinstance(found, preauth.Screened) or found.generation is None:
        return []
    return [encode(Message.of(("t", "status"), ("st", "active"), ("dt", "3e8"),
                              ("src", found.source or "node0"), ("seq", f"{n + 1:x}"),
                              ("hg", f"{found.generation - 1:x}"), ("ts", "6b06eb40")), keys)
            for n in range(count)]


def packet(spoof: str, target: str, port: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", port, port, 8 + len(payload), 0)      # checksum 0: none (IPv4)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(payload), 0, 0, 64,
                     socket.IPPROTO_UDP, 0, socket.inet_aton(spoof), socket.inet_aton(target))
    return ip + udp + payload


def flood(packets: list[bytes], target: str, rate: int, seconds: float) -> tuple[int, float]:
    total = int(rate * seconds)
    per_tick = max(1, round(rate * TICK))
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
        start = time.monotonic()
        deadline = start + seconds + 5.0
        tick = 0
        while sent < total and time.monotonic() < deadline:
            for _ in range(min(per_tick, total - sent)):
                try:
                    raw.sendto(packets[sent % len(packets)], (target, 0))
                except OSError:                       # ENOBUFS under load: try again next tick
                    break
                sent += 1
            tick += 1
            pause = start + tick * TICK - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        return sent, time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--spoof", required=True)
    parser.add_argument("--port", type=int, default=694)
    parser.add_argument("--rate", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--kind", choices=("replay", "wrongkey", "oldreplay"), default="replay")
    parser.add_argument("--key", default="hbd-lab-demo-key", help="the lab's sha1 key (oldreplay)")
    args = parser.parse_args()
    if args.kind == "replay":
        payloads = capture(args.port, args.spoof, 5.0)
    elif args.kind == "oldreplay":
        payloads = old_statuses(args.port, args.spoof, args.key)
    else:
        payloads = wrong_key(64)
    if not payloads:
        print(json.dumps({"error": f"nothing captured from {args.spoof}"}), flush=True)
        return 2
    print(json.dumps({"event": "flooding", "captured": len(payloads)}), flush=True)
    packets = [packet(args.spoof, args.target, args.port, p) for p in payloads]
    sent, elapsed = flood(packets, args.target, args.rate, args.seconds)
    print(json.dumps({"event": "done", "sent": sent, "elapsed": round(elapsed, 3),
                      "captured": len(payloads)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

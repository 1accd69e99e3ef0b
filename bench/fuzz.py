"""What one datagram can cost hbd, by kind: decode alone, and the whole receive path.

    python bench/fuzz.py [--total 1000000] [--seed 1] [--quick]

Builds, for each kind below, a set of distinct datagrams (valid ones with
increasing seq, hostile ones varied at random) and times every one of them
through two paths, printing median, 99th percentile and worst microseconds
per datagram, and how many each path accepted:

* `decode`  — `hbd.wire.decode()` alone (authentication before framing,
              then framing, values, inflation);
* `receive` — what the daemon does with a datagram read from a heartbeat
              socket: the size cap, admission (source, buckets,
              authentication over raw bytes, freshness: transport/admission.py)
              and, for admitted ones, decode and `process(message)`. The
              source is a peer the link already knows (an attacker spoofing a
              peer's address: the worst case), except for the kind
              "unknown source".

`process` is where the core goes: set `PROCESS` to a function taking the
decoded `Message` (e.g. feeding `Cluster.handle(PacketReceived(msg, "eth2"))`)
and every accepted datagram of the receive path goes through it.

At least `--total` datagrams go through decode (the expensive kinds, which
only a key holder — or anyone, with crc — can send, are run fewer times).
The worst figure includes what the process met on its way (garbage
collection, the other processes of a shared machine); the median and p99 are
the steady cost. Timings are `time.perf_counter_ns` around each call.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hbd.config.model import AuthMethod as AuthMethod
from hbd.config.model import AuthKey, AuthKeys
from hbd.transport.admission import LinkGate, Policy, SourceRule, Verdict, judge
from hbd.transport.ifaddrs import ip_to_int
from hbd.transport.media import MAX_UDP_PAYLOAD
from hbd.wire import Accepted, Field, FieldType, Message, decode, encode, preauth, seal
from hbd.wire.codec import sign_body
from hbd.wire.netstring import netstring, serialize


def process(message: Message) -> None:
    """The core goes here (see the module docstring)."""


PROCESS: Callable[[Message], None] = process

SHA1 = AuthKeys.single("sha1", "bench-cluster-key")
WRONG = AuthKeys.single("sha1", "a-guessed-key")
SHA256 = AuthKeys(1, (AuthKey(1, AuthMethod.SHA256, b"bench-cluster-key"),))  # type: ignore[arg-type]
AEAD = AuthKeys(1, (AuthKey(1, AuthMethod.CHACHA20POLY1305, b"bench-cluster-key"),))  # type: ignore[arg-type]
AEAD_WRONG = AuthKeys(1, (AuthKey(1, AuthMethod.CHACHA20POLY1305, b"guessed"),))  # type: ignore[arg-type]
CRC = AuthKeys.single("crc")
NET = (ip_to_int("10.160.100.0") or 0, 0xFFFFFF00)
ME, PEER, STRANGER = (ip_to_int(f"10.160.100.{n}") or 0 for n in (31, 30, 66))
UUID = bytes.fromhex("64541cabb3154c2baa0cbc041883541c")


def status(seq: int, pad: int = 0) -> Message:
    msg = Message.of(("t", "status"), ("st", "active"), ("dt", "3e8"), ("protocol", "1"),
                     ("src", "node0"), ("srcuuid", UUID), ("seq", f"{seq:x}"), ("hg", "6b06eaf6"),
                     ("ts", "6b06eb40"), ("ld", "0.00 0.04 0.00 1/98 11722"), ("ttl", "4"),
                     ("hbd_hold", "IPaddr::192.168.32.21/24/eth0"), ("hbd_ping", "1"))
    return msg.with_field("pad", "x" * pad) if pad else msg


def padded_fields(seq: int, count: int) -> Message:
    return status(seq).with_fields((f"f{i}", "x") for i in range(count))


@dataclass
class Kind:
    name: str
    keys: AuthKeys                       # the receiver's authkeys
    make: Callable[[int, random.Random], bytes]
    weight: float = 1.0                  # share of --total
    cap: int | None = None               # at most this many (expensive kinds)
    source: int = PEER
    prime: bytes | None = None           # admitted first (e.g. a newer datagram)


def sealed(keys: AuthKeys, session: bytes) -> seal.SessionKeys:
    return seal.SessionKeys.of(keys, seal.Sealer(session))


def signed_body(keys: AuthKeys, seq: int, tail: bytes) -> bytes:
    """A netstring datagram: a status header with `seq`, then `tail` (prebuilt items)."""
    head = b"".join(netstring(b"(0)%s=%s" % (n, v)) for n, v in (
        (b"t", b"status"), (b"src", b"node0"), (b"seq", b"%x" % seq), (b"hg", b"6b06eaf6")))
    return sign_body(b"###\n" + head + tail + b"%%%\n", keys)


def kinds() -> list[Kind]:
    aead_sender = sealed(AEAD, bytes(16))
    wrong_sealer = sealed(AEAD_WRONG, bytes(range(16)))
    replay = encode(status(1), SHA1)
    bomb = zlib.compress(b"###\n" + b"9" * (48 << 20) + b"%%%\n", 9)
    bomb_tail = (netstring(b"(0)_compression_algorithm=zlib") + netstring(b"(4)b=" + bomb))
    fields_tail = b"".join(netstring(b"(0)f%d=x" % i) for i in range(4000))
    deep = Message.of(t="leaf")
    for _ in range(15):
        deep = Message((Field("s", deep, FieldType.STRUCT),))
    deep_tail = b"".join(netstring(b"(2)d=" + serialize(deep)) for _ in range(1))

    def fuzz(seq: int, rng: random.Random) -> bytes:
        data = bytearray(encode(status(seq), SHA1))
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)

    def garbage(_: int, rng: random.Random) -> bytes:
        head = rng.choice([b"###\n", b">>>\n", seal.MAGIC, b""])
        return head + rng.randbytes(rng.randint(0, 1400))

    def classic_1400(seq: int, _: random.Random) -> bytes:
        text = encode(padded_fields(seq, 300), WRONG, fmt="classic")
        return text[:1380].rsplit(b"\n", 1)[0] + b"\nauth=1 " + b"0" * 40 + b"\n<<<\n"

    return [
        Kind("valid status, sha1 (3.0.6 form)", SHA1, lambda s, r: encode(status(s), SHA1)),
        Kind("valid status, sha1, classic", SHA1,
             lambda s, r: encode(status(s), SHA1, fmt="classic")),
        Kind("valid status, sha256 (hbd)", SHA256, lambda s, r: encode(status(s), SHA256)),
        Kind("valid status, chacha20poly1305", AEAD, lambda s, r: encode(status(s), aead_sender)),
        Kind("replayed valid status", SHA1, lambda s, r: replay),
        Kind("replayed old statuses (all distinct)", SHA1, lambda s, r: encode(status(s), SHA1),
             prime=encode(status(10**7), SHA1)),
        Kind("wrong key, status 0.4 KB", SHA1, lambda s, r: encode(status(s), WRONG)),
        Kind("wrong key, classic 1.4 KB", SHA1, classic_1400),
        Kind("wrong key, netstring 1.4 KB", SHA1, lambda s, r: encode(status(s, pad=900), WRONG)),
        Kind("wrong key, netstring 64 KB", SHA1, lambda s, r: signed_body(WRONG, s, netstring(
            b"(0)pad=" + b"x" * 64_500)), weight=0.3),
        Kind("wrong key, sealed 1.4 KB", AEAD, lambda s, r: encode(status(s, pad=900), wrong_sealer)),
        Kind("wrong key, zlib bomb 48 MiB", SHA1, lambda s, r: signed_body(WRONG, s, bomb_tail),
             weight=0.3),
        Kind("fuzzed status (bytes flipped)", SHA1, fuzz),
        Kind("garbage 0-1.4 KB", SHA1, garbage),
        Kind("netstring without trailer", SHA1, lambda s, r: encode(status(s, pad=900), SHA1)
             .rsplit(b"%%%\n", 1)[0] + b"%%%\n"),
        Kind("classic, 600 CR/LF lines", SHA1,
             lambda s, r: b">>>\n" + b"a=b\r\n" * 600 + b"auth=1 00\n<<<\n"),
        Kind("oversize 70 KB", SHA1, lambda s, r: b"###\n" + b"x" * 70_000, weight=0.3),
        Kind("unknown source, wrong key", SHA1, lambda s, r: encode(status(s), WRONG),
             source=STRANGER),
        Kind("crc-signed zlib bomb (2 MiB cap)", CRC, lambda s, r: signed_body(CRC, s, bomb_tail),
             cap=500),
        Kind("crc-signed 4,000 fields", CRC, lambda s, r: signed_body(CRC, s, fields_tail), cap=300),
        Kind("crc-signed depth 16", CRC, lambda s, r: signed_body(CRC, s, deep_tail), cap=5000),
    ]


def gate_for(kind: Kind) -> LinkGate:
    gate = LinkGate("eth2", SourceRule(frozenset({ME}), networks=(NET,)), Policy())
    gate.known.put(PEER, True)
    if kind.prime is not None:
        assert receive(gate, kind.keys, kind.prime, PEER, 0.0)
    return gate


def receive(gate: LinkGate, keys: AuthKeys, data: bytes, ip: int, now: float) -> bool:
    """Media's receive path without the socket: size cap, admission, decode, the core."""
    if len(data) > MAX_UDP_PAYLOAD:
        return False
    verdict, _ = judge(gate, lambda raw: preauth.screen(raw, keys), data, ip, now)
    if verdict is not Verdict.ADMITTED:
        return False
    result = decode(data, keys)
    if isinstance(result, Accepted):
        PROCESS(result.message)
        return True
    return False


def timed(call: Callable[[bytes], bool], datagrams: list[bytes]) -> tuple[list[int], int]:
    costs, accepted = [], 0
    clock = time.perf_counter_ns
    for data in datagrams:
        start = clock()
        ok = call(data)
        costs.append(clock() - start)
        accepted += ok
    return costs, accepted


def summary(costs: list[int]) -> tuple[float, float, float]:
    ordered = sorted(costs)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) / 1e3, p99 / 1e3, ordered[-1] / 1e3


def run(kind: Kind, count: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    datagrams = [kind.make(i + 1, rng) for i in range(count)]
    decode_costs, decoded = timed(lambda d: isinstance(decode(d, kind.keys), Accepted), datagrams)
    gate = gate_for(kind)
    clock = iter(range(10**9))
    receive_costs, received = timed(
        lambda d: receive(gate, kind.keys, d, kind.source, next(clock) * 1e-4), datagrams)
    return {"name": kind.name, "count": count, "size": max(len(d) for d in datagrams),
                "decode": summary(decode_costs), "decoded": decoded,
                "receive": summary(receive_costs), "received": received}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=1_000_000,
                        help="datagrams through decode, over all kinds (default 10^6)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default="", help="run the kinds whose name contains this")
    args = parser.parse_args()
    table = [k for k in kinds() if args.only in k.name]
    capped = sum(k.cap for k in table if k.cap)
    weights = sum(k.weight for k in table if not k.cap)
    print(f"{'kind':<34} {'n':>7} {'bytes':>6} | {'decode µs: median':>17} {'p99':>8} "
          f"{'worst':>8} {'ok':>7} | {'receive µs: median':>18} {'p99':>8} {'worst':>8} {'ok':>7}")
    total = 0
    started = time.perf_counter()
    for index, kind in enumerate(table):
        count = kind.cap or max(1, int((args.total - capped) * kind.weight / weights) + 1)
        r = run(kind, count, args.seed + index)
        total += count
        d, v = r["decode"], r["receive"]
        print(f"{kind.name:<34} {count:>7} {r['size']:>6} | {d[0]:>17.1f} {d[1]:>8.1f} "
              f"{d[2]:>8.0f} {r['decoded']:>7} | {v[0]:>18.1f} {v[1]:>8.1f} {v[2]:>8.0f} "
              f"{r['received']:>7}", flush=True)
    print(f"\n{total} datagrams through decode and through the receive path "
          f"in {time.perf_counter() - started:.0f} s (Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()

"""Run a Media or a Pinger inside a namespace for tests/netns/test_media.py.

    media_driver.py media --port 694 --medium "bcast eth2" [--medium ...]
    media_driver.py ping --interval 0.1 --address 10.77.0.254 [--address ...]

It prints JSON lines on stdout: {"event": "ready"} once open (or
{"event": "error", "message": ...} and exit 2), then one line per datagram
({"event": "datagram", "payload", "medium", "source"}) or echo reply
({"event": "reply", "address"}). It reads commands on stdin, one per line:
`send TEXT` (Media only), `counters`, `quit`. It quits on `quit`, at end of
input, or after --lifetime seconds, printing its counters last. Logs go to
stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import structlog

from hbd.config.model import Bcast, Mcast, Medium, Ucast
from hbd.transport.media import Media, MediaError
from hbd.transport.ping import Pinger


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def parse_medium(text: str) -> Medium:
    kind, iface, *rest = text.split()
    if kind == "bcast":
        return Bcast(iface)
    if kind == "ucast":
        return Ucast(iface, rest[0])
    group, port, ttl, loop = rest
    return Mcast(iface, group, int(port), int(ttl), loop == "1")


async def commands(lifetime: float):
    """Lines from stdin until `quit`, end of input or the lifetime runs out."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    deadline = loop.time() + lifetime
    while (left := deadline - loop.time()) > 0:
        try:
            line = await asyncio.wait_for(reader.readline(), left)
        except TimeoutError:
            return
        if not line or line.strip() == b"quit":
            return
        yield line.decode().rstrip("\n")


def make(args) -> Media | Pinger:
    if args.mode == "media":
        return Media([parse_medium(m) for m in args.medium], port=args.port,
                     on_datagram=lambda data, medium, source: emit(
                         "datagram", payload=data.decode(errors="replace"),
                         medium=medium, source=list(source)))
    return Pinger(args.address, interval=args.interval,
                  on_reply=lambda address: emit("reply", address=address))


async def main(args) -> int:
    endpoint = make(args)
    try:
        await endpoint.open()
    except MediaError as exc:
        emit("error", message=str(exc))
        return 2
    emit("ready")
    try:
        async for line in commands(args.lifetime):
            verb, _, rest = line.partition(" ")
            if verb == "send" and isinstance(endpoint, Media):
                endpoint.send(rest.encode())
                emit("sent", payload=rest)
            elif verb == "counters":
                emit("counters", counters=endpoint.counters())
    finally:
        await endpoint.close()
        emit("counters", counters=endpoint.counters())
    return 0


def parse_args(argv: list[str]):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("media", "ping"))
    parser.add_argument("--medium", action="append", default=[])
    parser.add_argument("--port", type=int, default=694)
    parser.add_argument("--address", action="append", default=[])
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--lifetime", type=float, default=20.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))

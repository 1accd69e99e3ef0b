"""`hbd decode`: dissect heartbeat datagrams from raw payload files or packet captures.

    hbd decode --authkeys FILE [--json] [--port N] PATH...

Each PATH is either one raw UDP payload (a `.bin` vector) or a capture file
(pcap or pcapng, recognised by its magic number, read with dpkt). From a
capture it takes every UDP datagram (IPv4 fragments are reassembled), and
also ICMP echo request/reply payloads that hold a heartbeat message, because
heartbeat's `ping` medium carries its messages inside ICMP echo; those lines
say `icmp-echo`.

Every datagram is verified with `hbd.wire.decode()` against the authkeys
file, exactly as the daemon would. One line per message; with `--json`, one
JSON object per line with `file`, `index`, `verdict` (`ok` | `rejected`),
`reason`/`detail` for rejections, and `fields` (name -> string; binary values
in base64; structs as objects; lists as arrays) for accepted ones. For a
rejected datagram the fields shown are UNAUTHENTICATED (`unauthenticated`).

The authkeys file is parsed with the config layer's parser
(`hbd.config.authkeys.parse_authkeys`) but, unlike the daemon's loader, its
mode and owner are not checked: an operator dissecting a capture is not
running a node.

Exit status: 0 every message verified; 1 some message was rejected; 2 usage
error (unreadable file or authkeys, corrupt capture), reported without a
traceback.
"""

from __future__ import annotations

import argparse
import base64
import io
import ipaddress
import json
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import dpkt

from hbd.config.authkeys import parse_authkeys
from hbd.config.model import AuthKeys, Severity
from hbd.wire import Accepted, FieldType, Message, Rejected, decode, inspect

PCAP_MAGICS = {b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1"}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
HEARTBEAT_MAGICS = (b"###\n", b">>>\n", b"@@@\n")   # netstring, classic, hbd sealed
# IPv4 fragments waiting for their siblings: (src, dst, id, proto) -> [(offset, bytes, more)]
Fragments = dict[tuple[bytes, bytes, int, int], list[tuple[int, bytes, bool]]]


class UsageError(Exception):
    """A problem with the command line or its files: exit 2, one clean line."""


@dataclass(frozen=True)
class Datagram:
    file: str
    index: int
    payload: bytes
    medium: str = "raw"               # raw | udp | icmp-echo
    timestamp: float | None = None
    source: str | None = None
    target: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--authkeys", required=True, metavar="FILE",
                        help="authkeys file to verify with (mode 0600 not required)")
    parser.add_argument("--json", action="store_true", help="one JSON object per message")
    parser.add_argument("--port", type=int, default=None,
                        help="only UDP datagrams to or from this port (default: all)")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="raw UDP payload file, or pcap/pcapng capture")


def run(args: argparse.Namespace) -> int:
    try:
        authkeys = load_authkeys(Path(args.authkeys))
    except UsageError as exc:
        print(f"hbd decode: {exc}", file=sys.stderr)
        return 2
    status = 0
    for path in args.paths:
        try:
            datagrams = read_datagrams(Path(path), port=args.port)
        except UsageError as exc:
            print(f"hbd decode: {exc}", file=sys.stderr)
            status = 2
            continue
        if not datagrams:
            print(f"hbd decode: {path}: no datagrams", file=sys.stderr)
        origin = datagrams[0].timestamp if datagrams else None
        for dgram in datagrams:
            record = describe(dgram, decode(dgram.payload, authkeys), origin)
            print(json.dumps(record) if args.json else render(record))
            if record["verdict"] != "ok" and status == 0:
                status = 1
    return status


# --- authkeys -------------------------------------------------------------------

def load_authkeys(path: Path) -> AuthKeys:
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise UsageError(f"cannot read authkeys {path}: {exc.strerror or exc}") from None
    keys, problems = parse_authkeys(text, str(path))
    errors = [str(p) for p in problems if p.severity is Severity.ERROR]
    if keys is None or errors:
        raise UsageError("; ".join(errors) or f"{path}: no usable key")
    return keys




# --- input files ----------------------------------------------------------------

def read_datagrams(path: Path, *, port: int | None = None) -> list[Datagram]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    magic = data[:4]
    if magic in PCAP_MAGICS or magic == PCAPNG_MAGIC:
        try:
            return list(_from_capture(path, data, port))
        except (dpkt.Error, ValueError, struct.error) as exc:
            raise UsageError(f"{path}: corrupt capture ({exc})") from None
    return [Datagram(file=str(path), index=0, payload=data)]


def _from_capture(path: Path, data: bytes, port: int | None) -> Iterator[Datagram]:
    stream = io.BytesIO(data)
    reader = dpkt.pcapng.Reader(stream) if data[:4] == PCAPNG_MAGIC else dpkt.pcap.Reader(stream)
    link = _link_decoder(reader.datalink(), path)
    fragments: Fragments = {}
    index = 0
    for timestamp, frame in reader:
        ip = _ip_layer(link, frame)
        if ip is None:
            continue
        for medium, source, target, payload in _transport(ip, fragments, port):
            yield Datagram(str(path), index, payload, medium, float(timestamp), source, target)
            index += 1


def _link_decoder(datalink: int, path: Path) -> Any:
    decoders = {dpkt.pcap.DLT_EN10MB: dpkt.ethernet.Ethernet, 113: dpkt.sll.SLL,
                276: dpkt.sll2.SLL2, dpkt.pcap.DLT_RAW: None, 12: None, 14: None}
    if datalink not in decoders:
        raise UsageError(f"{path}: unsupported link type {datalink}")
    return decoders[datalink]


def _ip_layer(link: Any, frame: bytes) -> Any:
    try:
        packet = link(frame).data if link is not None else _raw_ip(frame)
    except (dpkt.Error, ValueError):
        return None
    return packet if isinstance(packet, (dpkt.ip.IP, dpkt.ip6.IP6)) else None


def _raw_ip(frame: bytes) -> Any:
    return dpkt.ip6.IP6(frame) if frame[:1] and frame[0] >> 4 == 6 else dpkt.ip.IP(frame)


def _transport(ip: Any, fragments: Fragments, port: int | None) -> Iterator[tuple[str, str, str, bytes]]:
    """(medium, source, target, payload) for the UDP / ICMP echo content of one packet."""
    src, dst = _address(ip, "src"), _address(ip, "dst")
    proto = ip.p if isinstance(ip, dpkt.ip.IP) else ip.nxt
    if isinstance(ip, dpkt.ip.IP) and (ip.mf or ip.offset):
        whole = _reassemble(ip, fragments)
        if whole is None:
            return
        inner: Any = {17: dpkt.udp.UDP, 1: dpkt.icmp.ICMP}.get(proto, bytes)(whole)
    else:
        inner = ip.data
    if isinstance(inner, dpkt.udp.UDP):
        if port is None or port in (inner.sport, inner.dport):
            yield "udp", f"{src}:{inner.sport}", f"{dst}:{inner.dport}", bytes(inner.data)[:max(inner.ulen - 8, 0)]
    elif isinstance(inner, (dpkt.icmp.ICMP, dpkt.icmp6.ICMP6)):
        echo = inner.data
        payload = bytes(getattr(echo, "data", b""))
        if payload.startswith(HEARTBEAT_MAGICS):
            yield "icmp-echo", src, dst, payload


def _address(ip: Any, which: str) -> str:
    return str(ipaddress.ip_address(getattr(ip, which)))


def _reassemble(ip: Any, fragments: Fragments) -> bytes | None:
    """Collect IPv4 fragments; return the whole payload once all have arrived."""
    key = (ip.src, ip.dst, ip.id, ip.p)
    raw = ip.data if isinstance(ip.data, bytes) else bytes(ip.data)
    parts = fragments.setdefault(key, [])
    parts.append((ip.offset * 8, raw, bool(ip.mf)))
    parts.sort(key=lambda part: part[0])
    whole = b""
    for offset, chunk, _more in parts:
        if offset > len(whole):
            return None
        whole = whole[:offset] + chunk
    if parts[-1][2]:
        return None
    del fragments[key]
    return whole


# --- output ----------------------------------------------------------------------

def describe(dgram: Datagram, result: Accepted | Rejected, origin: float | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "file": dgram.file, "index": dgram.index, "medium": dgram.medium,
        "timestamp": dgram.timestamp,
        "time": None if dgram.timestamp is None or origin is None else round(dgram.timestamp - origin, 6),
        "source": dgram.source, "target": dgram.target, "length": len(dgram.payload),
    }
    if isinstance(result, Accepted):
        record.update(verdict="ok", encoding=result.encoding.value, authnum=result.authnum,
                      compression=result.compression, fields=fields_json(result.message))
        return record
    record.update(verdict="rejected", reason=result.reason.value, detail=result.detail)
    seen = inspect(dgram.payload)
    if not isinstance(seen, Rejected):
        record["encoding"] = seen.encoding.value
        record["unauthenticated"] = fields_json(seen.wire)
    return record


def fields_json(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in message.fields:
        out.setdefault(field.name, _value_json(field.type, field.value))
    return out


def _value_json(ftype: FieldType, value: Any) -> Any:
    if isinstance(value, Message):
        return fields_json(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple):
        return list(value)
    return value


def render(record: dict[str, Any]) -> str:
    where = f"{record['file']}#{record['index']}"
    if record["time"] is not None:
        where += f" +{record['time']:.6f}"
    if record["source"]:
        where += f" {record['medium']} {record['source']} > {record['target']}"
    fields = record.get("fields") or record.get("unauthenticated") or {}
    summary = " ".join(f"{name}={_short(fields.get(name))}" for name in ("src", "t", "seq"))
    if record["verdict"] == "ok":
        extra = f" {record['compression']}" if record.get("compression") else ""
        return f"{where} {summary} ok ({record['encoding']}, auth {record['authnum']}{extra})"
    note = " [fields unauthenticated]" if "unauthenticated" in record else ""
    return f"{where} {summary} REJECTED {record['reason']}: {record['detail']}{note}"


def _short(value: Any) -> str:
    return "-" if value is None else str(value)[:40]

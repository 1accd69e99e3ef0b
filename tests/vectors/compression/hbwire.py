#!/usr/bin/env python3
"""Small, independent reader for heartbeat 3.0.6 wire messages, used to build
and check the compression vectors (extract.py).  Written from the spec
(spec/heartbeat-wire.md) and the observations in README.md; stdlib only.

Deliberately independent of `hbd.wire`: it is the oracle that built and
checked the vectors the codec is tested against, so it must not share the
codec's code. It runs only at capture time; no test imports it.

Public helpers:
  read_pcap_udp(path)      -> [(ts, src_ip, dst_ip, payload)] (IPv4 reassembled)
  parse_netstring(buf)     -> (fields, body_len, trailer_or_None)
  parse_classic(buf)       -> fields
  decompress(alg, data)    -> bytes   (alg: "zlib" | "bz2")
  auth_hex(method, key, data)
  inner_auth_text(fields)  -> bytes   (classic text the inner auth= covers)
  decode_value(...)        -> recursive decoding of struct / compressed fields

A field is [type, name, value]; value is bytes for types 0/1/4, a list of
fields for types 2/5 (nested message), a list of bytes for type 3.
"""
import base64
import bz2
import hashlib
import hmac
import struct
import zlib

# ------------------------------------------------------------------ pcap


def read_pcap_udp(path, port=694):
    """UDP datagrams to/from `port` in a little-endian Ethernet pcap,
    with IPv4 fragments reassembled."""
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic != 0xA1B2C3D4:
        raise ValueError("only little-endian usec pcap supported")
    linktype = struct.unpack("<I", data[20:24])[0]
    if linktype != 1:
        raise ValueError("only Ethernet pcap supported")
    off = 24
    frags = {}
    out = []
    while off + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack("<IIII", data[off:off + 16])
        off += 16
        pkt = data[off:off + incl]
        off += incl
        ts = sec + usec / 1e6
        if len(pkt) < 14 or pkt[12:14] != b"\x08\x00":
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 0x0F) * 4
        tot = struct.unpack(">H", ip[2:4])[0]
        ident = struct.unpack(">H", ip[4:6])[0]
        fl = struct.unpack(">H", ip[6:8])[0]
        proto = ip[9]
        src = ".".join(map(str, ip[12:16]))
        dst = ".".join(map(str, ip[16:20]))
        payload = ip[ihl:tot]
        mf = bool(fl & 0x2000)
        foff = (fl & 0x1FFF) * 8
        if mf or foff:
            key = (src, dst, ident, proto)
            ent = frags.setdefault(key, {"parts": {}, "total": None, "ts": ts})
            ent["parts"][foff] = payload
            if not mf:
                ent["total"] = foff + len(payload)
            if ent["total"] is None:
                continue
            buf = bytearray()
            for o in sorted(ent["parts"]):
                if o != len(buf):
                    break
                buf += ent["parts"][o]
            if len(buf) != ent["total"]:
                continue
            del frags[key]
            payload = bytes(buf)
            ts = ent["ts"]
        if proto != 17:
            continue
        sport, dport, ulen = struct.unpack(">HHH", payload[:6])
        if port not in (sport, dport):
            continue
        out.append((ts, src, dst, payload[8:ulen]))
    return out


# ------------------------------------------------------------------ formats

NS_START = b"###\n"
NS_END = b"%%%\n"
CL_START = b">>>\n"
CL_END = b"<<<\n"


def _read_netstring(buf, pos):
    colon = buf.index(b":", pos)
    n = int(buf[pos:colon].decode("ascii"))
    start = colon + 1
    end = start + n
    if buf[end:end + 1] != b",":
        raise ValueError("netstring at %d not terminated by ','" % pos)
    return buf[start:end], end + 1


def parse_netstring_msg(buf, pos=0):
    """Parse '###\\n' items '%%%\\n' starting at pos.
    Returns (fields, end_pos) where end_pos is just past '%%%\\n'."""
    if buf[pos:pos + 4] != NS_START:
        raise ValueError("no ###")
    pos += 4
    fields = []
    while buf[pos:pos + 4] != NS_END:
        item, pos = _read_netstring(buf, pos)
        if not (item[:1] == b"(" and item[2:3] == b")" and item[1:2].isdigit()):
            raise ValueError("item without (type) prefix: %r" % item[:20])
        typ = int(item[1:2])
        eq = item.index(b"=", 3)
        name = item[3:eq].decode()
        value = item[eq + 1:]
        fields.append([typ, name, value])
    return fields, pos + 4


def parse_netstring(buf):
    """Top-level datagram: (fields, body_len, trailer str or None)."""
    fields, end = parse_netstring_msg(buf, 0)
    trailer = None
    if end < len(buf):
        tok, after = _read_netstring(buf, end)
        trailer = tok.decode()
        if after != len(buf):
            raise ValueError("junk after trailer")
    return fields, end, trailer


def parse_classic(buf, depth=0):
    """Classic '>>>' text. Returns fields (types from the '(n)' prefix)."""
    if not buf.startswith(CL_START):
        raise ValueError("no >>>")
    body = buf[4:]
    end = body.find(CL_END)
    if end < 0:
        raise ValueError("no <<<")
    fields = []
    for line in body[:end].split(b"\n"):
        if not line:
            continue
        typ = 0
        if line[:1] == b"(" and line[2:3] == b")":
            typ = int(line[1:2])
            line = line[3:]
        name, _, value = line.partition(b"=")
        if typ == 0:
            value = value.replace(b"\x13", b"\n")
        elif typ in (1, 4):
            value = base64.b64decode(value)
        fields.append([typ, name.decode(), value])
    return fields


def decompress(alg, data):
    if alg == "zlib":
        return zlib.decompress(data)
    if alg == "bz2":
        return bz2.decompress(data)
    raise ValueError("unknown compression algorithm %r" % alg)


def parse_any(buf):
    """Parse a (decompressed) serialised message, netstring or classic.
    Returns (format, fields)."""
    if buf.startswith(NS_START):
        fields, end = parse_netstring_msg(buf, 0)
        return "netstring", fields
    if buf.startswith(CL_START):
        return "classic", parse_classic(buf)
    raise ValueError("unknown inner format %r" % buf[:8])


# ------------------------------------------------------------------ auth

def _crc_table():
    t = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7) if c & 0x80000000 else (c << 1)
        t.append(c & 0xFFFFFFFF)
    return t


_T = _crc_table()


def crc_cksum(data):
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _T[((crc >> 24) ^ b) & 0xFF]
    return "%x" % (~crc & 0xFFFFFFFF)


def auth_hex(method, key, data):
    if method == "crc":
        return crc_cksum(data)
    if method == "md5":
        return hmac.new(key.encode(), data, hashlib.md5).hexdigest()
    if method == "sha1":
        return hmac.new(key.encode(), data, hashlib.sha1).hexdigest()
    raise ValueError(method)


def inner_auth_text(fields):
    """Classic text (no markers) of all fields except 'auth' (spec 4.2).
    Only types 0 and 1 are supported (enough for these vectors)."""
    out = b""
    for typ, name, value in fields:
        if name == "auth":
            continue
        if typ == 0:
            v = value.replace(b"\n", b"\x13")
        elif typ in (1, 4):
            v = base64.b64encode(value)
        else:
            raise ValueError("inner auth over type %d not supported" % typ)
        out += (b"(%d)" % typ if typ else b"") + name.encode() + b"=" + v + b"\n"
    return out


# ------------------------------------------------------------------ json

def to_json_fields(fields):
    """[type,name,value] with str values: text for 0, hex for 1/4,
    nested list for 2/5, list of str for 3."""
    out = []
    for typ, name, value in fields:
        if typ == 0:
            out.append([0, name, value.decode("latin-1")])
        elif typ in (1, 4):
            out.append([typ, name, value.hex()])
        elif typ in (2, 5):
            out.append([typ, name, to_json_fields(value) if isinstance(value, list) else value.hex()])
        else:
            out.append([typ, name, value.hex() if isinstance(value, bytes) else value])
    return out

#!/usr/bin/env python3
"""Build tests/vectors/compression/{*.bin,*.pcap,manifest.json} from the raw
captures written by capture.sh, and check every vector.

  extract.py [PCAPDIR]     default PCAPDIR=/tmp/hbdcap/pcap
  extract.py --check       only re-verify manifest.json against the .bin files

Not run by CI.  stdlib only (plus tcpdump/editcap for trimming the pcaps).
"""
import hashlib
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hbwire  # noqa: E402

KEYS = {"crc": "", "md5": "hbA-md5-key-1", "sha1": "hbA-sha1-key-1"}


# ---------------------------------------------------------------- decoding

def decode_nested(fields):
    """Recursively parse struct-typed (2, 5) values that hold a nested
    netstring message."""
    out = []
    for typ, name, value in fields:
        if typ in (2, 5) and isinstance(value, bytes) and value.startswith(b"###\n"):
            inner, end = hbwire.parse_netstring_msg(value, 0)
            if end != len(value):
                raise ValueError("junk after nested message %s" % name)
            value = decode_nested(inner)
        out.append([typ, name, value])
    return out


def analyse(buf, method):
    """Everything the manifest says about one datagram."""
    key = KEYS[method]
    info = {"length": len(buf)}
    fields, body_len, trailer = hbwire.parse_netstring(buf)
    info["netstring_body_len"] = body_len
    info["trailer"] = trailer
    info["trailer_valid"] = None
    if trailer is not None:
        n, _, tok = trailer.partition(" ")
        info["authnum"] = int(n)
        info["trailer_valid"] = (tok == hbwire.auth_hex(method, key, buf[:body_len]))
    fd = {n: (t, v) for t, n, v in fields}
    info["inner_auth"] = fd["auth"][1].decode() if "auth" in fd else None
    info["inner_auth_valid"] = None
    if "auth" in fd:
        _n, _, tok = info["inner_auth"].partition(" ")
        info["inner_auth_valid"] = (tok == hbwire.auth_hex(method, key, hbwire.inner_auth_text(fields)))
    info["fields_raw"] = decode_nested(fields)
    # ---- compression
    alg = fd.get("_compression_algorithm", (0, None))[1]
    info["compression_algorithm"] = alg.decode() if alg else None
    if "_compressed_payload" in fd:
        info["compression_mode"] = "whole-message"
        raw = hbwire.decompress(info["compression_algorithm"], fd["_compressed_payload"][1])
        fmt, inner = hbwire.parse_any(raw)
        info["decompressed_format"] = fmt
        info["decompressed_len"] = len(raw)
        info["decompressed_nul_terminated"] = raw.endswith(b"\x00")
        info["decompressed_sha256"] = hashlib.sha256(raw).hexdigest()
        info["decompressed_fields_raw"] = decode_nested(inner)
        ifd = {n: v for t, n, v in inner}
        info["decompressed_inner_auth"] = ifd["auth"].decode() if "auth" in ifd else None
        info["decompressed_inner_auth_valid"] = None
        if "auth" in ifd:
            tok = ifd["auth"].decode().partition(" ")[2]
            info["decompressed_inner_auth_valid"] = (
                tok == hbwire.auth_hex(method, key, hbwire.inner_auth_text(inner)))
        info["compressed_field"] = "_compressed_payload"
    elif any(t == 4 for t, n, v in fields):
        info["compression_mode"] = "field"
        logical = []
        for t, n, v in fields:
            if t == 4:
                raw = hbwire.decompress(info["compression_algorithm"], v)
                fmt, inner = hbwire.parse_any(raw)
                info["compressed_field"] = n
                info["decompressed_format"] = fmt
                info["decompressed_len"] = len(raw)
                info["decompressed_nul_terminated"] = raw.endswith(b"\x00")
                info["decompressed_sha256"] = hashlib.sha256(raw).hexdigest()
                logical.append([2, n, decode_nested(inner)])
            else:
                logical.append([t, n, v])
        info["decompressed_fields_raw"] = decode_nested(logical)
    else:
        info["compression_mode"] = None
    return info


def field(fields, name):
    for _t, n, v in fields:
        if n == name:
            return v
    return None


# ---------------------------------------------------------------- selection
# (vector file, pcap scenario, auth, predicate on (fields), kind, note)

def is_whole(f):
    return field(f, "_compressed_payload") is not None


def has_type(f, typ):
    return any(t == typ for t, n, v in f)


def t_is(f, value):
    return field(f, "t") == value


SELECT = [
    ("trad-zlib-crc.bin", "trad-zlib-crc", "crc", is_whole, 0,
     "traditional_compression yes, compression zlib: whole message (classic t=hbdcap-big, ~8 KiB) compressed into _compressed_payload",
     ""),
    ("trad-below-threshold-crc.bin", "trad-zlib-crc", "crc", lambda f: t_is(f, b"hbdcap-big") and not is_whole(f), 0,
     "CONTROL: same cluster (traditional_compression yes, threshold 1 KiB) but a small message: sent uncompressed",
     "below compression_threshold"),
    ("trad-zlib-sha1.bin", "trad-zlib-sha1", "sha1", is_whole, 0,
     "traditional_compression yes, zlib, sha1: whole message (classic inner) compressed",
     ""),
    ("trad-zlib-sha1-inner-netstring.bin", "trad-zlib-sha1", "sha1", is_whole, 1,
     "traditional_compression yes, zlib, sha1: a message with a type-5 (FT_UNCOMPRESS) struct field; whole message compressed, inner serialisation is NETSTRING (forced by the struct field) and still contains the (5) field uncompressed",
     "type 5 is never seen on the wire outside such a payload"),
    ("trad-bz2-sha1.bin", "trad-bz2-sha1", "sha1", is_whole, 0,
     "traditional_compression yes, compression bz2: whole message compressed with bzip2 (stream header BZh1)",
     ""),
    ("trad-zlib-msgfmt-netstring-sha1.bin", "trad-zlib-msgfmt-netstring-sha1", "sha1", is_whole, 0,
     "traditional_compression yes + msgfmt netstring: whole message compressed, inner serialisation is netstring without auth field/trailer",
     ""),
    ("field-zlib-sha1.bin", "field-zlib-sha1", "sha1", lambda f: has_type(f, 4), 0,
     "traditional_compression no (default), zlib: struct field 'payload' sent as a type-4 compressed field; _compression_algorithm appended to the message",
     "the compressed bytes hold the CLASSIC text of the nested message, NUL-terminated"),
    ("field-zlib-crc.bin", "field-zlib-crc", "crc", lambda f: has_type(f, 4), 0,
     "traditional_compression no, zlib, crc: type-4 compressed field",
     ""),
    ("field-bz2-sha1.bin", "field-bz2-sha1", "sha1", lambda f: has_type(f, 4), 0,
     "traditional_compression no, bz2: type-4 compressed field (bzip2)",
     ""),
    ("field-zlib-msgfmt-netstring-sha1.bin", "field-zlib-msgfmt-netstring-sha1", "sha1", lambda f: has_type(f, 4), 0,
     "traditional_compression no + msgfmt netstring: type-4 field whose compressed bytes hold the NETSTRING form of the nested message",
     ""),
    ("struct-uncompressed-sha1.bin", "field-zlib-sha1", "sha1", lambda f: has_type(f, 2), 0,
     "CONTROL: plain type-2 struct field (~8.6 KiB) in the default mode: NOT compressed (datagram 9 KiB, IP-fragmented)",
     "no _compression_algorithm, no inner auth field"),
    ("big-uncompressed-default-sha1.bin", "field-zlib-sha1", "sha1", lambda f: t_is(f, b"hbdcap-big"), 0,
     "CONTROL: ~8 KiB classic message in the default mode (traditional_compression no, threshold 2 KiB): NOT compressed",
     "compression_threshold only matters with traditional_compression yes"),
    ("huge-zlib-crc.bin", "huge-zlib-crc", "crc", is_whole, 0,
     "default mode (traditional_compression no), message >= 256 KiB (MAXMSG): whole message compressed anyway",
     ""),
]

PCAPS = [
    ("trad-zlib-crc", "traditional_compression yes, zlib, crc: start-up, one ~8 KiB message (compressed), one small message (not)"),
    ("trad-zlib-sha1", "traditional_compression yes, zlib, sha1: ~8 KiB classic message and a message with a type-5 struct field, both compressed whole"),
    ("trad-bz2-sha1", "traditional_compression yes, bz2, sha1"),
    ("trad-zlib-msgfmt-netstring-sha1", "traditional_compression yes + msgfmt netstring, zlib, sha1"),
    ("field-zlib-sha1", "traditional_compression no, zlib, sha1: type-4 field; then an uncompressed type-2 struct (fragmented); then an uncompressed ~8 KiB classic message (fragmented)"),
    ("field-zlib-crc", "traditional_compression no, zlib, crc: type-4 field"),
    ("field-bz2-sha1", "traditional_compression no, bz2, sha1: type-4 field"),
    ("field-zlib-msgfmt-netstring-sha1", "traditional_compression no + msgfmt netstring, zlib, sha1: type-4 field with netstring inside"),
    ("huge-zlib-crc", "traditional_compression no, zlib, crc: a 300 KiB message, compressed whole because it is over MAXMSG"),
]


def entry(fname, buf, method, info, kind, note, captured_in, expect):
    f = info["fields_raw"]
    e = {
        "file": fname,
        "format": "netstring",
        "auth_method": method,
        "auth_key": KEYS[method],
        "authnum": info.get("authnum", 1),
        "sender": (field(f, "src") or b"node0").decode() if field(f, "src") else "node0",
        "type": (field(f, "t") or b"").decode() or None,
        "expect": expect,
        "length": len(buf),
        "netstring_body_len": info["netstring_body_len"],
        "trailer": info["trailer"],
        "inner_auth": info["inner_auth"],
        "inner_auth_valid": info["inner_auth_valid"],
        "trailer_valid": info["trailer_valid"],
        "fields": hbwire.to_json_fields(f),
        "sha256": hashlib.sha256(buf).hexdigest(),
        "kind": kind,
        "note": note,
        "captured_in": captured_in,
    }
    if info["compression_mode"]:
        e["compression_mode"] = info["compression_mode"]
        e["compression_algorithm"] = info["compression_algorithm"]
        e["compressed_field"] = info["compressed_field"]
        e["decompressed_format"] = info["decompressed_format"]
        e["decompressed_len"] = info["decompressed_len"]
        e["decompressed_nul_terminated"] = info["decompressed_nul_terminated"]
        e["decompressed_sha256"] = info["decompressed_sha256"]
        dfields = hbwire.to_json_fields(info["decompressed_fields_raw"])
        if info["decompressed_len"] > 64 * 1024:
            # keep the manifest small: drop the bulk text fields d0000.. (their
            # values are mkmsg.py's deterministic text; decompressed_sha256
            # still pins the exact bytes)
            bulk = [f for f in dfields if re.fullmatch(r"d\d{3,}", f[1])]
            dfields = [f for f in dfields if not re.fullmatch(r"d\d{3,}", f[1])]
            e["decompressed_fields_elided"] = {
                "count": len(bulk), "names": "%s..%s" % (bulk[0][1], bulk[-1][1]),
                "value_length": 200,
                "note": "text fields omitted from decompressed_fields; they sit between hbdcap_kb and src; values as made by mkmsg.py"}
        e["decompressed_fields"] = dfields
        if info["compression_mode"] == "whole-message":
            e["decompressed_inner_auth"] = info["decompressed_inner_auth"]
            e["decompressed_inner_auth_valid"] = info["decompressed_inner_auth_valid"]
            d = info["decompressed_fields_raw"]
            if e["type"] is None and field(d, "t"):
                e["type"] = field(d, "t").decode()
            if field(d, "src"):
                e["sender"] = field(d, "src").decode()
    return e


def flip(buf, pos):
    b = bytearray(buf)
    b[pos] ^= 0x01
    return bytes(b)


def retrail(buf, method):
    """Recompute the trailer over the (modified) body."""
    fields, body_len, trailer = hbwire.parse_netstring(buf)
    n = trailer.partition(" ")[0]
    tok = ("%s %s" % (n, hbwire.auth_hex(method, KEYS[method], buf[:body_len]))).encode()
    return buf[:body_len] + str(len(tok)).encode() + b":" + tok + b","


def value_offset(buf, name):
    """Offset of the first byte of field `name`'s value in a datagram."""
    marker = (")%s=" % name).encode()
    return buf.index(marker) + len(marker)


def build(pcapdir):
    manifest = []
    pk_cache = {}
    for fname, scen, method, pred, nth, kind, note in SELECT:
        path = os.path.join(pcapdir, scen + ".pcap")
        if not os.path.exists(path):
            print("SKIP (no capture)", fname)
            continue
        if scen not in pk_cache:
            pk_cache[scen] = hbwire.read_pcap_udp(path)
        hits = []
        for _ts, _src, _dst, p in pk_cache[scen]:
            try:
                f, _, _ = hbwire.parse_netstring(p)
            except ValueError:
                continue
            if pred(f):
                hits.append(p)
        if len(hits) <= nth:
            print("SKIP (not found)", fname)
            continue
        buf = hits[nth]
        open(os.path.join(HERE, fname), "wb").write(buf)
        info = analyse(buf, method)
        manifest.append(entry(fname, buf, method, info, kind, note, scen, "accept"))
        print("OK", fname, len(buf), info["compression_mode"])

    # ---- MUST REJECT variants
    def variant(src, dst, method, mutate, kind, note):
        p = os.path.join(HERE, src)
        if not os.path.exists(p):
            return
        buf = mutate(open(p, "rb").read())
        open(os.path.join(HERE, dst), "wb").write(buf)
        try:
            info = analyse(buf, method)
        except Exception as exc:  # decompression fails by design
            info = analyse_nodecompress(buf, method)
            note = note + " [decoder error: %s]" % type(exc).__name__
        e = entry(dst, buf, method, info, kind, note, "", "reject")
        srcent = [x for x in manifest if x["file"] == src][0]
        e["type"], e["sender"] = srcent["type"], srcent["sender"]
        manifest.append(e)
        print("OK", dst, "(reject variant)")

    variant("field-zlib-sha1.bin", "field-zlib-sha1-corrupt.bin", "sha1",
            lambda b: flip(b, value_offset(b, "payload") + 40),
            "field-zlib-sha1 with one byte of the compressed type-4 value changed (^0x01 at value offset 40); trailer left unchanged",
            "trailer does not match")
    variant("trad-zlib-crc.bin", "trad-zlib-crc-corrupt.bin", "crc",
            lambda b: flip(b, value_offset(b, "_compressed_payload") + 100),
            "trad-zlib-crc with one byte of _compressed_payload changed (^0x01 at value offset 100); trailer left unchanged",
            "trailer does not match")
    variant("trad-zlib-sha1.bin", "trad-zlib-sha1-badzlib-validauth.bin", "sha1",
            lambda b: retrail(flip(b, value_offset(b, "_compressed_payload") + 100), "sha1"),
            "trad-zlib-sha1 with one byte of _compressed_payload changed AND the trailer recomputed: authentication passes, decompression fails",
            "a 3.0.6 receiver decompresses whole-message payloads right after authentication (wirefmt2msg) and drops the message when that fails")
    variant("trad-zlib-crc.bin", "trad-zlib-crc-badalg-validauth.bin", "crc",
            lambda b: retrail(b.replace(b"30:(0)_compression_algorithm=zlib,", b"30:(0)_compression_algorithm=lzma,"), "crc"),
            "trad-zlib-crc with _compression_algorithm=zlib changed to lzma (no such plugin) and the trailer recomputed",
            "receiver cannot load a compression module named lzma; the message is dropped")
    return manifest


def analyse_nodecompress(buf, method):
    """analyse() for a datagram whose payload does not decompress."""
    key = KEYS[method]
    fields, body_len, trailer = hbwire.parse_netstring(buf)
    n, _, tok = trailer.partition(" ")
    fd = {nm: v for t, nm, v in fields}
    return {
        "length": len(buf), "netstring_body_len": body_len, "trailer": trailer,
        "authnum": int(n),
        "trailer_valid": tok == hbwire.auth_hex(method, key, buf[:body_len]),
        "inner_auth": fd["auth"].decode() if "auth" in fd else None,
        "inner_auth_valid": None, "fields_raw": decode_nested(fields),
        "compression_mode": None,
    }


def trim_pcaps(pcapdir):
    out = []
    for scen, desc in PCAPS:
        src = os.path.join(pcapdir, scen + ".pcap")
        if not os.path.exists(src):
            continue
        dst = os.path.join(HERE, scen + ".pcap")
        # keep everything up to 4 s after the last hbdcap/compressed message
        pk = hbwire.read_pcap_udp(src)
        last = first = None
        for ts, _s, _d, p in pk:
            if first is None:
                first = ts
            if b"hbdcap" in p or b"_compress" in p:
                last = ts
        data = open(src, "rb").read()
        if last is not None:
            subprocess.run(["editcap", "-F", "pcap", "-B",
                            __import__("time").strftime("%Y-%m-%dT%H:%M:%S", __import__("time").gmtime(last + 4)),
                            src, dst], check=True, env=dict(os.environ, TZ="UTC"))
        else:
            open(dst, "wb").write(data)
        out.append({"file": scen + ".pcap", "bytes": os.path.getsize(dst), "scenario": desc})
        print("pcap", dst, os.path.getsize(dst))
    return out


def check(manifest):
    bad = 0
    for e in manifest:
        buf = open(os.path.join(HERE, e["file"]), "rb").read()
        assert hashlib.sha256(buf).hexdigest() == e["sha256"], e["file"]
        fields, body_len, trailer = hbwire.parse_netstring(buf)
        assert body_len == e["netstring_body_len"] and trailer == e["trailer"]
        tok = trailer.partition(" ")[2]
        ok = tok == hbwire.auth_hex(e["auth_method"], e["auth_key"], buf[:body_len])
        if ok != e["trailer_valid"]:
            print("MISMATCH trailer", e["file"]); bad += 1
        if e["expect"] == "accept":
            if not ok:
                print("accept vector with bad trailer", e["file"]); bad += 1
            if "decompressed_fields" in e:
                info = analyse(buf, e["auth_method"])
                got = hbwire.to_json_fields(info["decompressed_fields_raw"])
                if "decompressed_fields_elided" in e:
                    got = [f for f in got if not re.fullmatch(r"d\d{3,}", f[1])]
                if got != e["decompressed_fields"]:
                    print("decompressed_fields differ", e["file"]); bad += 1
        print("%-45s trailer %-5s inner %-5s %s" % (e["file"], ok, e["inner_auth_valid"], e["expect"]))
    return bad


def check_pcaps(manifest):
    bad = 0
    pcache = {}
    for e in manifest:
        if not e["captured_in"]:
            continue
        pc = os.path.join(HERE, e["captured_in"] + ".pcap")
        if pc not in pcache:
            pcache[pc] = {p for ts, s, d, p in hbwire.read_pcap_udp(pc)}
        buf = open(os.path.join(HERE, e["file"]), "rb").read()
        if buf not in pcache[pc]:
            print("vector not in its pcap", e["file"]); bad += 1
    return bad


def main():
    if sys.argv[1:2] == ["--check"]:
        m = json.load(open(os.path.join(HERE, "manifest.json")))
        sys.exit(1 if check(m) + check_pcaps(m) else 0)
    pcapdir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/hbdcap/pcap"
    manifest = build(pcapdir)
    trim_pcaps(pcapdir)
    with open(os.path.join(HERE, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")
    sys.exit(1 if check(manifest) + check_pcaps(manifest) else 0)


if __name__ == "__main__":
    main()

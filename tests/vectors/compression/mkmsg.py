#!/usr/bin/env python3
"""Write one message for heartbeat's FIFO (/var/lib/heartbeat/fifo) to stdout.

Used by capture.sh.  Deterministic output (no clock, no randomness).

  mkmsg.py classic KB   classic (">>>") message, t=hbdcap-big, about KB
                        kilobytes of compressible text split over fields
                        d000..dNNN of 200 bytes (the FIFO reader uses
                        fgets with a 512-byte buffer, so lines stay short)
  mkmsg.py field KB     netstring ("###") message whose field "payload" has
                        type 5 (FT_UNCOMPRESS): a nested message that
                        cluster-glue compresses into a type-4 field on send
  mkmsg.py struct KB    netstring message whose field "payload" has type 2
                        (plain struct, not compressed): the control case
"""
import sys

LINE = 200


def text_fields(kb):
    """[(name, value)] with about kb*1024 bytes of compressible text."""
    out = []
    total = 0
    i = 0
    while total < kb * 1024:
        v = ("hbdcap line %04d: the quick brown fox jumps over the lazy dog; " % i)
        v = (v * 4)[:LINE]
        out.append(("d%03d" % i, v))
        total += LINE
        i += 1
    return out


def ns_item(typ, name, value):
    body = b"(%d)" % typ + name.encode() + b"=" + value
    return str(len(body)).encode() + b":" + body + b","


def ns_msg(items):
    return b"###\n" + b"".join(items) + b"%%%\n"


def main():
    kind, kb = sys.argv[1], int(sys.argv[2])
    out = sys.stdout.buffer
    if kind == "classic":
        lines = [">>>", "t=hbdcap-big", "hbdcap_kb=%d" % kb]
        lines += ["%s=%s" % nv for nv in text_fields(kb)]
        lines.append("<<<")
        out.write(("\n".join(lines) + "\n").encode())
    elif kind in ("field", "struct"):
        inner = ns_msg([ns_item(0, "t", b"hbdcap-inner"),
                        ns_item(0, "inner_kb", str(kb).encode())]
                       + [ns_item(0, n, v.encode()) for n, v in text_fields(kb)])
        typ = 5 if kind == "field" else 2
        msg = ns_msg([ns_item(0, "t", ("hbdcap-" + kind).encode()),
                      ns_item(typ, "payload", inner),
                      ns_item(0, "after", b"tail")])
        out.write(msg)
    else:
        raise SystemExit("unknown kind " + kind)


if __name__ == "__main__":
    main()

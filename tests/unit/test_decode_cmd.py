"""`hbd decode`: every shared capture verifies; vectors get the listed verdict; clean errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import dpkt
import pytest

from hbd.commands import decode as decode_cmd
from hbd.wire import Message, encode
from hbd.config.model import AuthKeys
from tests.unit.test_wire_vectors import SHARED_VECTORS, Vector, vectors

KEYFILES = {
    "crc": "auth 1\n1 crc\n",
    "md5": "# throwaway\nauth 1\n1 md5 hbA-md5-key-1\n",
    "sha1": "auth 1\n1 sha1 hbA-sha1-key-1\n",
}
PCAPS = sorted((SHARED_VECTORS / "pcap").glob("*.pcap"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="hbd decode")
    decode_cmd.add_arguments(parser)
    code = decode_cmd.run(parser.parse_args(list(argv)))
    out, err = capsys.readouterr()
    return code, out, err


def keyfile(tmp_path: Path, text: str, mode: int = 0o644) -> str:
    path = tmp_path / "authkeys"
    path.write_text(text)
    path.chmod(mode)  # an operator's copy: 0600 is not required
    return str(path)


def test_there_are_captures() -> None:
    assert len(PCAPS) >= 8


@pytest.mark.parametrize("pcap", PCAPS, ids=[p.name for p in PCAPS])
def test_every_capture_verifies(pcap: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    method = pcap.name.split("-")[0]
    code, out, err = run(capsys, "--authkeys", keyfile(tmp_path, KEYFILES[method]), "--json", str(pcap))
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0, err
    assert records and all(r["verdict"] == "ok" for r in records)
    assert [r["index"] for r in records] == list(range(len(records)))
    assert all(r["file"] == str(pcap) and r["fields"]["t"] for r in records)
    if "ping" in pcap.name:
        assert any(r["medium"] == "icmp-echo" and r["fields"]["t"] == "NS_st" for r in records)


def keys_for(vector: Vector) -> str:
    e = vector.entry
    key = f" {e['auth_key']}" if e.get("auth_key") else ""
    return f"auth {e['authnum']}\n{e['authnum']} {e['auth_method']}{key}\n"


VECTORS = vectors()


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_vector_verdict_via_command(vector: Vector, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--authkeys", keyfile(tmp_path, keys_for(vector)), "--json", str(vector.path))
    (record,) = [json.loads(line) for line in out.splitlines()]
    if vector.accept:
        assert (code, record["verdict"]) == (0, "ok")
        assert "fields" in record
    else:
        assert (code, record["verdict"]) == (1, "rejected")
        assert record["reason"] and "unauthenticated" in record


def test_binary_fields_are_base64(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--authkeys", keyfile(tmp_path, KEYFILES["crc"]), "--json",
                       str(SHARED_VECTORS / "status-crc-1.bin"))
    assert code == 0
    assert json.loads(out)["fields"]["srcuuid"] == "ZFQcq7MVTCuqDLwEGINUHA=="


def test_text_output_one_line_per_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--authkeys", keyfile(tmp_path, KEYFILES["sha1"]),
                       str(SHARED_VECTORS / "status-sha1-1.bin"), str(SHARED_VECTORS / "status-sha1-corrupt.bin"))
    ok, bad = out.splitlines()
    assert code == 1
    assert "src=node1 t=status seq=12 ok" in ok
    assert "REJECTED auth_failed" in bad and "unauthenticated" in bad


@pytest.mark.parametrize("problem", ["missing-file", "missing-keys", "bad-keys", "no-auth-line"])
def test_usage_errors_exit_2_without_traceback(problem: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    keys = keyfile(tmp_path, KEYFILES["crc"])
    target = str(SHARED_VECTORS / "status-crc-1.bin")
    if problem == "missing-file":
        target = str(tmp_path / "nope.bin")
    elif problem == "missing-keys":
        keys = str(tmp_path / "nokeys")
    elif problem == "bad-keys":
        keys = keyfile(tmp_path, "auth 1\n1 md5\n")
    else:
        keys = keyfile(tmp_path, "1 crc\n")
    code, _, err = run(capsys, "--authkeys", keys, target)
    assert code == 2
    assert err.startswith("hbd decode: ") and "Traceback" not in err


def test_corrupt_capture_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.pcap"
    broken.write_bytes(PCAPS[0].read_bytes()[:10])
    code, _, err = run(capsys, "--authkeys", keyfile(tmp_path, KEYFILES["crc"]), str(broken))
    assert code == 2 and "Traceback" not in err


def test_fragmented_datagram_is_reassembled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = AuthKeys.single("crc")
    payload = encode(Message.of(("t", "big"), *((f"f{i}", "x" * 100) for i in range(40))), keys)
    udp = dpkt.udp.UDP(sport=40000, dport=694, data=payload)
    udp.ulen = len(bytes(udp))
    raw = bytes(udp)
    path = tmp_path / "frag.pcap"
    with path.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh)
        for offset in range(0, len(raw), 1480):
            chunk = raw[offset:offset + 1480]
            ip = dpkt.ip.IP(src=bytes([10, 77, 0, 10]), dst=bytes([10, 77, 0, 255]), p=17, id=7,
                            data=chunk)
            ip.mf = int(offset + 1480 < len(raw))
            ip.offset = offset // 8
            ip.len = 20 + len(chunk)
            eth = dpkt.ethernet.Ethernet(dst=b"\xff" * 6, src=b"\x02" * 6, data=ip)
            writer.writepkt(bytes(eth), ts=1.0 + offset / 1e6)
    code, out, _ = run(capsys, "--authkeys", keyfile(tmp_path, KEYFILES["crc"]), "--json", str(path))
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and record["fields"]["t"] == "big" and record["length"] == len(payload)
    assert record["source"] == "10.77.0.10:40000"


def test_port_filter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--authkeys", keyfile(tmp_path, KEYFILES["crc"]), "--port", "9",
                         str(PCAPS[0]))
    assert code == 0 and out == "" and "no datagrams" in err

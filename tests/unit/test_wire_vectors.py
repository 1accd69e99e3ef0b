"""Every captured vector: verdict as listed, fields as listed, tokens recomputed,
bytes rebuilt exactly, and our encoder reproducing what heartbeat sent.

heartbeat 3.0.6's captured vectors are in `tests/vectors/heartbeat/` (copied
with their manifest and README from the project's shared vectors); captures
made for this repository sit beside them under `tests/vectors/`. Every
`manifest.json` found there is used, so a new capture is picked up without
touching the tests. Missing vectors are an error (at collection), never a skip. `test_decode_cmd.py` reuses the helpers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hbd.config.model import AuthKeys, AuthMethod
from hbd.wire import Accepted, Encoding, FieldType, Inspected, Message, Rejected, decode, encode, inspect
from hbd.wire.auth import classic_text, digest, format_token

REPO = Path(__file__).resolve().parents[2]
SHARED_VECTORS = REPO / "tests" / "vectors" / "heartbeat"
LOCAL_VECTORS = REPO / "tests" / "vectors"

if not (SHARED_VECTORS / "manifest.json").is_file():
    raise RuntimeError(f"heartbeat test vectors missing: expected {SHARED_VECTORS}/manifest.json")


@dataclass(frozen=True)
class Vector:
    path: Path
    entry: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.path.parent.relative_to(self.path.parents[2]).as_posix()}/{self.path.name}"

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @property
    def accept(self) -> bool:
        return self.entry["expect"] == "accept"

    @property
    def authkeys(self) -> AuthKeys:
        e = self.entry
        return AuthKeys.single(e["auth_method"], e.get("auth_key") or "", int(e["authnum"]))


def manifests() -> list[Path]:
    found = sorted(LOCAL_VECTORS.glob("**/manifest.json"))
    return found


def vectors() -> list[Vector]:
    out = []
    for manifest in manifests():
        for entry in json.loads(manifest.read_text()):
            out.append(Vector(manifest.parent / entry["file"], entry))
    return out


def manifest_fields(message: Message) -> list[list[Any]]:
    """A message in the manifest's `fields` form: [type, name, value]; bytes as hex."""
    return [[int(f.type), f.name, _manifest_value(f.value)] for f in message.fields]


def _manifest_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Message):
        return manifest_fields(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def has_compression(message: Message) -> bool:
    return any(f.type in (FieldType.COMPRESSED, FieldType.UNCOMPRESSED)
               or f.name == "_compressed_payload" for f in message.fields)


VECTORS = vectors()
IDS = [v.id for v in VECTORS]


def test_shared_vectors_are_present() -> None:
    assert (SHARED_VECTORS / "manifest.json").is_file()
    assert sum(1 for v in VECTORS if v.path.is_relative_to(SHARED_VECTORS)) >= 49


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_vector_verdict_as_listed(vector: Vector) -> None:
    result = decode(vector.data, vector.authkeys)
    if vector.accept:
        assert isinstance(result, Accepted), result
        assert result.authnum == vector.entry["authnum"]
        assert result.encoding.value == vector.entry["format"]
    else:
        assert isinstance(result, Rejected)


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_vector_fields_as_listed(vector: Vector) -> None:
    seen = inspect(vector.data)
    assert isinstance(seen, Inspected), seen
    listed = vector.entry["fields"]
    result = decode(vector.data, vector.authkeys)
    candidates = [manifest_fields(seen.wire)]
    if isinstance(result, Accepted):
        assert result.wire == seen.wire
        candidates.append(manifest_fields(result.message))
    assert listed in candidates


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_vector_rebuilt_byte_for_byte(vector: Vector) -> None:
    seen = inspect(vector.data)
    assert isinstance(seen, Inspected)
    assert seen.to_bytes() == vector.data
    result = decode(vector.data, vector.authkeys)
    if isinstance(result, Accepted):
        assert result.to_bytes() == vector.data


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_vector_tokens_recomputed(vector: Vector) -> None:
    e = vector.entry
    method, key, index = AuthMethod(e["auth_method"]), (e.get("auth_key") or "").encode(), e["authnum"]
    if e.get("trailer"):
        body = vector.data[:e["netstring_body_len"]]
        assert body.endswith(b"%%%\n")
        assert (format_token(index, digest(method, key, body)) == e["trailer"]) is e["trailer_valid"]
    if e.get("inner_auth"):
        seen = inspect(vector.data)
        assert isinstance(seen, Inspected)
        assert seen.inner_auth == e["inner_auth"]
        recomputed = format_token(index, digest(method, key, classic_text(seen.wire)))
        assert (recomputed == e["inner_auth"]) is e["inner_auth_valid"]


def _compressed(vector: Vector) -> bool:
    result = decode(vector.data, vector.authkeys)
    return isinstance(result, Accepted) and has_compression(result.wire)


ACCEPTED = [v for v in VECTORS if v.accept]
COMPRESSED = [v for v in ACCEPTED if _compressed(v)]
PLAIN = [v for v in ACCEPTED if v not in COMPRESSED]


@pytest.mark.parametrize("vector", COMPRESSED, ids=[v.id for v in COMPRESSED])
def test_compressed_capture_reencodes_to_same_message(vector: Vector) -> None:
    """Compressed bytes depend on the zlib/bzip2 build, so compare what they carry."""
    result = decode(vector.data, vector.authkeys)
    assert isinstance(result, Accepted)
    again = decode(encode(result.wire, vector.authkeys, fmt=result.encoding.value,
                          inner_auth="auth" in result.wire, nul=result.nul), vector.authkeys)
    assert isinstance(again, Accepted) and again.message == result.message


@pytest.mark.parametrize("vector", PLAIN, ids=[v.id for v in PLAIN])
def test_encode_reproduces_capture(vector: Vector) -> None:
    """Our encoder, given the captured fields, sends exactly what heartbeat sent."""
    result = decode(vector.data, vector.authkeys)
    assert isinstance(result, Accepted)
    sent = encode(result.wire, vector.authkeys, fmt=result.encoding.value,
                  inner_auth="auth" in result.wire, nul=result.nul)
    assert sent == vector.data
    if result.encoding is Encoding.NETSTRING:
        assert result.trailer is not None

"""Authentication before framing: find a datagram's authenticator and check it
over the raw bytes, without building the message.

Heartbeat checks authentication only after parsing the whole message; done in
Python that costs time in proportion to the number of fields, which anyone on
the heartbeat LAN can send. Here every check before authentication is a
constant number of Python steps plus C-speed work over the bytes (search,
hash, split), so an unauthenticated datagram costs about as much as hashing it.

    locate(data, limits) -> Located             raises WireError
    authenticate(located, authkeys) -> Verified  raises WireError
    screen(data, authkeys, limits) -> Screened | Rejected   (never raises)

How the authenticator is found (the accept set is exactly the codec's, which
re-checks the framing after authentication — codec.py):

* netstring: the trailer "<len>:<n> <hex>," ends the datagram and holds no '%',
  so the body ends at the last "%%%\\n" within the last `trailer_window` bytes.
  The trailer is checked over everything before it (3.0.6 semantics: method of
  index n, key of our own `auth N`, see auth.trailer_secret).
* classic: the message ends at the first "<<<\\n" that starts a line; the lines
  are found by C code (regular expressions: runs of CR/LF folded, `auth`
  lines cut out), after refusing a datagram with more line breaks than
  `Limits.preauth_lines` allows (a far lower cap than the post-authentication
  field cap). The first `auth=` line authenticates the text of the others.
* sealed (hbd's AEAD, seal.py): the header names index, session and counter;
  decrypting is the check.

`screen` also reads, from an authenticated datagram only, the few header
fields a receiver needs to tell a fresh datagram from a replay before paying
for the full decode: `t`, `src`, `hg`, `seq` (HMAC methods) or the sealed
session and counter (AEAD).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from hbd.config.model import AuthKey, AuthKeys
from hbd.wire import auth, seal
from hbd.wire.errors import Rejected, RejectReason, WireError
from hbd.wire.fields import bounded_hex
from hbd.wire.limits import DEFAULT_LIMITS, Limits
from hbd.wire.message import from_wire

NETSTRING_START = b"###\n"
NETSTRING_END = b"%%%\n"
CLASSIC_START = b">>>\n"
CLASSIC_END = b"<<<\n"
_ANY_AUTH_LINE = re.compile(rb"^(?:\(.\))?auth=.*\n", re.MULTILINE)  # classic.auth_text's rule
_CLASSIC_HEADER = re.compile(rb"^(t|src|hg|seq)=(.*)$", re.MULTILINE)
_HEADER_NAMES = (b"t", b"src", b"hg", b"seq")


class Encoding(enum.StrEnum):
    NETSTRING = "netstring"
    CLASSIC = "classic"
    SEALED = "sealed"        # hbd's AEAD (seal.py): all-hbd clusters only


@dataclass(frozen=True)
class Located:
    """Where a datagram's authenticator is, and what it covers (nothing parsed yet)."""

    encoding: Encoding
    data: bytes
    end: int                              # netstring: past "%%%\n"; classic: past "<<<\n"
    token: str | None = None              # "<n> <hex>" as received
    covered: bytes = b""                  # classic: the text the auth line covers
    lines: bytes = b""                    # classic: every line + LF (CR/LF runs folded)
    nul: bool = False                     # classic: one NUL after "<<<\n"
    sealed: seal.Sealed | None = None     # sealed: header and ciphertext


@dataclass(frozen=True)
class Verified:
    """An authenticated datagram: which index, and for AEAD the plaintext body."""

    authnum: int
    plaintext: bytes | None = None
    session: bytes | None = None
    counter: int | None = None


@dataclass(frozen=True)
class Screened:
    """What `screen` tells the receive path about an authenticated datagram."""

    encoding: Encoding
    authnum: int
    type: str | None = None               # `t`
    source: str | None = None             # `src`
    generation: int | None = None         # `hg` (bounded hex)
    seq: int | None = None                # `seq` (bounded hex)
    session: bytes | None = None          # sealed
    counter: int | None = None            # sealed


# --- locating ------------------------------------------------------------------------

def locate(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Located:
    """Find the authenticator of `data`; constant Python work, C-speed scans."""
    if len(data) > limits.max_datagram:
        raise WireError(RejectReason.TOO_LARGE, f"{len(data)} bytes (cap {limits.max_datagram})")
    if data.startswith(NETSTRING_START):
        return _locate_netstring(data, limits)
    if data.startswith(CLASSIC_START):
        return _locate_classic(data, limits)
    if data.startswith(seal.MAGIC):
        return Located(Encoding.SEALED, data, len(data), sealed=seal.unpack(data))
    raise WireError(RejectReason.BAD_MAGIC, repr(data[:4]))


def trailer_window(limits: Limits) -> int:
    """The most bytes "%%%\\n" plus a trailer netstring can take."""
    return len(NETSTRING_END) + len(str(limits.max_token)) + 2 + limits.max_token


def _locate_netstring(data: bytes, limits: Limits) -> Located:
    if data.endswith(NETSTRING_END):
        raise WireError(RejectReason.NO_AUTH, "netstring message without auth trailer")
    start = max(len(NETSTRING_START), len(data) - trailer_window(limits))
    cut = data.rfind(NETSTRING_END, start)
    if cut < 0:
        reason = RejectReason.TRUNCATED if not data.endswith(b",") else RejectReason.MALFORMED
        raise WireError(reason, "no '%%%' end marker followed by an auth trailer")
    end = cut + len(NETSTRING_END)
    colon = data.find(b":", end, end + len(str(limits.max_token)) + 1)
    length = data[end:colon]
    if colon < 0 or not length.isdigit() or (length[:1] == b"0" and len(length) > 1):
        raise WireError(RejectReason.MALFORMED, "auth trailer is not a netstring")
    size = int(length)
    payload_at = end + len(length) + 1
    if size > limits.max_token or payload_at + size + 1 != len(data) or not data.endswith(b","):
        raise WireError(RejectReason.MALFORMED, "bytes after the auth trailer, or a bad trailer")
    return Located(Encoding.NETSTRING, data, end, token=from_wire(data[payload_at:payload_at + size]))


def _locate_classic(data: bytes, limits: Limits) -> Located:
    # the first "<<<\n" right after a line break (START's own LF counts)
    ends = [i for i in (data.find(b"\n<<<\n", 3), data.find(b"\r<<<\n", 3)) if i >= 0]
    if not ends:
        raise WireError(RejectReason.TRUNCATED, "no '<<<' end marker")
    cut = min(ends)
    end = cut + 1 + len(CLASSIC_END)
    if data[end:] not in (b"", b"\0"):
        raise WireError(RejectReason.MALFORMED, "bytes after the '<<<' end marker")
    text = data[len(CLASSIC_START):cut]
    if text.count(b"\n") + text.count(b"\r") > 2 * limits.preauth_lines:
        raise WireError(RejectReason.TOO_MANY_FIELDS,
                        f"more than {limits.preauth_lines} lines before authentication")
    lines = _fold(text)
    if lines.count(b"\n") > limits.preauth_lines:
        raise WireError(RejectReason.TOO_MANY_FIELDS,
                        f"more than {limits.preauth_lines} lines before authentication")
    token, covered = _cut_auth(lines)
    return Located(Encoding.CLASSIC, data, end, token=token, covered=covered, lines=lines,
                   nul=end < len(data))


def _fold(text: bytes) -> bytes:
    """Every line followed by one LF: runs of CR/LF folded, empty lines dropped."""
    if b"\r" not in text and b"\n\n" not in text and not text.startswith(b"\n"):
        return text + b"\n" if text else b""
    kept = [line for line in text.replace(b"\r", b"\n").split(b"\n") if line]
    return b"\n".join(kept) + b"\n" if kept else b""


def _cut_auth(lines: bytes) -> tuple[str | None, bytes]:
    """The first string `auth` line's value, and `lines` without any line named `auth`."""
    at = 0 if lines.startswith(b"auth=") else lines.find(b"\nauth=") + 1
    if at > 0 or lines.startswith(b"auth="):
        stop = lines.index(b"\n", at)
        if lines.count(b"auth=") == 1:                     # the usual case: one auth line
            return from_wire(lines[at + 5:stop]), lines[:at] + lines[stop + 1:]
        return from_wire(lines[at + 5:stop]), _ANY_AUTH_LINE.sub(b"", lines)
    return None, _ANY_AUTH_LINE.sub(b"", lines) if b")auth=" in lines else lines


# --- authenticating --------------------------------------------------------------------

def authenticate(located: Located, authkeys: AuthKeys) -> Verified:
    """Check the authenticator found by `locate`; raises WireError."""
    if located.encoding is Encoding.SEALED:
        assert located.sealed is not None
        return _open(located.sealed, authkeys)
    if located.token is None:
        raise WireError(RejectReason.NO_AUTH, "classic message without auth field")
    index, received, key = token_key(located.token, authkeys)
    if located.encoding is Encoding.NETSTRING:
        secret = auth.trailer_secret(authkeys, key)
        if not auth.verify_digest(key.method, secret, located.data[:located.end], received):
            raise WireError(RejectReason.AUTH_FAILED, f"trailer does not match (index {index})")
    elif not auth.verify(key, located.covered, received):
        raise WireError(RejectReason.AUTH_FAILED, f"auth field does not match (index {index})")
    return Verified(index)


def token_key(token: str, authkeys: AuthKeys) -> tuple[int, str, AuthKey]:
    parsed = auth.parse_token(token)
    if parsed is None:
        raise WireError(RejectReason.BAD_AUTH, f"auth token {token[:40]!r} is not '<n> <hex>'")
    index, received = parsed
    if index > auth.MAX_INDEX:
        raise WireError(RejectReason.BAD_AUTH_INDEX, f"auth index {index} outside 0..15")
    key = authkeys.get(index)
    if key is None:
        raise WireError(RejectReason.UNKNOWN_AUTH_INDEX, f"auth index {index} not configured")
    if auth.is_aead(key.method):
        raise WireError(RejectReason.AUTH_FAILED,
                        f"index {index} is {auth.name(key.method)}: it does not sign tokens")
    return index, received, key


def _open(sealed: seal.Sealed, authkeys: AuthKeys) -> Verified:
    key = authkeys.get(sealed.index)
    if key is None:
        raise WireError(RejectReason.UNKNOWN_AUTH_INDEX, f"auth index {sealed.index} not configured")
    if not auth.is_aead(key.method):
        raise WireError(RejectReason.AUTH_FAILED,
                        f"sealed datagram for index {sealed.index}, which is {auth.name(key.method)}")
    plaintext = seal.open_sealed(sealed, key.secret)
    if plaintext is None:
        raise WireError(RejectReason.AUTH_FAILED, f"sealed datagram does not open (index {sealed.index})")
    return Verified(sealed.index, plaintext, sealed.session, sealed.counter)


# --- screening -------------------------------------------------------------------------

def screen(data: bytes, authkeys: AuthKeys, limits: Limits = DEFAULT_LIMITS) -> Screened | Rejected:
    """Authenticate `data` without framing it, and read its replay-relevant header."""
    try:
        located = locate(data, limits)
        verified = authenticate(located, authkeys)
    except WireError as exc:
        return exc.rejected()
    except Exception as exc:  # noqa: BLE001 - a bug here must not take the receive path down
        return Rejected(RejectReason.INTERNAL, f"{type(exc).__name__}: {exc}")
    if located.encoding is Encoding.CLASSIC:
        found = _classic_header(located.lines)
    else:
        body = verified.plaintext if verified.plaintext is not None else data[:located.end]
        found = netstring_header(body, limits)
    return Screened(located.encoding, verified.authnum, type=found.get(b"t"),
                    source=found.get(b"src"), generation=bounded_hex(found.get(b"hg"), 16),
                    seq=bounded_hex(found.get(b"seq"), 16),
                    session=verified.session, counter=verified.counter)


def netstring_header(body: bytes, limits: Limits = DEFAULT_LIMITS) -> dict[bytes, str]:
    """The top-level string values of t/src/hg/seq in an authenticated netstring body.

    Found by searching, not walking (C speed, whatever the number of fields):
    `t` is the first item heartbeat writes, so its first occurrence is taken;
    `src`, `seq` and `hg` are header fields appended after the originator's
    own (spec §6), so their last occurrence is the top-level one even when an
    originator field nests a message. Each candidate must sit at an item
    boundary with a length prefix that ends it exactly. Meant for
    authenticated bytes only: it classifies, the full decode judges.
    """
    found: dict[bytes, str] = {}
    for name in _HEADER_NAMES:
        key = b":(0)" + name + b"="
        at = body.find(key) if name == b"t" else body.rfind(key)
        if at < 0:
            continue
        low = max(0, at - 8)
        first = max(body.rfind(b",", low, at), body.rfind(b"\n", low, at)) + 1
        digits = body[first:at]
        if not first or not digits.isdigit():
            continue
        stop = at + 1 + int(digits)
        if body[stop:stop + 1] == b",":
            found[name] = from_wire(body[at + len(key):stop])
    return found


def claimed(data: bytes) -> tuple[bytes | None, int, int] | None:
    """What an UNAUTHENTICATED datagram claims to be: (session, generation, seq) for
    netstring and classic, (session, 0, counter) for sealed; None when it does not say.

    A few C-speed searches. Only for dropping, before authentication, what
    would be stale even if it were authentic (admission.py); never trusted
    otherwise.
    """
    if data.startswith(seal.MAGIC):
        if len(data) < seal.HEADER.size:
            return None
        _, _, session, counter = seal.HEADER.unpack_from(data)
        return session, 0, counter
    if data.startswith(NETSTRING_START):
        hg, seq = _claim(data, b":(0)hg=", b","), _claim(data, b":(0)seq=", b",")
    elif data.startswith(CLASSIC_START):
        hg, seq = _claim(data, b"\nhg=", b"\n"), _claim(data, b"\nseq=", b"\n")
    else:
        return None
    return None if seq is None else (None, hg or 0, seq)


def _claim(data: bytes, key: bytes, end: bytes) -> int | None:
    at = data.rfind(key)
    if at < 0:
        return None
    start = at + len(key)
    stop = data.find(end, start, start + 17)
    return bounded_hex(from_wire(data[start:stop]), 16) if stop > 0 else None


def _classic_header(lines: bytes) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for match in _CLASSIC_HEADER.finditer(lines):
        found.setdefault(match.group(1), from_wire(match.group(2)))
    return found

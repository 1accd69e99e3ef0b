"""Validators for the values that appear in hbd's configuration files.

Each returns None when the value is fine, or a message saying what is wrong
and what to write instead. They use `ipaddress` only: no system look-ups.
"""

from __future__ import annotations

import ipaddress
import re

IFNAMSIZ = 16  # Linux: names are at most 15 bytes
HOST_NAME_MAX = 64
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def check_ipv4(text: str, what: str = "address") -> str | None:
    """A dotted-quad IPv4 address, as inet_pton accepts it."""
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return f"{what} '{text}' is not an IPv4 address (write four numbers 0-255, e.g. 192.168.32.21)"
    return None


def check_iface(text: str) -> str | None:
    """A Linux interface name (dev_valid_name): 1-15 bytes, no '/', ':' or blank."""
    if not text:
        return "interface name is empty"
    if len(text.encode("utf-8", "surrogateescape")) >= IFNAMSIZ:
        return f"interface name '{text}' is longer than {IFNAMSIZ - 1} characters"
    if text in (".", "..") or any(c in text for c in "/:") or any(c.isspace() for c in text):
        return (f"interface name '{text}' is not valid: it may not be '.' or '..' "
                "nor contain '/', ':' or blanks (aliases such as eth0:1 are not interfaces)")
    return None


def check_mac(text: str) -> str | None:
    """A unicast Ethernet address written as six ':'-separated hex pairs."""
    if not _MAC.match(text):
        return f"'{text}' is not a MAC address: write six hex pairs, e.g. 00:1E:68:1E:99:5E"
    first = int(text[:2], 16)
    if first & 1:
        return f"MAC address '{text}' is a multicast address (first byte odd); use a unicast one, e.g. 02:..."
    if int(text.replace(":", ""), 16) == 0:
        return "MAC address 00:00:00:00:00:00 cannot be assigned to an interface"
    return None


def check_hostname(text: str) -> str | None:
    """An RFC 1123 host name that Linux accepts (at most 64 characters)."""
    if not text or len(text) > HOST_NAME_MAX:
        return f"host name '{text}' must be 1 to {HOST_NAME_MAX} characters long"
    for label in text.split("."):
        if not _LABEL.match(label):
            return (f"host name '{text}' is not valid (RFC 1123): use letters, digits and "
                    "'-' in dot-separated labels that do not start or end with '-'")
    return None


def check_int(text: str, low: int, high: int, what: str) -> tuple[int | None, str | None]:
    """A decimal integer within [low, high]."""
    try:
        value = int(text, 10)
    except ValueError:
        return None, f"{what} '{text}' is not a whole number; write a number from {low} to {high}"
    if not low <= value <= high:
        return None, f"{what} {value} is out of range; write a number from {low} to {high}"
    return value, None

"""Salesforce-style 18-character record ids."""

from __future__ import annotations

import string

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX = string.ascii_uppercase + "012345"
_POD = "5g0"


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(_BASE62[rem])
    return "".join(reversed(chars))


def checksum_suffix(id15: str) -> str:
    """The three characters Salesforce appends to make a 15-char id case-insensitive."""
    out = []
    for chunk in range(3):
        bits = 0
        for pos, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << pos
        out.append(_SUFFIX[bits])
    return "".join(out)


def make_id(key_prefix: str, sequence: int) -> str:
    """Build the 18-char id of the ``sequence``-th record of an object."""
    id15 = key_prefix + _POD + _base62(sequence, 9)
    return id15 + checksum_suffix(id15)


def to_18(record_id: str) -> str:
    """Return the 18-char form of a 15- or 18-char id (other input unchanged)."""
    if len(record_id) == 15 and record_id.isalnum():
        return record_id + checksum_suffix(record_id)
    return record_id


def looks_like_id(value: str) -> bool:
    """Whether ``value`` has the shape of a Salesforce id."""
    return len(value) in (15, 18) and value.isalnum()

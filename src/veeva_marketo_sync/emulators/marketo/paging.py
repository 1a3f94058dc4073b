"""Opaque paging tokens: base32 text, like Marketo's, wrapping a position."""

from __future__ import annotations

import base64
import binascii

from veeva_marketo_sync.emulators.marketo.errors import MarketoApiError


def encode(kind: str, position: int) -> str:
    """Encode a position of a given kind (`act` for activity feeds, `off` for result offsets)."""
    raw = f"{kind}:{position}".encode()
    return base64.b32encode(raw).decode().rstrip("=")


def decode(kind: str, token: str) -> int:
    """Decode a token made by `encode` for the same kind.

    Raises:
        MarketoApiError: 1003 when the token is not one of ours.
    """
    padded = token.strip() + "=" * (-len(token.strip()) % 8)
    try:
        text = base64.b32decode(padded.upper()).decode()
        prefix, _, number = text.partition(":")
        if prefix != kind:
            raise ValueError(prefix)
        position = int(number)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise MarketoApiError("1003", f"Invalid nextPageToken '{token}'") from exc
    if position < 0:
        raise MarketoApiError("1003", f"Invalid nextPageToken '{token}'")
    return position

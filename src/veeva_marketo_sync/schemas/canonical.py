"""Parsing Canonical Form and the CRC-64-AVRO (Rabin) fingerprint of a schema."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import parse_schema, to_parsing_canonical_form


def canonical_form(schema: Mapping[str, Any] | str | list[Any]) -> str:
    """Return the Avro Parsing Canonical Form of `schema` (docs and custom attributes dropped)."""
    parsed = parse_schema(_plain(schema), named_schemas={}, _write_hint=False)
    return str(to_parsing_canonical_form(parsed))


def fingerprint_bytes(schema: Mapping[str, Any] | str | list[Any]) -> bytes:
    """Return the 8-byte little-endian CRC-64-AVRO fingerprint used by single-object encoding."""
    return bytes.fromhex(_fastavro_fingerprint(canonical_form(schema), "CRC-64-AVRO"))


def fingerprint(schema: Mapping[str, Any] | str | list[Any]) -> int:
    """Return the CRC-64-AVRO fingerprint of `schema` as an unsigned 64-bit integer."""
    return int.from_bytes(fingerprint_bytes(schema), "little")


def _plain(schema: Mapping[str, Any] | str | list[Any]) -> Any:
    # A JSON round trip drops fastavro's parse markers and turns Mappings into plain dicts.
    return json.loads(json.dumps(schema))

"""Pure helpers for Salesforce records: flatten REST rows, type Bulk CSV, read describes."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any

from .ports import SfDescribe, SfField, SfRecord

_FROM = re.compile(r"\bFROM\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_INTEGER_TYPES = frozenset({"int", "long"})
_FLOAT_TYPES = frozenset({"double", "currency", "percent"})


def flatten(record: Mapping[str, Any], prefix: str = "") -> SfRecord:
    """Drop ``attributes`` and flatten parent relationships: ``RecordType.DeveloperName``.

    A null relationship stays one key with ``None`` (its fields are unknown, not empty).
    """
    flat: SfRecord = {}
    for name, value in record.items():
        if name == "attributes":
            continue
        if isinstance(value, Mapping) and "attributes" in value:
            flat.update(flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def sobject_of(soql: str) -> str:
    """The object a SOQL query reads (``SELECT … FROM Account …`` → ``Account``)."""
    match = _FROM.search(soql)
    if match is None:
        msg = f"no FROM clause in SOQL: {soql}"
        raise ValueError(msg)
    return match.group(1)


def typed_value(raw: str, sf_type: str | None) -> Any:
    """A Bulk API CSV cell as a Python value: empty → None, booleans and numbers typed."""
    if raw == "":
        return None
    if sf_type == "boolean":
        return raw.lower() == "true"
    if sf_type in _INTEGER_TYPES:
        return int(raw)
    if sf_type in _FLOAT_TYPES:
        return float(raw)
    return raw


def parse_bulk_csv(text: str, types: Mapping[str, str]) -> list[SfRecord]:
    """Rows of one Bulk API 2.0 result page, typed with ``types`` (field name → describe type)."""
    reader = csv.reader(io.StringIO(text.replace("\0", "")))
    header = next(reader, None)
    if header is None:
        return []
    return [
        {name: typed_value(cell, types.get(name)) for name, cell in zip(header, row, strict=True)}
        for row in reader
        if row
    ]


def to_describe(raw: Mapping[str, Any]) -> SfDescribe:
    """The ``SfDescribe`` of a ``sobjects/<name>/describe`` answer."""
    fields = tuple(
        SfField(
            name=str(f["name"]),
            type=str(f.get("type", "string")),
            length=int(f.get("length") or 0),
            updateable=bool(f.get("updateable", False)),
            nillable=bool(f.get("nillable", True)),
            picklist_values=tuple(
                str(p["value"]) for p in f.get("picklistValues") or () if p.get("active", True)
            ),
            reference_to=tuple(str(r) for r in f.get("referenceTo") or ()),
        )
        for f in raw.get("fields") or ()
    )
    return SfDescribe(name=str(raw.get("name", "")), fields=fields, raw=raw)

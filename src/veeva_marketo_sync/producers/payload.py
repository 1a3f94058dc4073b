"""Salesforce record values → the typed payload record of a change event (pure).

REST answers datetimes as strings (`2024-05-01T10:00:00.000+0000`), Bulk CSV as strings too
unless the client typed them; the describe-generated schema says what each field must be.
Relationship paths are read flattened (`RecordType.DeveloperName`) or nested.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

from .watermark import parse_sf_datetime, to_millis


class PayloadError(ValueError):
    """A record value does not fit its field type; the message names the field."""


def field_value(record: Mapping[str, Any], sf_name: str) -> Any:
    """Read a field or a relationship path (flattened or nested) from a record."""
    if sf_name in record:
        return record[sf_name]
    value: Any = record
    for part in sf_name.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def payload(record: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Return the payload record of `record` for the describe-generated `schema`.

    Raises:
        PayloadError: A value cannot be converted to its field's type.
    """
    out: dict[str, Any] = {}
    for field in schema["fields"]:
        sf_name = str(field.get("sf_name", field["name"]))
        raw = field_value(record, sf_name)
        try:
            out[field["name"]] = _convert(raw, _non_null(field["type"]))
        except (ValueError, TypeError) as exc:
            msg = f"{schema.get('sf_object', '?')}.{sf_name}: cannot convert {raw!r}: {exc}"
            raise PayloadError(msg) from exc
    return out


def _non_null(avro_type: Any) -> Any:
    if isinstance(avro_type, list):
        return next(t for t in avro_type if t != "null")
    return avro_type


def _convert(value: Any, avro_type: Any) -> Any:  # noqa: PLR0911
    if value is None or value == "":
        return None
    logical = avro_type.get("logicalType") if isinstance(avro_type, Mapping) else None
    base = avro_type["type"] if isinstance(avro_type, Mapping) else avro_type
    if logical == "timestamp-millis":
        return to_millis(parse_sf_datetime(value))
    if logical == "date":
        return _date(value)
    if logical == "time-millis":
        return _time(value)
    if base == "boolean":
        return _boolean(value)
    if base in ("int", "long"):
        return int(value)
    if base in ("double", "float"):
        return float(value)
    if base == "bytes":
        return value if isinstance(value, bytes) else base64.b64decode(str(value))
    return value if isinstance(value, str) else str(value)


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _time(value: Any) -> time:
    if isinstance(value, time):
        return value
    text = str(value).removesuffix("Z")
    parsed = time.fromisoformat(text)
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    msg = f"not a boolean: {value!r}"
    raise ValueError(msg)

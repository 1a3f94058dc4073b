"""Checking and converting field values written through the API into stored values."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from veeva_marketo_sync.emulators.veeva.errors import ApiError
from veeva_marketo_sync.emulators.veeva.ids import looks_like_id, to_18
from veeva_marketo_sync.emulators.veeva.schema import FieldDef
from veeva_marketo_sync.emulators.veeva.soql import parse_datetime
from veeva_marketo_sync.emulators.veeva.sqlgen import format_datetime

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _bad_value(fdef: FieldDef, value: Any, kind: str) -> ApiError:
    return ApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {type(value).__name__} value "
        f"{value!r} for field {fdef.name}",
        [fdef.name],
    )


def to_storage(fdef: FieldDef, value: Any) -> Any:
    """Validate one written value and return its stored form."""
    if value is None or value == "":
        if not fdef.nillable and fdef.type != "boolean":
            raise ApiError(
                400,
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{fdef.name}]",
                [fdef.name],
            )
        return 0 if fdef.type == "boolean" else None
    if fdef.type == "boolean":
        if not isinstance(value, bool):
            raise _bad_value(fdef, value, "boolean")
        return int(value)
    if fdef.type in ("double", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad_value(fdef, value, "double")
        return int(value) if fdef.type == "int" else float(value)
    if not isinstance(value, str):
        raise _bad_value(fdef, value, "string")
    return _text_to_storage(fdef, value)


def _text_to_storage(fdef: FieldDef, value: str) -> Any:
    if fdef.type == "datetime":
        try:
            return format_datetime(parse_datetime(value))
        except ApiError as exc:
            raise _bad_value(fdef, value, "datetime") from exc
    if fdef.type == "date":
        try:
            return dt.date.fromisoformat(value[:10]).isoformat()
        except ValueError as exc:
            raise _bad_value(fdef, value, "date") from exc
    if fdef.type in ("reference", "id"):
        if not looks_like_id(value):
            raise ApiError(
                400,
                "MALFORMED_ID",
                f"{fdef.label}: id value of incorrect type: {value}",
                [fdef.name],
            )
        return to_18(value)
    if fdef.length and len(value) > fdef.length:
        raise ApiError(
            400,
            "STRING_TOO_LONG",
            f"{fdef.label}: data value too large: {value[:40]} (max length={fdef.length})",
            [fdef.name],
        )
    if fdef.type == "email" and not _EMAIL_RE.match(value):
        raise ApiError(
            400,
            "INVALID_EMAIL_ADDRESS",
            f"{fdef.label}: invalid email address: {value}",
            [fdef.name],
        )
    return value

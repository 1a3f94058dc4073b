"""Reading query strings and bodies the way Marketo does (lenient lists, strict JSON)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from veeva_marketo_sync.emulators.marketo.errors import MarketoApiError

Params = list[tuple[str, str]]


def split_values(params: Params, name: str) -> list[str]:
    """Return a list parameter given as `a,b`, as repeated keys, or both."""
    values: list[str] = []
    for key, value in params:
        if key == name:
            values.extend(part.strip() for part in value.split(",") if part.strip())
    return values


def single(params: Params, name: str) -> str | None:
    """Return the last value of a parameter, or None."""
    found = [value for key, value in params if key == name]
    return found[-1] if found else None


async def read_body(request: Request, max_bytes: int) -> bytes:
    """Read the body, refusing anything over the payload limit with HTTP 413.

    Raises:
        MarketoApiError: 413 when the body is too large.
    """
    body = await request.body()
    if len(body) > max_bytes:
        raise MarketoApiError("413", http_status=413)
    return body


async def read_json(request: Request, max_bytes: int) -> Any:
    """Parse a JSON body (609 when malformed, 612 when not sent as JSON).

    Raises:
        MarketoApiError: 609, 612 or 413.
    """
    body = await read_body(request, max_bytes)
    content_type = request.headers.get("content-type", "")
    if body and "json" not in content_type and "text/plain" not in content_type:
        raise MarketoApiError("612", f"Invalid Content Type '{content_type}'")
    if not body:
        raise MarketoApiError("609", "Invalid JSON: empty body")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MarketoApiError("609", f"Invalid JSON: {exc}") from exc


async def read_form(request: Request, max_bytes: int) -> Params:
    """Parse an `application/x-www-form-urlencoded` body into pairs.

    Raises:
        MarketoApiError: 413 when the body is too large.
    """
    body = await read_body(request, max_bytes)
    return parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)


def query_pairs(request: Request) -> Params:
    """Return the query string as pairs (repeated keys kept)."""
    return list(request.query_params.multi_items())


def batch_size(params: Params, maximum: int) -> int:
    """Return `batchSize` (default and ceiling `maximum`).

    Raises:
        MarketoApiError: 1003 for a non-numeric or out-of-range value.
    """
    raw = single(params, "batchSize")
    if raw in (None, ""):
        return maximum
    try:
        size = int(raw)
    except ValueError as exc:
        raise MarketoApiError("1003", f"Invalid batchSize '{raw}'") from exc
    if not 1 <= size <= maximum:
        raise MarketoApiError("1003", f"batchSize must be between 1 and {maximum}")
    return size


def require_list(body: Any, name: str = "input") -> list[Any]:
    """Return `body[name]` as a list (701 when missing, 1003 when not a list).

    Raises:
        MarketoApiError: 701 or 1003.
    """
    if not isinstance(body, dict):
        raise MarketoApiError("609", "Invalid JSON: the body must be an object")
    value = body.get(name)
    if value is None or value == []:
        raise MarketoApiError("701", f"'{name}' cannot be blank")
    if not isinstance(value, list):
        raise MarketoApiError("1003", f"'{name}' must be an array")
    return value

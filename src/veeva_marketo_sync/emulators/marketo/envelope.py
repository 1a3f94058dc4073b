"""The Marketo response envelope: every answer is JSON, errors carry string codes."""

from __future__ import annotations

import itertools
import secrets
from typing import Any

from starlette.responses import JSONResponse

from veeva_marketo_sync.emulators.marketo.errors import MarketoApiError

_sequence = itertools.count(0x1000)
_PREFIX = secrets.token_hex(2)


def request_id() -> str:
    """Return a request id shaped like Marketo's (`e42b#14272d07d78`)."""
    return f"{_PREFIX}#{next(_sequence):x}"


def ok(
    result: list[Any] | None = None,
    *,
    include_result: bool = True,
    **extra: Any,
) -> JSONResponse:
    """Build a successful envelope; `extra` adds moreResult, nextPageToken, warnings..."""
    body: dict[str, Any] = {"requestId": request_id(), "success": True}
    if include_result:
        body["result"] = result if result is not None else []
    body.update(extra)
    body.setdefault("warnings", [])
    return JSONResponse(body)


def failure(error: MarketoApiError) -> JSONResponse:
    """Build a failed envelope for a response-level error."""
    body = {
        "requestId": request_id(),
        "success": False,
        "errors": [{"code": error.code, "message": error.message}],
        "warnings": [],
    }
    return JSONResponse(body, status_code=error.http_status)

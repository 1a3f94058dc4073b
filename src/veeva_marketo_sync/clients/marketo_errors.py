"""Marketo error codes → what to do next. Codes are strings, as Marketo sends them.

Marketo answers HTTP 200 for almost every error: the code sits in ``errors[0].code`` for a
failed call and in ``result[i].reasons[0].code`` for a skipped record.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from veeva_marketo_sync.errors import (
    FatalError,
    QuotaExhaustedError,
    RecordRejectedError,
    TransientError,
    VmsyncError,
)


class MktAction(StrEnum):
    """What the Marketo client does with one Marketo error code."""

    REAUTH = "reauth"
    """Fetch a new token and retry once; the same code with a fresh token is fatal."""
    RETRY = "retry"
    """Back off (exponential + jitter, bounded) and retry."""
    QUOTA = "quota"
    """The daily quota is spent: pause until midnight US Central, never retry-loop."""
    REJECT = "reject"
    """The record is bad: report it, dead-letter it, go on."""
    ACCEPT = "accept"
    """Skipped, but nothing is wrong (1037: lead already in that state)."""
    FATAL = "fatal"
    """Permissions, features or the request itself are wrong: stop the worker."""


_A, _T, _Q, _X, _OK, _F = (
    MktAction.REAUTH,
    MktAction.RETRY,
    MktAction.QUOTA,
    MktAction.REJECT,
    MktAction.ACCEPT,
    MktAction.FATAL,
)

MARKETO_CODES: Final[Mapping[str, MktAction]] = MappingProxyType({
    "601": _A, "602": _A,  # token invalid / expired
    "500": _T, "502": _T, "604": _T, "606": _T, "608": _T, "611": _T, "614": _T, "615": _T,
    "713": _T, "1014": _T, "1016": _T, "1019": _T, "1022": _T,
    "607": _Q,
    "1001": _X, "1002": _X, "1003": _X, "1004": _X, "1005": _X, "1006": _X, "1007": _X,
    "1008": _X, "1009": _X, "1010": _X, "1011": _X, "1013": _X, "1017": _X, "1018": _X,
    "1021": _X, "1036": _X,
    "1037": _OK,
    "600": _F, "603": _F, "605": _F, "609": _F, "610": _F, "612": _F, "613": _F, "616": _F,
    "701": _F, "703": _F, "704": _F, "1025": _F, "1026": _F,
})  # fmt: skip
"""Unknown codes reject the record when met per record, and stop the worker otherwise."""


def classify_code(code: str | None, *, per_record: bool = False) -> MktAction:
    """The action for one Marketo error code (a string; ints are accepted and converted)."""
    action = MARKETO_CODES.get(str(code) if code is not None else "")
    if action is None:
        return _X if per_record else _F
    return action


def classify_http(status: int) -> MktAction | None:
    """The action for an HTTP-level failure, or None when the status is not an error."""
    if status >= 500 or status in (408, 429):
        return _T
    if status >= 400:
        return _F
    return None


def error_for(
    action: MktAction,
    code: str,
    message: str,
    *,
    context: str,
    resets_in_seconds: float | None = None,
) -> VmsyncError:
    """The project error for a failed call (never per record) met during ``context``."""
    text = f"Marketo {code} during {context}: {message}"
    if action in (_T, _A):
        return TransientError(text)
    if action is _Q:
        return QuotaExhaustedError(
            f"{text}; calls pause until the quota resets at midnight US Central",
            resets_in_seconds=resets_in_seconds,
        )
    if action is _X:
        return RecordRejectedError(text, code=code)
    return FatalError(text, hint=_HINTS.get(code))


_HINTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "601": "the token was refused right after it was issued; check marketo.client_id",
        "603": "the API user's role lacks this permission, or an IP allow-list blocks this host",
        "703": "the feature is not enabled for this Marketo subscription",
        "1018": "a native CRM sync owns these records; see the Marketo Veeva CRM sync notes",
    }
)

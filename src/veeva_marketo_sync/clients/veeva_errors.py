"""Salesforce errors → what to do next. One table for error codes, one for HTTP statuses.

The codes come from the REST error array (``errorCode``), from sObject Collections results
(``statusCode``) and from SOAP login faults (``exceptionCode``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

import requests
from simple_salesforce.exceptions import SalesforceError

from veeva_marketo_sync.errors import FatalError, RecordRejectedError, TransientError, VmsyncError


class SfAction(StrEnum):
    """What the Veeva client does with one Salesforce error."""

    RELOGIN = "relogin"
    """Log in again, then retry the call once."""
    RETRY = "retry"
    """Back off (exponential, jittered) and retry."""
    REJECT = "reject"
    """The record is bad: report it, dead-letter it, go on."""
    FATAL = "fatal"
    """Mapping, query or permissions are wrong: stop and tell the operator."""


_R, _T, _X, _F = SfAction.RELOGIN, SfAction.RETRY, SfAction.REJECT, SfAction.FATAL

SF_ERROR_CODES: Final[Mapping[str, SfAction]] = MappingProxyType(
    {
        "INVALID_SESSION_ID": _R,
        # transient
        "UNABLE_TO_LOCK_ROW": _T,
        "REQUEST_LIMIT_EXCEEDED": _T,
        "SERVER_UNAVAILABLE": _T,
        "QUERY_TIMEOUT": _T,
        "ALL_OR_NONE_OPERATION_ROLLED_BACK": _T,  # the record was fine; another one failed
        # one bad record
        "FIELD_CUSTOM_VALIDATION_EXCEPTION": _X,
        "FIELD_FILTER_VALIDATION_EXCEPTION": _X,
        "FIELD_INTEGRITY_EXCEPTION": _X,
        "INVALID_FIELD_FOR_INSERT_UPDATE": _X,
        "INVALID_EMAIL_ADDRESS": _X,
        "STRING_TOO_LONG": _X,
        "NUMBER_OUTSIDE_VALID_RANGE": _X,
        "INVALID_TYPE_ON_FIELD_IN_RECORD": _X,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": _X,
        "REQUIRED_FIELD_MISSING": _X,
        "DUPLICATE_VALUE": _X,
        "DUPLICATES_DETECTED": _X,
        "ENTITY_IS_DELETED": _X,
        "ENTITY_IS_LOCKED": _X,  # e.g. a submitted Veeva call
        "NOT_FOUND": _X,
        "MALFORMED_ID": _X,
        "INVALID_CROSS_REFERENCE_KEY": _X,
        "INSUFFICIENT_ACCESS_OR_READONLY": _X,
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": _X,
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY": _X,  # a Veeva trigger refused the record
        # the sync itself is misconfigured
        "INVALID_FIELD": _F,
        "MALFORMED_QUERY": _F,
        "INVALID_TYPE": _F,
        "INVALID_QUERY_FILTER_OPERATOR": _F,
        "INVALID_QUERY_LOCATOR": _F,
        "INVALID_LOGIN": _F,
        "INVALID_GRANT": _F,
        "LOGIN_MUST_USE_SECURITY_TOKEN": _F,
        "API_DISABLED_FOR_ORG": _F,
        "API_CURRENTLY_DISABLED": _F,
        "FUNCTIONALITY_NOT_ENABLED": _F,
        "INVALID_OPERATION_WITH_EXPIRED_PASSWORD": _F,
        "JSON_PARSER_ERROR": _F,
    }
)
"""Unknown codes inside a collection result reject the record; anywhere else they stop."""

SF_HTTP_STATUS: Final[Mapping[int, SfAction]] = MappingProxyType(
    {
        401: _R,
        408: _T,
        420: _T,
        429: _T,
        500: _T,
        502: _T,
        503: _T,
        504: _T,
    }
)
"""Used when the body names no known code. Other 5xx retry too; other 4xx stop."""


def classify(code: str | None, status: int | None = None, *, per_record: bool = False) -> SfAction:
    """The action for one error: by code first, then by HTTP status, then by where it was met.

    A whole call is never "rejected": a code that rejects a record inside a collection result
    stops the worker when it fails a whole call, since every record would meet it.
    """
    action = SF_ERROR_CODES.get(code or "")
    if action is None and not per_record and status is not None:
        action = SF_HTTP_STATUS.get(status, _T if status >= 500 else None)
    if action is None:
        action = _X if per_record else _F
    if action is _X and not per_record:
        return _F
    return action


def error_for(action: SfAction, code: str, message: str, *, context: str) -> VmsyncError:
    """The project error for a classified Salesforce error met during ``context``."""
    text = f"Salesforce {code} during {context}: {message}"
    if action in (_T, _R):
        return TransientError(text)
    if action is _X:
        return RecordRejectedError(text, code=code)
    return FatalError(text, hint=_HINTS.get(code))


_HINTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "INVALID_FIELD": "the integration user cannot see the field, or the mapping is wrong",
        "INVALID_TYPE": "the object does not exist or the integration user cannot see it",
        "MALFORMED_QUERY": "the generated SOQL is wrong; report it with the query above",
        "INVALID_LOGIN": "check veeva.username, veeva.password and veeva.security_token",
        "INVALID_GRANT": "check veeva.client_id, veeva.client_secret and the user's credentials",
        "INVALID_QUERY_LOCATOR": "the query cursor expired; the next cycle starts it again",
    }
)


def first_error(content: Any) -> tuple[str | None, str]:
    """``(errorCode, message)`` of a REST error body (a JSON array), or ``(None, text)``."""
    if isinstance(content, Sequence) and not isinstance(content, str | bytes) and content:
        content = content[0]
    if isinstance(content, Mapping):
        code = content.get("errorCode") or content.get("statusCode") or content.get("error")
        message = content.get("message") or content.get("error_description") or ""
        fields = content.get("fields")
        if fields:
            message = f"{message} (fields: {', '.join(map(str, fields))})"
        return (str(code) if code else None), str(message)
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    return None, str(content)[:500]


def translate(exc: SalesforceError | requests.RequestException, *, context: str) -> VmsyncError:
    """Turn a simple-salesforce or requests exception into the project error for its action."""
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return TransientError(f"Salesforce did not answer during {context}: {type(exc).__name__}")
    if isinstance(exc, requests.RequestException):
        return FatalError(f"Salesforce request failed during {context}: {type(exc).__name__}")
    code, message = first_error(exc.content)
    action = classify(code, exc.status)
    return error_for(action, code or f"HTTP {exc.status}", message, context=context)

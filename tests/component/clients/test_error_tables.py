"""The two error tables: each code leads to the action the APIs' documentation demands."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from veeva_marketo_sync.clients.marketo_errors import MktAction, classify_code, classify_http
from veeva_marketo_sync.clients.veeva_errors import SfAction, classify, translate
from veeva_marketo_sync.errors import Action, FatalError


@pytest.mark.parametrize(
    ("code", "status", "per_record", "action"),
    [
        ("INVALID_SESSION_ID", 401, False, SfAction.RELOGIN),
        ("UNABLE_TO_LOCK_ROW", 400, False, SfAction.RETRY),
        ("UNABLE_TO_LOCK_ROW", None, True, SfAction.RETRY),
        ("REQUEST_LIMIT_EXCEEDED", 403, False, SfAction.RETRY),
        ("SERVER_UNAVAILABLE", 503, False, SfAction.RETRY),
        (None, 502, False, SfAction.RETRY),
        (None, 599, False, SfAction.RETRY),
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", None, True, SfAction.REJECT),
        ("INVALID_FIELD_FOR_INSERT_UPDATE", None, True, SfAction.REJECT),
        ("STRING_TOO_LONG", None, True, SfAction.REJECT),
        ("INVALID_EMAIL_ADDRESS", None, True, SfAction.REJECT),
        ("FIELD_INTEGRITY_EXCEPTION", None, True, SfAction.REJECT),
        ("ENTITY_IS_DELETED", None, True, SfAction.REJECT),
        ("SOMETHING_NEW", None, True, SfAction.REJECT),
        ("ENTITY_IS_DELETED", 404, False, SfAction.FATAL),
        ("INVALID_FIELD", 400, False, SfAction.FATAL),
        ("MALFORMED_QUERY", 400, False, SfAction.FATAL),
        ("INVALID_TYPE", 400, False, SfAction.FATAL),
        ("SOMETHING_NEW", 400, False, SfAction.FATAL),
    ],
)
def test_salesforce_table(
    code: str | None, status: int | None, per_record: bool, action: SfAction
) -> None:
    assert classify(code, status, per_record=per_record) is action


def test_salesforce_fatal_errors_say_which_query() -> None:
    exc = SalesforceMalformedRequest(
        "https://x/services/data/v59.0/query/?q=...",
        400,
        "query",
        [{"errorCode": "MALFORMED_QUERY", "message": "unexpected token: FORM"}],  # type: ignore[arg-type]
    )
    error = translate(exc, context="query SELECT Id FORM Account")
    assert isinstance(error, FatalError)
    assert "SELECT Id FORM Account" in str(error)
    assert "unexpected token" in str(error)


@pytest.mark.parametrize(
    ("code", "per_record", "action"),
    [
        ("601", False, MktAction.REAUTH),
        ("602", False, MktAction.REAUTH),
        *[(c, False, MktAction.RETRY) for c in ("604", "606", "608", "611", "615", "713")],
        ("607", False, MktAction.QUOTA),
        *[(c, True, MktAction.REJECT) for c in ("1003", "1004", "1006", "1007", "1013", "1036")],
        ("1037", True, MktAction.ACCEPT),
        ("9999", True, MktAction.REJECT),
        ("603", False, MktAction.FATAL),
        ("703", False, MktAction.FATAL),
        ("9999", False, MktAction.FATAL),
        (606, False, MktAction.RETRY),
    ],
)
def test_marketo_table(code: str | int, per_record: bool, action: MktAction) -> None:
    assert classify_code(code, per_record=per_record) is action  # type: ignore[arg-type]


def test_marketo_http_statuses() -> None:
    assert classify_http(200) is None
    assert classify_http(503) is MktAction.RETRY
    assert classify_http(413) is MktAction.FATAL
    assert Action.RETRY.value == "retry"

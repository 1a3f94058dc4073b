"""Marketo error codes and the exceptions that carry them to the envelope."""

from __future__ import annotations

from typing import Final

MESSAGES: Final[dict[str, str]] = {
    "413": "Request Entity Too Large",
    "414": "Request-URI Too Long",
    "600": "Access token not specified",
    "601": "Access token invalid",
    "602": "Access token expired",
    "604": "Request timed out",
    "605": "HTTP Method not supported",
    "606": "Max rate limit '100' exceeded with in '20' secs",
    "607": "Daily quota reached",
    "608": "API Temporarily Unavailable",
    "609": "Invalid JSON",
    "610": "Requested resource not found",
    "611": "System error",
    "612": "Invalid Content Type",
    "615": "Concurrent access limit reached",
    "701": "Required parameter missing",
    "1003": "Invalid data",
    "1004": "Lead not found",
    "1005": "Lead already exists",
    "1006": "Field not found",
    "1007": "Multiple lead match lookup criteria",
    "1011": "Field not supported",
    "1013": "Object not found",
    "1036": "Duplicate object found in input",
}


class MarketoApiError(Exception):
    """A response-level error: the whole call fails with `success:false`."""

    def __init__(self, code: str, message: str | None = None, http_status: int = 200) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, "Error")
        self.http_status = http_status
        super().__init__(f"{code}: {self.message}")


class RecordError(Exception):
    """A record-level error: that record is skipped with this reason, the call succeeds."""

    def __init__(self, code: str, message: str | None = None) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, "Error")
        super().__init__(f"{code}: {self.message}")

    def reason(self) -> dict[str, str]:
        """Return the `reasons[]` entry Marketo puts on a skipped record."""
        return {"code": self.code, "message": self.message}

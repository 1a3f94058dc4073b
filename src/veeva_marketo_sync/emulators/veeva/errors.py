"""The REST error shape of the emulated org."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered as ``[{"message", "errorCode", "fields"}]`` with an HTTP status."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        fields: list[str] | None = None,
    ) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        """The JSON array Salesforce answers with."""
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]

    def record_error(self) -> dict[str, Any]:
        """The per-record error of sObject Collections (``statusCode``, not ``errorCode``)."""
        return {"statusCode": self.error_code, "message": self.message, "fields": self.fields or []}


def malformed_query(message: str) -> ApiError:
    """A SOQL syntax error."""
    return ApiError(400, "MALFORMED_QUERY", message)


def invalid_field(message: str, fields: list[str] | None = None) -> ApiError:
    """An unknown or invisible field."""
    return ApiError(400, "INVALID_FIELD", message, fields)


def no_such_column(field: str, sobject: str) -> ApiError:
    """Salesforce's message for a field the user cannot see or that does not exist."""
    return invalid_field(
        f"No such column '{field}' on entity '{sobject}'. If you are attempting to use a "
        "custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names."
    )


def invalid_type(sobject: str) -> ApiError:
    """An unknown sObject."""
    return ApiError(
        400,
        "INVALID_TYPE",
        f"sObject type '{sobject}' is not supported. If you are attempting to use a custom "
        "object, be sure to append the '__c' after the entity name. Please reference your "
        "WSDL or the describe call for the appropriate names.",
    )


def not_found(message: str = "The requested resource does not exist") -> ApiError:
    """A missing resource or record."""
    return ApiError(404, "NOT_FOUND", message)

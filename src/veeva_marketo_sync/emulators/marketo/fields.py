"""Field definitions (lead and custom object) and per-type value validation."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from veeva_marketo_sync.emulators.marketo.clock import format_datetime
from veeva_marketo_sync.emulators.marketo.errors import RecordError

DATA_TYPES: Final = frozenset(
    {
        "string",
        "text",
        "email",
        "phone",
        "boolean",
        "integer",
        "float",
        "currency",
        "date",
        "datetime",
        "url",
        "reference",
    }
)
DEFAULT_LENGTHS: Final = {
    "string": 255,
    "email": 255,
    "phone": 255,
    "url": 255,
    "reference": 255,
    "text": 65535,
}
SEARCHABLE_TYPES: Final = frozenset({"string", "email", "integer"})
SYSTEM_LEAD_FIELDS: Final = frozenset({"id", "createdAt", "updatedAt"})
# Standard fields that Get Leads by Filter Type accepts besides custom string/email/integer ones.
STANDARD_SEARCHABLE: Final = (
    "id",
    "email",
    "cookies",
    "facebookId",
    "linkedInId",
    "twitterId",
    "leadPartitionId",
    "sfdcAccountId",
    "sfdcContactId",
    "sfdcLeadId",
    "sfdcLeadOwnerId",
    "sfdcOpptyId",
)
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")


@dataclass(frozen=True)
class FieldDef:
    """One field of the lead schema or of a custom object type."""

    name: str
    data_type: str
    display_name: str
    length: int | None = None
    read_only: bool = False
    custom: bool = False
    field_id: int = 0

    def max_length(self) -> int | None:
        """Return the enforced maximum length for string-like types."""
        if self.length is not None:
            return self.length
        return DEFAULT_LENGTHS.get(self.data_type)

    def as_json(self) -> dict[str, Any]:
        """Return the admin/describe-neutral description of the field."""
        body: dict[str, Any] = {
            "name": self.name,
            "displayName": self.display_name,
            "dataType": self.data_type,
            "readOnly": self.read_only,
            "custom": self.custom,
        }
        if self.max_length() is not None:
            body["length"] = self.max_length()
        if self.field_id:
            body["id"] = self.field_id
        return body


def _std(name: str, data_type: str, display: str, *, read_only: bool = False) -> FieldDef:
    return FieldDef(name=name, data_type=data_type, display_name=display, read_only=read_only)


STANDARD_LEAD_FIELDS: Final[tuple[FieldDef, ...]] = (
    _std("id", "integer", "Id", read_only=True),
    _std("email", "email", "Email Address"),
    _std("firstName", "string", "First Name"),
    _std("lastName", "string", "Last Name"),
    _std("middleName", "string", "Middle Name"),
    _std("salutation", "string", "Salutation"),
    _std("title", "string", "Job Title"),
    _std("phone", "phone", "Phone Number"),
    _std("mobilePhone", "phone", "Mobile Phone Number"),
    _std("fax", "phone", "Fax Number"),
    _std("address", "text", "Address"),
    _std("city", "string", "City"),
    _std("state", "string", "State"),
    _std("postalCode", "string", "Postal Code"),
    _std("country", "string", "Country"),
    _std("company", "string", "Company Name"),
    _std("website", "url", "Website"),
    _std("dateOfBirth", "date", "Date of Birth"),
    _std("unsubscribed", "boolean", "Unsubscribed"),
    _std("unsubscribedReason", "text", "Unsubscribed Reason"),
    _std("doNotCall", "boolean", "Do Not Call"),
    _std("doNotCallReason", "string", "Do Not Call Reason"),
    _std("emailInvalid", "boolean", "Email Invalid"),
    _std("leadSource", "string", "Person Source"),
    _std("leadStatus", "string", "Lead Status"),
    _std("leadScore", "integer", "Lead Score"),
    _std("externalCompanyId", "string", "External Company Id"),
    _std("sfdcAccountId", "string", "SFDC Account ID", read_only=True),
    _std("sfdcContactId", "string", "SFDC Contact ID", read_only=True),
    _std("sfdcLeadId", "string", "SFDC Lead ID", read_only=True),
    _std("cookies", "string", "Cookies"),
    _std("createdAt", "datetime", "Created At", read_only=True),
    _std("updatedAt", "datetime", "Updated At", read_only=True),
)
DEFAULT_LEAD_FIELDS: Final = ("id", "email", "updatedAt", "createdAt", "firstName", "lastName")


def validate_name(name: object) -> str:
    """Check an API name (letters, digits, underscore, starting with a letter)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"invalid API name {name!r}")
    return name


def _as_string(field: FieldDef, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RecordError("1003", f"Invalid value for field '{field.name}'")
    text = str(value)
    limit = field.max_length()
    if limit is not None and len(text) > limit:
        raise RecordError(
            "1003", f"Value for field '{field.name}' exceeds max length of {limit} characters"
        )
    return text


def _as_bool(field: FieldDef, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
        return value.strip().lower() in {"true", "1"}
    if isinstance(value, int) and value in {0, 1}:
        return bool(value)
    raise RecordError("1003", f"Invalid boolean value for field '{field.name}'")


def _as_int(field: FieldDef, value: Any) -> int:
    if isinstance(value, bool):
        raise RecordError("1003", f"Invalid integer value for field '{field.name}'")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise RecordError("1003", f"Invalid integer value for field '{field.name}'")


def _as_float(field: FieldDef, value: Any) -> float:
    if isinstance(value, bool):
        raise RecordError("1003", f"Invalid float value for field '{field.name}'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise RecordError("1003", f"Invalid float value for field '{field.name}'")


def _as_date(field: FieldDef, value: Any) -> str:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            pass
    raise RecordError("1003", f"Invalid date value '{value}' for field '{field.name}'")


def parse_datetime(value: str) -> datetime:
    """Parse the ISO-8601 forms Marketo accepts (`Z`, offsets, `+0000`, or a date alone)."""
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00"))
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _as_datetime(field: FieldDef, value: Any) -> str:
    if isinstance(value, str):
        try:
            return format_datetime(parse_datetime(value))
        except ValueError:
            pass
    raise RecordError("1003", f"Invalid datetime value '{value}' for field '{field.name}'")


def _as_email(field: FieldDef, value: Any) -> str:
    text = _as_string(field, value).strip()
    if not text.isascii() or not _EMAIL.match(text):
        raise RecordError("1003", f"Invalid email address '{value}' for field '{field.name}'")
    return text


_COERCERS: Final[dict[str, Callable[[FieldDef, Any], Any]]] = {
    "boolean": _as_bool,
    "integer": _as_int,
    "float": _as_float,
    "currency": _as_float,
    "date": _as_date,
    "datetime": _as_datetime,
    "email": _as_email,
}


def coerce_value(field: FieldDef, value: Any) -> Any:
    """Validate `value` for the field's type and return the stored form.

    Raises:
        RecordError: 1003 when the value does not fit the type.
    """
    if value is None:
        return None
    coercer: Callable[[FieldDef, Any], Any] = _COERCERS.get(field.data_type, _as_string)
    return coercer(field, value)


def index_key(value: Any) -> str:
    """Return the normalised form used to look records up (lookups are case-insensitive)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()

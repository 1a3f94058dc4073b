"""Checks on reverse edits (Marketo → Veeva), which are untrusted input.

An edit reaches Veeva only if it is a bidirectional contact field, comes from a source the
config trusts for that field, and its value fits the field's describe metadata.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from veeva_marketo_sync.processors.contact_fields import is_contact_field
from veeva_marketo_sync.processors.mapping import ReverseEdits
from veeva_marketo_sync.processors.transforms import TransformError, to_date, to_datetime

EditStatus = Literal["accepted", "held", "invalid"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_PHONE = re.compile(r"^\+?[0-9 ().\-/]*[0-9][0-9 ().\-/]*((x|ext\.?)\s*[0-9]+)?$", re.IGNORECASE)
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_TEXT_TYPES = frozenset({"string", "textarea", "url", "email", "phone", "picklist", "combobox"})
# Salesforce's own limits when describe reports no length.
_DEFAULT_LENGTHS = {"email": 80, "phone": 40}


@dataclass(frozen=True)
class FieldDescribe:
    """What Salesforce ``describe`` says about one field, as far as validation needs it."""

    name: str
    type: str
    length: int = 0
    nillable: bool = True
    updateable: bool = True
    picklist_values: tuple[str, ...] = ()

    @classmethod
    def from_describe(cls, field: Mapping[str, object]) -> FieldDescribe:
        """Read a field entry of a Salesforce describe result.

        Args:
            field: One item of ``describe()['fields']``.

        Returns:
            The field's validation metadata (inactive picklist values left out).
        """
        values = field.get("picklistValues") or []
        active = tuple(
            str(item["value"])
            for item in values  # type: ignore[attr-defined]
            if isinstance(item, Mapping) and item.get("active", True) and "value" in item
        )
        length = field.get("length")
        return cls(
            name=str(field.get("name", "")),
            type=str(field.get("type", "string")),
            length=length if isinstance(length, int) else 0,
            nillable=bool(field.get("nillable", True)),
            updateable=bool(field.get("updateable", True)),
            picklist_values=active,
        )


@dataclass(frozen=True)
class ValueCheck:
    """Whether a value may be written to a field, the value to write, or why not."""

    ok: bool
    value: object = None
    reason: str | None = None


def _bad(describe: FieldDescribe, why: str) -> ValueCheck:
    return ValueCheck(ok=False, reason=f"{describe.name}: {why}")


def _check_boolean(describe: FieldDescribe, value: object) -> ValueCheck:
    if isinstance(value, bool):
        return ValueCheck(ok=True, value=value)
    if isinstance(value, int) and value in (0, 1):
        return ValueCheck(ok=True, value=bool(value))
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return ValueCheck(ok=True, value=value.strip().lower() in _TRUE)
    return _bad(describe, f"{value!r} is not a boolean")


def _check_temporal(describe: FieldDescribe, value: object) -> ValueCheck:
    try:
        formatted = to_date(value) if describe.type == "date" else to_datetime(value)
    except TransformError as exc:
        return _bad(describe, str(exc))
    return ValueCheck(ok=True, value=formatted)


def _check_text(describe: FieldDescribe, value: object) -> ValueCheck:
    if not isinstance(value, str):
        return _bad(describe, f"{value!r} is not text")
    text = value.strip()
    limit = describe.length or _DEFAULT_LENGTHS.get(describe.type, 0)
    if limit and len(text) > limit:
        return _bad(describe, f"{len(text)} characters, more than the field's {limit}")
    if describe.type == "email" and not _EMAIL.match(text):
        return _bad(describe, f"{text!r} is not an email address")
    if describe.type == "phone" and not _PHONE.match(text):
        return _bad(describe, f"{text!r} is not a phone number")
    if (
        describe.type == "picklist"
        and describe.picklist_values
        and text not in describe.picklist_values
    ):
        allowed = ", ".join(describe.picklist_values)
        return _bad(describe, f"{text!r} is not one of the picklist values ({allowed})")
    return ValueCheck(ok=True, value=text)


def _check_empty(describe: FieldDescribe) -> ValueCheck:
    if not describe.nillable:
        return _bad(describe, "the field is required and cannot be cleared")
    return ValueCheck(ok=True, value=None)


def validate_value(describe: FieldDescribe, value: object) -> ValueCheck:
    """Check a proposed value against the field's describe metadata.

    Args:
        describe: The Veeva field's metadata.
        value: The value to write (Veeva representation).

    Returns:
        ``ok`` with the value to send (trimmed, booleans and dates normalised), or the reason
        it may not be written.
    """
    if not describe.updateable:
        return _bad(describe, "the field is read-only for the integration user")
    if describe.type == "boolean":
        return _check_boolean(describe, value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return _check_empty(describe)
    if describe.type in ("date", "datetime"):
        return _check_temporal(describe, value)
    if describe.type in _TEXT_TYPES:
        return _check_text(describe, value)
    return _bad(describe, f"fields of type {describe.type!r} are not written back to Veeva")


def untrusted_reason(trust: ReverseEdits, source: str | None, marketo_field: str) -> str | None:
    """Tell why an edit from a Marketo change source may not change a field, if it may not.

    Args:
        trust: The mapping's reverse-edit trust policy.
        source: The Marketo change source (activity attribute ``Source``), if known.
        marketo_field: The Marketo field the edit changes.

    Returns:
        The reason to hold the edit, or ``None`` when the source is trusted for the field.
    """
    if source is None:
        return None
    fields = trust.untrusted_sources.get(source, ())
    if marketo_field in fields:
        return (
            f"{marketo_field} changed by {source!r}, a source not trusted to change identity "
            "fields; held for review"
        )
    return None


@dataclass(frozen=True)
class EditVerdict:
    """What happens to one reverse edit: accepted with the value to write, or held/invalid."""

    status: EditStatus
    marketo_field: str
    veeva_field: str | None = None
    value: object = None
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        """True when the edit may be written to Veeva."""
        return self.status == "accepted"


def check_reverse_edit(
    *,
    marketo_field: str,
    value: object,
    source: str | None,
    reverse_fields: Mapping[str, str],
    describes: Mapping[str, FieldDescribe],
    trust: ReverseEdits,
) -> EditVerdict:
    """Run every check an edit from Marketo must pass before it may reach Veeva.

    Args:
        marketo_field: The Marketo field that changed.
        value: The new value in Veeva's representation.
        source: The Marketo change source, if known.
        reverse_fields: Marketo field → Veeva field of the bidirectional fields.
        describes: Veeva Account field → describe metadata, for the visible fields.
        trust: The reverse-edit trust policy.

    Returns:
        ``accepted`` with the Veeva field and value, ``held`` (untrusted, or not a field the
        sync writes) or ``invalid`` (the value does not fit the field), each with a reason.
    """
    veeva_field = reverse_fields.get(marketo_field)
    if veeva_field is None:
        reason = f"{marketo_field} is not a bidirectional field; Marketo edits to it stay there"
        return EditVerdict("held", marketo_field, reason=reason)
    if not is_contact_field(veeva_field):
        reason = f"Account.{veeva_field} is not a Person Account contact field; never written"
        return EditVerdict("held", marketo_field, veeva_field, reason=reason)
    distrust = untrusted_reason(trust, source, marketo_field)
    if distrust is not None:
        return EditVerdict("held", marketo_field, veeva_field, value, distrust)
    describe = describes.get(veeva_field)
    if describe is None:
        reason = f"Account.{veeva_field} is not visible to the integration user"
        return EditVerdict("held", marketo_field, veeva_field, value, reason)
    check = validate_value(describe, value)
    if not check.ok:
        return EditVerdict("invalid", marketo_field, veeva_field, value, check.reason)
    return EditVerdict("accepted", marketo_field, veeva_field, check.value)

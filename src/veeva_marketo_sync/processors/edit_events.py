"""Between the event contracts and the conflict rules: changes in, contact-edit values out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from veeva_marketo_sync.processors.conflicts import FieldChange, FieldRule
from veeva_marketo_sync.processors.mapping_rules import field_value, has_field
from veeva_marketo_sync.processors.transforms import TransformError, to_datetime

MARKETO_SOURCE_ATTRIBUTE = "Source"


class EditEventError(ValueError):
    """An edit event lacks what the conflict rules need: dead-letter it."""


def _instant(value: object, what: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        text = to_datetime(value)
    except TransformError as exc:
        msg = f"{what}: {exc}"
        raise EditEventError(msg) from exc
    if not isinstance(text, str):
        msg = f"{what} is missing"
        raise EditEventError(msg)
    return datetime.fromisoformat(text)


def change_from_lead_edit(edit: Mapping[str, object]) -> tuple[str, FieldChange]:
    """Read a ``LeadEdit`` event (``schemas/avsc/lead_edit.avsc``) as a Marketo-side change.

    Args:
        edit: The decoded event.

    Returns:
        The Marketo field name and the change (its source is the activity's ``Source``).

    Raises:
        EditEventError: If the field name or the activity time is missing or malformed.
    """
    field = edit.get("field")
    if not isinstance(field, str) or not field:
        msg = f"lead edit {edit.get('activity_id')} names no field"
        raise EditEventError(msg)
    attributes = edit.get("attributes")
    source = attributes.get(MARKETO_SOURCE_ATTRIBUTE) if isinstance(attributes, Mapping) else None
    at = _instant(edit.get("activity_time"), f"lead edit {edit.get('activity_id')} time")
    change = FieldChange(
        "marketo",
        edit.get("new_value"),
        at,
        source=source if isinstance(source, str) else None,
    )
    return field, change


def changes_from_veeva_record(
    record: Mapping[str, object],
    rules: Mapping[str, FieldRule],
    *,
    at: datetime,
    by_sync: bool = False,
) -> dict[str, FieldChange]:
    """The Veeva-side changes of every bidirectional field a Person Account record carries.

    Fields the record does not carry (not visible) are left out; unchanged ones come out as
    changes too and :func:`~veeva_marketo_sync.processors.conflicts.decide` drops them.

    Args:
        record: The Account record (``after`` of a change event).
        rules: Veeva field → rule, from :func:`~.conflicts.field_rules`.
        at: When the record changed (``SystemModstamp``).
        by_sync: True when ``LastModifiedById`` is the sync's own integration user.

    Returns:
        Veeva field → change.
    """
    return {
        name: FieldChange("veeva", field_value(record, name), at, by_sync=by_sync)
        for name in rules
        if has_field(record, name)
    }


def contact_edit_value(value: object) -> str | None:
    """Render a value for a ``ContactEdit`` event, whose field values are strings or null.

    Args:
        value: The value to write to Veeva.

    Returns:
        ``None``, ``"true"``/``"false"`` for booleans, or the value as text (whole floats
        without ``.0``).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

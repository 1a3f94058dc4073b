"""The Person Account contact fields: the only Veeva fields the sync may ever write."""

from __future__ import annotations

from collections.abc import Mapping

PERSON_ACCOUNT_OBJECT = "Account"

CONTACT_FIELDS: frozenset[str] = frozenset(
    {
        "FirstName",
        "LastName",
        "Salutation",
        "PersonEmail",
        "Phone",
        "PersonMobilePhone",
        "PersonTitle",
        "PersonHasOptedOutOfEmail",
        "PersonDoNotCall",
        "PersonOtherPhone",
        "Fax",
        "PersonBirthdate",
    }
)

# Keys a Salesforce write payload carries besides field values.
_PAYLOAD_ENVELOPE_KEYS = frozenset({"Id", "attributes"})


class ForbiddenVeevaWriteError(ValueError):
    """A write to Veeva names an object or field outside the contact whitelist.

    Never retry: the event is a bug or a tampered edit and belongs in the dead-letter topic.
    """


def is_contact_field(field: str) -> bool:
    """Tell whether a Person Account field may be written back to Veeva.

    Args:
        field: The Account field API name.

    Returns:
        True for the standard contact fields, the ``PersonMailing*`` address fields and any
        person custom field (``__pc``).
    """
    if field in CONTACT_FIELDS:
        return True
    if field.startswith("PersonMailing") and len(field) > len("PersonMailing"):
        return True
    return field.endswith("__pc") and len(field) > len("__pc")


def guard_veeva_write(object_name: str, payload: Mapping[str, object]) -> None:
    """Refuse a Veeva write that touches anything but Person Account contact fields.

    Args:
        object_name: The sObject the write targets.
        payload: The field values to write (``Id`` and ``attributes`` are allowed).

    Raises:
        ForbiddenVeevaWriteError: If the object is not Account or a field is not whitelisted.
    """
    if object_name != PERSON_ACCOUNT_OBJECT:
        msg = (
            f"refusing to write {object_name}: the sync writes only the contact fields "
            f"of Person Accounts ({PERSON_ACCOUNT_OBJECT})"
        )
        raise ForbiddenVeevaWriteError(msg)
    forbidden = sorted(
        key for key in payload if key not in _PAYLOAD_ENVELOPE_KEYS and not is_contact_field(key)
    )
    if forbidden:
        msg = (
            f"refusing to write Account fields {', '.join(forbidden)}: only Person Account "
            "contact fields (and __pc fields) may be written to Veeva"
        )
        raise ForbiddenVeevaWriteError(msg)

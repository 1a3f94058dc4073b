from __future__ import annotations

import pytest

from veeva_marketo_sync.processors.contact_fields import (
    ForbiddenVeevaWriteError,
    guard_veeva_write,
    is_contact_field,
)
from veeva_marketo_sync.processors.edit_validation import (
    FieldDescribe,
    check_reverse_edit,
    untrusted_reason,
    validate_value,
)
from veeva_marketo_sync.processors.mapping import (
    ReverseEdits,
    load_mapping,
    reverse_bidirectional_fields,
)

DESCRIBE = {
    "fields": [
        {
            "name": "PersonEmail",
            "type": "email",
            "length": 80,
            "nillable": True,
            "updateable": True,
        },
        {"name": "LastName", "type": "string", "length": 10, "nillable": False, "updateable": True},
        {"name": "FirstName", "type": "string", "length": 40, "nillable": True, "updateable": True},
        {"name": "Phone", "type": "phone", "length": 40, "nillable": True, "updateable": True},
        {
            "name": "Salutation",
            "type": "picklist",
            "length": 40,
            "nillable": True,
            "updateable": True,
            "picklistValues": [
                {"value": "Dr.", "active": True},
                {"value": "Mr.", "active": True},
                {"value": "Sir", "active": False},
            ],
        },
        {"name": "PersonDoNotCall", "type": "boolean", "nillable": False, "updateable": True},
        {"name": "PersonBirthdate", "type": "date", "nillable": True, "updateable": True},
        {
            "name": "PersonTitle",
            "type": "string",
            "length": 80,
            "nillable": True,
            "updateable": False,
        },
        {"name": "AnnualRevenue", "type": "currency", "nillable": True, "updateable": True},
    ]
}
FIELDS: dict[str, FieldDescribe] = {
    str(f["name"]): FieldDescribe.from_describe(f) for f in DESCRIBE["fields"]
}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("PersonEmail", " ada@example.com ", "ada@example.com"),
        ("PersonEmail", None, None),
        ("LastName", "Lovelace", "Lovelace"),
        ("Phone", "+44 (20) 7946-0000 x12", "+44 (20) 7946-0000 x12"),
        ("Salutation", "Dr.", "Dr."),
        ("PersonDoNotCall", "true", True),
        ("PersonDoNotCall", 0, False),
        ("PersonBirthdate", "1815-12-10", "1815-12-10"),
        ("FirstName", "", None),
    ],
)
def test_valid_values_pass_normalised(field: str, value: object, expected: object) -> None:
    check = validate_value(FIELDS[field], value)
    assert check.ok, check.reason
    assert check.value == expected


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("PersonEmail", "ada@", "is not an email address"),
        ("PersonEmail", "ada at example.com", "is not an email address"),
        ("PersonEmail", "a@" + "b" * 80 + ".com", "more than the field's 80"),
        ("LastName", "Wollstonecraft", "more than the field's 10"),
        ("LastName", None, "required and cannot be cleared"),
        ("LastName", "  ", "required and cannot be cleared"),
        ("LastName", 42, "is not text"),
        ("Phone", "call me maybe", "is not a phone number"),
        ("Salutation", "Sir", "is not one of the picklist values (Dr., Mr.)"),
        ("PersonDoNotCall", None, "is not a boolean"),
        ("PersonDoNotCall", "perhaps", "is not a boolean"),
        ("PersonBirthdate", "10/12/1815", "is not an ISO 8601 date"),
        ("PersonTitle", "Countess", "read-only"),
        ("AnnualRevenue", 10, "type 'currency' are not written back"),
    ],
)
def test_invalid_values_are_refused_with_a_reason(field: str, value: object, reason: str) -> None:
    check = validate_value(FIELDS[field], value)
    assert not check.ok
    assert check.reason is not None
    assert check.reason.startswith(f"{field}: ")
    assert reason in check.reason


def test_web_forms_may_not_change_identity_fields_by_default() -> None:
    trust = load_mapping().reverse_edits
    assert untrusted_reason(trust, "Web form fillout", "email") is not None
    assert untrusted_reason(trust, "Web form fillout", "phone") is None
    assert untrusted_reason(trust, "Web service API", "email") is None
    assert untrusted_reason(trust, None, "email") is None
    assert untrusted_reason(ReverseEdits(untrusted_sources={}), "Web form fillout", "email") is None


def _check(marketo_field: str, value: object, source: str | None = "Marketo Flow action"):  # type: ignore[no-untyped-def]
    mapping = load_mapping()
    return check_reverse_edit(
        marketo_field=marketo_field,
        value=value,
        source=source,
        reverse_fields=reverse_bidirectional_fields(mapping),
        describes=FIELDS,
        trust=mapping.reverse_edits,
    )


def test_an_acceptable_edit_names_the_veeva_field() -> None:
    verdict = _check("email", "ada@example.com")
    assert verdict.accepted
    assert (verdict.veeva_field, verdict.value) == ("PersonEmail", "ada@example.com")


@pytest.mark.parametrize(
    ("field", "value", "source", "status", "reason"),
    [
        ("email", "x@y.org", "Web form fillout", "held", "not trusted to change identity"),
        ("veevaNPI", "1", None, "held", "not a bidirectional field"),
        ("mobilePhone", "+1 555", None, "held", "not visible to the integration user"),
        ("email", "nope", None, "invalid", "is not an email address"),
        ("lastName", "", None, "invalid", "required"),
    ],
)
def test_edits_that_may_not_reach_veeva(
    field: str, value: object, source: str | None, status: str, reason: str
) -> None:
    verdict = _check(field, value, source)
    assert not verdict.accepted
    assert verdict.status == status
    assert verdict.reason is not None
    assert reason in verdict.reason


def test_a_bidirectional_field_outside_the_whitelist_is_held() -> None:
    verdict = check_reverse_edit(
        marketo_field="company",
        value="Acme",
        source=None,
        reverse_fields={"company": "Name"},
        describes={"Name": FieldDescribe("Name", "string", 255)},
        trust=ReverseEdits(),
    )
    assert verdict.status == "held"
    assert "not a Person Account contact field" in (verdict.reason or "")


@pytest.mark.parametrize(
    ("field", "allowed"),
    [
        ("PersonEmail", True),
        ("PersonMailingPostalCode", True),
        ("PersonOtherPhone", True),
        ("Preferred_Channel__pc", True),
        ("__pc", False),
        ("PersonMailing", False),
        ("Name", False),
        ("OwnerId", False),
        ("Specialty_1_vod__c", False),
        ("IsPersonAccount", False),
    ],
)
def test_contact_field_whitelist(field: str, allowed: bool) -> None:
    assert is_contact_field(field) is allowed


def test_the_guard_refuses_anything_but_contact_fields() -> None:
    guard_veeva_write(
        "Account",
        {
            "Id": "001A",
            "attributes": {"type": "Account"},
            "PersonEmail": "a@b.org",
            "Custom__pc": 1,
        },
    )
    with pytest.raises(ForbiddenVeevaWriteError, match="OwnerId, Specialty_1_vod__c"):
        guard_veeva_write("Account", {"Id": "001A", "Specialty_1_vod__c": "x", "OwnerId": "y"})
    with pytest.raises(ForbiddenVeevaWriteError, match="refusing to write Call2_vod__c"):
        guard_veeva_write("Call2_vod__c", {"Status_vod__c": "Saved_vod"})

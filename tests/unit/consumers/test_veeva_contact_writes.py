"""Veeva writer rules: whitelist, describe validation and coercion, merge per Account, outcomes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veeva_marketo_sync.clients.ports import SfDescribe, SfField, WriteResult
from veeva_marketo_sync.consumers.batching import SourceRef
from veeva_marketo_sync.consumers.contact_writes import (
    INVALID_VALUE,
    REFUSED_FIELD,
    AccountWrite,
    CheckedEdit,
    ContactEdit,
    Refusal,
    check_edit,
    classify_results,
    contact_edit_from_record,
    field_describes,
    plan_writes,
)
from veeva_marketo_sync.errors import FatalError

DESCRIBE = field_describes(
    SfDescribe(
        "Account",
        (
            SfField("FirstName", "string", 40, updateable=True),
            SfField("PersonEmail", "email", 80, updateable=True),
            SfField("PersonHasOptedOutOfEmail", "boolean", updateable=True, nillable=False),
            SfField("PersonBirthdate", "date", updateable=True),
            SfField("Phone", "phone", 40, updateable=True),
            SfField("NPI_vod__c", "string", 10, updateable=True),
        ),
    )
)


def edit(account: str = "001A", offset: int = 0, **fields: str | None) -> ContactEdit:
    return ContactEdit(account, fields, SourceRef("edits", 0, offset))


def checked(account: str, offset: int, **values: object) -> CheckedEdit:
    return CheckedEdit(account, values, SourceRef("edits", 0, offset))


def test_a_contact_field_edit_is_accepted_with_its_value() -> None:
    result = check_edit(edit(PersonEmail=" a@example.com ", FirstName="Ann"), DESCRIBE)

    assert isinstance(result, CheckedEdit)
    assert dict(result.values) == {"PersonEmail": "a@example.com", "FirstName": "Ann"}


def test_a_field_outside_the_contact_whitelist_is_refused_whole() -> None:
    result = check_edit(edit(FirstName="Ann", NPI_vod__c="1234567890"), DESCRIBE)

    assert isinstance(result, Refusal)
    assert result.error_class == REFUSED_FIELD
    assert "NPI_vod__c" in result.message


def test_a_contact_field_the_mapping_does_not_sync_back_is_refused() -> None:
    result = check_edit(edit(Phone="+1 555 0100"), DESCRIBE, frozenset({"FirstName"}))

    assert isinstance(result, Refusal)
    assert result.error_class == REFUSED_FIELD
    assert "Phone" in result.message


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("false", False), ("TRUE", True), ("0", False)],
)
def test_boolean_text_is_written_as_a_boolean(text: str, value: bool) -> None:
    result = check_edit(edit(PersonHasOptedOutOfEmail=text), DESCRIBE)

    assert isinstance(result, CheckedEdit)
    assert result.values["PersonHasOptedOutOfEmail"] is value


def test_dates_are_normalised() -> None:
    result = check_edit(edit(PersonBirthdate="1970-01-02T00:00:00Z"), DESCRIBE)

    assert isinstance(result, CheckedEdit)
    assert result.values["PersonBirthdate"] == "1970-01-02"


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"PersonEmail": "not-an-email"}, "not an email address"),
        ({"FirstName": "x" * 41}, "more than the field's 40"),
        ({"PersonHasOptedOutOfEmail": "maybe"}, "not a boolean"),
        ({"PersonHasOptedOutOfEmail": None}, "not a boolean"),
        ({"Fax": "+1 555"}, "not visible to the integration user"),
    ],
)
def test_an_invalid_value_is_refused_with_the_reason(fields: dict[str, str], needle: str) -> None:
    result = check_edit(edit(**fields), DESCRIBE)

    assert isinstance(result, Refusal)
    assert result.error_class == INVALID_VALUE
    assert needle in result.message


def test_clearing_a_nillable_field_sends_null() -> None:
    result = check_edit(edit(Phone=None), DESCRIBE)

    assert isinstance(result, CheckedEdit)
    assert dict(result.values) == {"Phone": None}


def test_edits_of_one_account_merge_later_values_winning() -> None:
    edits = [
        checked("001A", 0, PersonEmail="a@x.com", FirstName="Ann"),
        checked("001B", 1, FirstName="Bob"),
        checked("001A", 2, PersonEmail="a2@x.com"),
    ]

    [batch] = plan_writes(edits)

    assert [w.account_id for w in batch] == ["001A", "001B"]
    assert batch[0].record() == {"Id": "001A", "PersonEmail": "a2@x.com", "FirstName": "Ann"}
    assert [s.offset for s in batch[0].sources] == [0, 2]


def test_a_full_batch_opens_the_next_but_a_known_account_still_merges() -> None:
    edits = [checked("A", 0, FirstName="1"), checked("B", 1, FirstName="2")]
    edits += [checked("A", 2, FirstName="3"), checked("C", 3, FirstName="4")]

    batches = plan_writes(edits, max_size=2)

    assert [[w.account_id for w in b] for b in batches] == [["A", "B"], ["C"]]
    assert batches[0][0].values["FirstName"] == "3"


def test_batch_size_is_bounded_by_sobject_collections() -> None:
    with pytest.raises(ValueError, match="between 1 and 200"):
        plan_writes([], max_size=201)


@given(
    st.lists(
        st.tuples(st.sampled_from("ABCDEFG"), st.sampled_from(["FirstName", "Phone"])),
        max_size=60,
    ),
    st.integers(1, 5),
)
def test_batching_keeps_every_edit_once_and_the_last_value_per_field(
    rows: list[tuple[str, str]], size: int
) -> None:
    edits = [checked(account, i, **{field: str(i)}) for i, (account, field) in enumerate(rows)]

    batches = plan_writes(edits, max_size=size)

    offsets = [s.offset for b in batches for w in b for s in w.sources]
    assert sorted(offsets) == list(range(len(rows)))
    assert all(len(b) <= size for b in batches)
    assert all(len({w.account_id for w in b}) == len(b) for b in batches)
    last: dict[tuple[str, str], str] = {}
    for i, (account, field) in enumerate(rows):
        last[account, field] = str(i)
    final: dict[tuple[str, str], object] = {}
    for batch in batches:
        for write in batch:
            for field, value in write.values.items():
                final[write.account_id, field] = value
    assert final == last


def test_results_sort_writes_into_written_rejected_and_retry() -> None:
    writes = [
        AccountWrite(a, {"FirstName": "x"}, (SourceRef("t", 0, i),)) for i, a in enumerate("ABC")
    ]
    results = [
        WriteResult("A", ok=True),
        WriteResult("B", ok=False, error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION", message="No!"),
        WriteResult("C", ok=False, error_code="UNABLE_TO_LOCK_ROW", message="busy", retriable=True),
    ]

    outcome = classify_results(writes, results)

    assert [w.account_id for w in outcome.written] == ["A"]
    assert [r.reason() for r in outcome.rejected] == ["FIELD_CUSTOM_VALIDATION_EXCEPTION: No!"]
    assert [w.account_id for w in outcome.retry] == ["C"]


def test_a_short_answer_is_a_client_bug() -> None:
    with pytest.raises(FatalError):
        classify_results([AccountWrite("A", {})], [])


def test_a_decoded_record_becomes_an_edit() -> None:
    ref = SourceRef("t", 1, 5)
    record = {"account_id": "001A", "fields": {"FirstName": "Ann", "Phone": None}}

    assert contact_edit_from_record(ref, record) == ContactEdit(
        "001A", {"FirstName": "Ann", "Phone": None}, ref
    )
    with pytest.raises(ValueError, match="map field names"):
        contact_edit_from_record(ref, {"account_id": "001A", "fields": {"FirstName": 3}})

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from veeva_marketo_sync.processors.conflicts import FieldChange, FieldState, decide, field_rules
from veeva_marketo_sync.processors.edit_events import (
    EditEventError,
    change_from_lead_edit,
    changes_from_veeva_record,
    contact_edit_value,
)
from veeva_marketo_sync.processors.mapping import load_mapping
from veeva_marketo_sync.processors.mapping_rules import MappingRules, wire_value

RULES = field_rules(load_mapping())
AT = datetime(2024, 5, 2, 8, 15, tzinfo=UTC)


def _person() -> dict[str, object]:
    path = Path(__file__).parent / "golden" / "person_account.json"
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_lead_edits_become_marketo_changes() -> None:
    field, change = change_from_lead_edit(
        {
            "lead_id": 7,
            "field": "email",
            "old_value": "a@x.org",
            "new_value": "b@x.org",
            "activity_id": 99,
            "activity_time": datetime(2024, 5, 2, 9, tzinfo=UTC),
            "attributes": {"Source": "Web form fillout"},
        }
    )
    assert field == "email"
    assert change == FieldChange(
        "marketo", "b@x.org", datetime(2024, 5, 2, 9, tzinfo=UTC), source="Web form fillout"
    )
    _, millis = change_from_lead_edit(
        {"field": "email", "new_value": None, "activity_time": 1714640400000}
    )
    assert millis.at == datetime(2024, 5, 2, 9, tzinfo=UTC)
    assert millis.source is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"field": "", "activity_time": 1}, "names no field"),
        ({"field": "email"}, "time is missing"),
        ({"field": "email", "activity_time": "soon"}, "not an ISO 8601"),
    ],
)
def test_broken_lead_edits_are_refused(edit: dict[str, object], message: str) -> None:
    with pytest.raises(EditEventError, match=message):
        change_from_lead_edit(edit)


def test_veeva_records_give_one_change_per_visible_bidirectional_field() -> None:
    record = _person()
    del record["Salutation"]
    changes = changes_from_veeva_record(record, RULES, at=AT, by_sync=True)
    assert "Salutation" not in changes
    assert "NPI_vod__c" not in changes
    assert changes["PersonEmail"] == FieldChange(
        "veeva", " Ada.Lovelace@Example.COM ", AT, by_sync=True
    )
    assert len(changes) == len(RULES) - 1


def test_a_veeva_snapshot_then_the_same_record_again_writes_once() -> None:
    record = _person()
    states: dict[str, FieldState] = {}
    writes = 0
    for _ in range(2):
        for name, change in changes_from_veeva_record(record, RULES, at=AT).items():
            decision = decide(states.get(name), change, RULES[name])
            states[name] = decision.state
            writes += len(decision.writes)
    assert writes == len(RULES)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (True, "true"), (False, "false"), (95.0, "95"), (1.5, "1.5"), ("x", "x")],
)
def test_contact_edit_values_are_strings(value: object, expected: str | None) -> None:
    assert contact_edit_value(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2024, 5, 1, 10, tzinfo=UTC), "2024-05-01T10:00:00Z"),
        (date(2024, 5, 1), "2024-05-01"),
        (Decimal("95.5"), 95.5),
        (7, 7),
        (None, None),
        (["a"], "['a']"),
    ],
)
def test_wire_values_fit_the_command_schema(value: object, expected: object) -> None:
    assert wire_value(value) == expected


def test_commands_as_avro_records() -> None:
    rules = MappingRules(load_mapping())
    upsert = rules.to_upsert("Account", {**_person(), "CreatedDate": date(2024, 5, 1)})
    record = upsert.to_record(["e1"])
    assert record["target_kind"] == "lead"
    assert record["target_name"] == "leads"
    assert record["veeva_id"] == "001000000000001AAA"
    assert record["source_event_ids"] == ["e1"]
    assert record["fields"] == upsert.fields
    assert upsert.fields["veevaCreatedDate"] == "2024-05-01T00:00:00Z"
    delete = rules.on_delete("Call2_vod__c", "a04A")
    assert delete is not None
    assert delete.to_record() == {
        "target_kind": "delete",
        "target_name": "veevaCall_c",
        "lookup_field": "veevaCallId",
        "veeva_id": "a04A",
        "fields": {},
        "source_event_ids": [],
    }
    assert dataclasses.is_dataclass(delete)


def test_commands_fit_the_checked_in_avro_contract() -> None:
    from importlib import resources

    from fastavro import parse_schema
    from fastavro.validation import validate

    text = (
        resources.files("veeva_marketo_sync.schemas") / "avsc" / "marketo_upsert.avsc"
    ).read_text(encoding="utf-8")
    schema = parse_schema(json.loads(text))
    rules = MappingRules(load_mapping())
    upsert = rules.to_upsert(
        "Call2_Key_Message_vod__c",
        {
            "Id": "a05A",
            "Account_vod__c": "001A",
            "Duration_vod__c": Decimal("95"),
            "Call_Date_vod__c": date(2024, 5, 1),
        },
    )
    delete = rules.on_delete("Account", "001A")
    assert delete is not None
    for record in (upsert.to_record(), delete.to_record()):
        assert validate(record, schema, raise_errors=True)

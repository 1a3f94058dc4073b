"""Change events: envelope, typed payload, delete op, Avro round trip; schema history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from veeva_marketo_sync.errors import FatalError
from veeva_marketo_sync.producers.change_events import (
    EventContext,
    Op,
    change_event,
    op_of,
    record_key,
)
from veeva_marketo_sync.producers.payload import PayloadError, payload
from veeva_marketo_sync.producers.schema_history import PayloadSchemaHistory
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import envelope_schema
from veeva_marketo_sync.schemas.from_describe import schema_from_describe

DESCRIBE = {
    "name": "Call2_vod__c",
    "fields": [
        {"name": "Id", "type": "id"},
        {"name": "SystemModstamp", "type": "datetime"},
        {"name": "LastModifiedById", "type": "reference"},
        {"name": "IsDeleted", "type": "boolean"},
        {"name": "Call_Date_vod__c", "type": "date"},
        {"name": "Duration_vod__c", "type": "double"},
        {"name": "Attendees_vod__c", "type": "int"},
        {"name": "Account_vod__c", "type": "reference", "relationshipName": "Account_vod__r"},
    ],
}
SCHEMA = schema_from_describe(DESCRIBE, None)
RECORD = {
    "Id": "a0A000000000001AAA",
    "SystemModstamp": "2024-05-01T10:00:00.250+0000",
    "LastModifiedById": "005000000000009AAA",
    "IsDeleted": False,
    "Call_Date_vod__c": "2024-04-30",
    "Duration_vod__c": 15,
    "Attendees_vod__c": "3",
    "Account_vod__c": None,
}
CONTEXT = EventContext(
    "Call2_vod__c", "00D000000000001AAA", "changes-1", datetime(2024, 5, 1, 11, tzinfo=UTC)
)


def test_payload_values_are_typed_by_the_schema() -> None:
    assert payload(RECORD, SCHEMA) == {
        "Id": "a0A000000000001AAA",
        "SystemModstamp": datetime(2024, 5, 1, 10, 0, 0, 250_000, tzinfo=UTC),
        "LastModifiedById": "005000000000009AAA",
        "IsDeleted": False,
        "Call_Date_vod__c": date(2024, 4, 30),
        "Duration_vod__c": 15.0,
        "Attendees_vod__c": 3,
        "Account_vod__c": None,
    }


def test_bulk_csv_strings_convert_too() -> None:
    bulk = {**RECORD, "IsDeleted": "false", "SystemModstamp": "2024-05-01T10:00:00.250Z"}
    assert payload(bulk, SCHEMA)["IsDeleted"] is False


def test_relationship_paths_read_flat_or_nested() -> None:
    schema = schema_from_describe(
        {
            "name": "Account",
            "fields": [
                {"name": "Id", "type": "id"},
                {"name": "RecordTypeId", "type": "reference", "relationshipName": "RecordType"},
            ],
        },
        ["Id", "RecordType.DeveloperName"],
    )
    flat = {"Id": "001", "RecordType.DeveloperName": "Professional_vod"}
    nested = {"Id": "001", "RecordType": {"DeveloperName": "Professional_vod"}}
    assert payload(flat, schema) == payload(nested, schema)
    assert payload({"Id": "001", "RecordType": None}, schema)["RecordType__DeveloperName"] is None


def test_a_value_that_does_not_fit_names_the_field() -> None:
    with pytest.raises(PayloadError, match=r"Call2_vod__c\.Attendees_vod__c"):
        payload({**RECORD, "Attendees_vod__c": "three"}, SCHEMA)


def test_events_carry_the_envelope_and_round_trip_through_avro() -> None:
    event = change_event(RECORD, SCHEMA, CONTEXT, op_of(RECORD, snapshot=False))
    assert event["op"] == "upsert"
    assert event["source"] == {
        "system": "veeva",
        "org_id": "00D000000000001AAA",
        "user_id": "005000000000009AAA",
        "modstamp": datetime(2024, 5, 1, 10, 0, 0, 250_000, tzinfo=UTC),
        "cycle_id": "changes-1",
    }
    codec = AvroCodec()
    envelope = envelope_schema(SCHEMA)
    assert codec.decode(codec.encode("veeva.Call2_vod__c", envelope, event)) == event
    assert record_key(event["id"]) == b"a0A000000000001AAA"


def test_deleted_rows_become_delete_events_without_after() -> None:
    deleted = {**RECORD, "IsDeleted": True}
    assert op_of(deleted, snapshot=False) is Op.DELETE
    assert op_of(RECORD, snapshot=True) is Op.SNAPSHOT
    event = change_event(deleted, SCHEMA, CONTEXT, Op.DELETE)
    assert event["after"] is None
    assert event["op"] == "delete"


def test_schema_history_accepts_compatible_changes_and_stops_on_incompatible(
    tmp_path: Path,
) -> None:
    history = PayloadSchemaHistory(tmp_path)
    history.accept("Call2_vod__c", SCHEMA)
    wider = schema_from_describe(
        {**DESCRIBE, "fields": [*DESCRIBE["fields"], {"name": "Status_vod__c", "type": "picklist"}]}
    )
    PayloadSchemaHistory(tmp_path).accept("Call2_vod__c", wider)
    retyped = schema_from_describe(
        {
            **DESCRIBE,
            "fields": [
                *DESCRIBE["fields"][:-3],
                {"name": "Attendees_vod__c", "type": "boolean"},
                DESCRIBE["fields"][-1],
            ],
        }
    )
    with pytest.raises(FatalError, match="Attendees_vod__c"):
        PayloadSchemaHistory(tmp_path).accept("Call2_vod__c", retyped)

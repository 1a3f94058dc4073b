"""The checked-in contracts load, parse and round-trip."""

from __future__ import annotations

import datetime as dt
from typing import Any

import fastavro
import pytest

from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.compatibility import backward_problems
from veeva_marketo_sync.schemas.contracts import (
    CONTRACT_NAMES,
    envelope_schema,
    load_contract,
)
from veeva_marketo_sync.schemas.from_describe import schema_from_describe

AT = dt.datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=dt.UTC)

SAMPLES: dict[str, dict[str, Any]] = {
    "lead_edit": {
        "lead_id": 1234,
        "veeva_account_id": "001000000000001AAA",
        "field": "email",
        "old_value": "a@example.com",
        "new_value": None,
        "activity_id": 99,
        "activity_time": AT,
        "attributes": {"Source": "Web form fillout", "Reason": None},
        "reason": "Form fill",
    },
    "contact_edit": {
        "account_id": "001000000000001AAA",
        "fields": {"PersonEmail": "b@example.com", "Phone": None},
        "origin": "marketo",
        "decided_at": AT,
        "reasons": ["PersonEmail: newest_wins (marketo newer)"],
        "source_event_ids": ["marketo.lead-edits/0/17"],
    },
    "dead_letter": {
        "key": b"001",
        "value": None,
        "topic": "marketo.leads",
        "partition": 3,
        "offset": 2**40,
        "stage": "write",
        "error_class": "MarketoRejected",
        "message": "1003 Invalid email",
        "failed_at": AT,
    },
    "checkpoint": {
        "component": "veeva_changes",
        "object": "Account",
        "phase": "changes",
        "watermark": {"modstamp": AT, "last_id": "001000000000001AAA"},
        "snapshot_cursor": None,
        "paging_token": None,
        "records_done": 12,
        "updated_at": AT,
    },
    "marketo_upsert": {
        "target_kind": "lead",
        "target_name": "leads",
        "lookup_field": "veevaAccountId",
        "veeva_id": "001000000000001AAA",
        "fields": {
            "email": "a@example.com",
            "unsubscribed": True,
            "score": 3,
            "ratio": 0.5,
            "x": None,
        },
        "source_event_ids": ["veeva.Account/1/5"],
        "action": "updateOnly",
    },
    "decision": {
        "account_id": "001000000000001AAA",
        "decided_at": AT,
        "decisions": [
            {
                "veeva_field": "PersonEmail",
                "marketo_field": "email",
                "trigger": "marketo",
                "outcome": "apply_to_other_side",
                "winner": "marketo",
                "value": "b@example.com",
                "written_to": ["veeva"],
                "reason": "PersonEmail: marketo changed it; written to veeva",
            }
        ],
        "source_event_ids": ["marketo.lead-edits/0/17"],
    },
}


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_every_contract_parses_in_namespace_io_vmsync(name: str) -> None:
    schema = load_contract(name)

    fastavro.parse_schema(schema, named_schemas={})
    assert schema["namespace"] == "io.vmsync"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_contract_samples_round_trip(name: str) -> None:
    codec = AvroCodec()
    schema = load_contract(name)

    assert codec.decode(codec.encode("t", schema, SAMPLES[name])) == SAMPLES[name]


def test_load_contract_returns_a_copy_and_refuses_unknown_names() -> None:
    load_contract("lead_edit")["fields"].clear()

    assert load_contract("lead_edit")["fields"]
    with pytest.raises(KeyError, match="no Avro contract named 'nope'"):
        load_contract("nope")


def test_envelope_carries_the_payload_and_is_named_after_the_object() -> None:
    payload = schema_from_describe({"name": "Account", "fields": [{"name": "Id", "type": "id"}]})
    schema = envelope_schema(payload)
    named: dict[str, Any] = {}
    fastavro.parse_schema(schema, named_schemas=named)

    assert "io.vmsync.veeva.Account.Envelope" in named
    assert "io.vmsync.veeva.Account.Value" in named
    assert {"io.vmsync.Op", "io.vmsync.Source", "io.vmsync.System"} <= set(named)
    after = next(f for f in schema["fields"] if f["name"] == "after")
    assert after["type"] == ["null", payload]


def test_a_delete_event_has_no_after() -> None:
    payload = schema_from_describe({"name": "Account", "fields": [{"name": "Id", "type": "id"}]})
    event = {
        "object": "Account",
        "id": "001",
        "op": "delete",
        "source": {
            "system": "veeva",
            "org_id": "00D",
            "user_id": None,
            "modstamp": AT,
            "cycle_id": "c",
        },
        "after": None,
        "emitted_at": AT,
    }
    codec = AvroCodec()

    assert codec.decode(codec.encode("veeva.Account", envelope_schema(payload), event)) == event


def test_envelope_refuses_a_payload_that_is_not_a_record() -> None:
    with pytest.raises(ValueError, match="named Avro record"):
        envelope_schema({"type": "map", "values": "string"})


def test_the_action_of_upsert_commands_is_a_backward_compatible_addition() -> None:
    old = load_contract("marketo_upsert")
    old["fields"] = [f for f in old["fields"] if f["name"] != "action"]
    old_record = {k: v for k, v in SAMPLES["marketo_upsert"].items() if k != "action"}
    codec = AvroCodec()

    decoded = codec.decode(codec.encode("t", old, old_record), load_contract("marketo_upsert"))

    assert decoded["action"] == "createOrUpdate"
    assert backward_problems(load_contract("marketo_upsert"), old) == []

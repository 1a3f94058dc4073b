"""Outcome rules per record, command decoding, and the calls made through the MarketoApi port."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from veeva_marketo_sync.clients.ports import WriteResult
from veeva_marketo_sync.consumers.batching import (
    Command,
    Op,
    OpKind,
    SourceRef,
    Target,
    TargetKind,
    plan_batches,
    plan_calls,
)
from veeva_marketo_sync.consumers.commands import CommandDecoder, CommandError, command_from_record
from veeva_marketo_sync.consumers.marketo_calls import MarketoCalls
from veeva_marketo_sync.consumers.outcomes import classify
from veeva_marketo_sync.errors import FatalError
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import MARKETO_UPSERT, load_contract

REF = SourceRef("marketo.leads", 0, 7)


def op(key: str, kind: OpKind = OpKind.UPSERT) -> Op:
    return Op.of(Command(Target.for_name("leads"), kind, key, "veevaAccountId", {}, REF))


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (WriteResult("A", ok=True, remote_id="5", status="created"), "written"),
        (WriteResult("A", ok=False, error_code="1037", status="skipped"), "written"),
        (WriteResult("A", ok=False, error_code="1006", message="Field not found"), "rejected"),
        (WriteResult("A", ok=False, error_code="1003"), "rejected"),
        (WriteResult("A", ok=False, error_code="1004"), "rejected"),
        (WriteResult("A", ok=False, error_code="1029", retriable=True), "retry"),
    ],
)
def test_each_result_sorts_its_record(result: WriteResult, expected: str) -> None:
    outcome = classify([op("A")], [result])
    sorted_as = {
        "written": len(outcome.written),
        "rejected": len(outcome.rejected),
        "retry": len(outcome.retry),
    }
    assert sorted_as == {name: int(name == expected) for name in sorted_as}


def test_a_delete_of_something_already_gone_is_done() -> None:
    outcome = classify([op("A", OpKind.DELETE)], [WriteResult("A", ok=False, error_code="1013")])
    assert len(outcome.written) == 1


def test_the_rejection_reason_names_the_code() -> None:
    outcome = classify([op("A")], [WriteResult("A", ok=False, error_code="1006", message="nope")])
    assert outcome.rejected[0].reason() == "1006: nope"


def test_a_short_answer_is_fatal() -> None:
    with pytest.raises(FatalError, match="1 results for 2 records"):
        classify([op("A"), op("B")], [WriteResult("A", ok=True)])


def record(**overrides: Any) -> dict[str, Any]:
    base = {
        "target_kind": "lead",
        "target_name": "leads",
        "lookup_field": "veevaAccountId",
        "veeva_id": "001A",
        "fields": {"email": "a@x.com", "optIn": True},
        "source_event_ids": ["e1"],
    }
    return {**base, **overrides}


def test_commands_decode_from_single_object_avro() -> None:
    codec = AvroCodec()
    value = codec.encode("marketo.leads", load_contract(MARKETO_UPSERT), record())
    command = CommandDecoder(AvroCodec()).decode(REF, value)
    assert command.target == Target(TargetKind.LEAD, "leads")
    assert command.kind is OpKind.UPSERT
    assert command.key == "001A"
    assert dict(command.fields) == {"email": "a@x.com", "optIn": True}


@pytest.mark.parametrize(
    ("overrides", "target"),
    [
        ({"target_kind": "delete"}, Target(TargetKind.LEAD, "leads")),
        (
            {"target_kind": "delete", "target_name": "veevaCall_c"},
            Target(TargetKind.CUSTOM_OBJECT, "veevaCall_c"),
        ),
    ],
)
def test_deletes_name_their_target(overrides: dict[str, Any], target: Target) -> None:
    command = command_from_record(REF, record(**overrides))
    assert command.kind is OpKind.DELETE
    assert command.target == target


@pytest.mark.parametrize(
    "overrides", [{"veeva_id": ""}, {"lookup_field": ""}, {"target_kind": "campaign"}]
)
def test_bad_commands_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(CommandError):
        command_from_record(REF, record(**overrides))


def test_garbage_bytes_are_a_command_error() -> None:
    with pytest.raises(CommandError, match="framing"):
        CommandDecoder(AvroCodec()).decode(REF, b"not avro")


class LeadsOnly:
    """Just enough of MarketoApi for lead deletes."""

    def __init__(self) -> None:
        self.deleted: list[int] = []
        self.looked_up: list[str] = []

    async def get_leads(
        self, filter_type: str, values: Sequence[str], fields: Sequence[str]
    ) -> list[Mapping[str, Any]]:
        self.looked_up += values
        return [{"id": 77, filter_type: "B"}] if "B" in values else []

    async def delete_leads(self, lead_ids: Sequence[int]) -> list[WriteResult]:
        self.deleted += lead_ids
        return [WriteResult(str(i), ok=True, status="deleted") for i in lead_ids]


async def test_lead_deletes_find_ids_in_the_map_then_by_lookup() -> None:
    api = LeadsOnly()
    calls = MarketoCalls(api, {"A": "12"})  # type: ignore[arg-type]
    commands = [
        Command(Target.for_name("leads"), OpKind.DELETE, key, "veevaAccountId", {}, REF)
        for key in ("A", "B", "C")
    ]
    (batch,) = plan_batches(commands)
    (call,) = plan_calls(batch)
    outcome = await calls.execute(call)
    assert api.looked_up == ["B", "C"]
    assert api.deleted == [12, 77]
    assert sorted((w.op.key, w.status) for w in outcome.written) == [
        ("A", "deleted"),
        ("B", "deleted"),
        ("C", "absent"),
    ]
    assert calls.calls == 2

"""Update-only commands (owner refreshes, delete flags, corrections) never create a lead."""

from __future__ import annotations

from typing import Any

from veeva_marketo_sync.clients.ports import WriteResult
from veeva_marketo_sync.consumers.batching import (
    Command,
    Op,
    OpKind,
    SourceRef,
    Target,
    merge,
    plan_batches,
    plan_calls,
)
from veeva_marketo_sync.consumers.commands import command_from_record
from veeva_marketo_sync.consumers.outcomes import classify

LEADS = Target.for_name("leads")


def cmd(key: str, offset: int, kind: OpKind, **fields: Any) -> Command:
    return Command(LEADS, kind, key, "veevaAccountId", fields, SourceRef("t", 0, offset))


def test_the_action_field_selects_update_only() -> None:
    record = {
        "target_kind": "lead",
        "target_name": "leads",
        "lookup_field": "veevaAccountId",
        "veeva_id": "001A",
        "fields": {"veevaOwnerName": "Pat"},
        "action": "updateOnly",
    }
    assert command_from_record(SourceRef("t", 0, 1), record).kind is OpKind.UPDATE
    record["action"] = "createOrUpdate"
    assert command_from_record(SourceRef("t", 0, 1), record).kind is OpKind.UPSERT


def test_an_update_merged_into_an_upsert_still_creates() -> None:
    merged = merge(Op.of(cmd("A", 1, OpKind.UPSERT, email="a@x")), cmd("A", 2, OpKind.UPDATE, o=1))
    assert merged is not None
    assert merged.kind is OpKind.UPSERT
    assert dict(merged.fields) == {"email": "a@x", "o": 1}
    merged = merge(Op.of(cmd("A", 1, OpKind.UPDATE, o=1)), cmd("A", 2, OpKind.UPSERT, email="b"))
    assert merged is not None
    assert merged.kind is OpKind.UPSERT


def test_two_updates_stay_an_update_in_their_own_call() -> None:
    commands = [cmd("A", 1, OpKind.UPDATE, o=1), cmd("A", 2, OpKind.UPDATE, o=2)]
    commands.append(cmd("B", 3, OpKind.UPSERT, email="b@x"))
    (batch,) = plan_batches(commands)
    calls = plan_calls(batch)
    kinds = {call.kind: [op.key for op in call.ops] for call in calls}
    assert kinds == {OpKind.UPSERT: ["B"], OpKind.UPDATE: ["A"]}


def test_updating_a_lead_that_does_not_exist_is_done_not_dead_lettered() -> None:
    op = Op.of(cmd("A", 1, OpKind.UPDATE, o=1))
    outcome = classify([op], [WriteResult(key="A", ok=False, error_code="1004")])
    assert [w.op for w in outcome.written] == [op]
    assert outcome.rejected == ()

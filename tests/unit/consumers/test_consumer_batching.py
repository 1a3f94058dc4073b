"""Batching rules: merge per record, ≤ 300 per call, order kept, nothing lost or doubled."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veeva_marketo_sync.consumers.batching import (
    Batch,
    Command,
    Op,
    OpKind,
    SourceRef,
    Target,
    merge,
    plan_batches,
    plan_calls,
)

LEADS = Target.for_name("leads")
CALLS = Target.for_name("veevaCall_c")


def cmd(
    key: str,
    offset: int,
    kind: OpKind = OpKind.UPSERT,
    target: Target = LEADS,
    **fields: Any,
) -> Command:
    return Command(target, kind, key, "veevaAccountId", fields, SourceRef("t", 0, offset))


_ROW = st.tuples(
    st.sampled_from(["A", "B", "C", "D", "E", None]),  # None: a key seen once
    st.sampled_from([OpKind.UPSERT, OpKind.UPSERT, OpKind.UPSERT, OpKind.DELETE]),
    st.dictionaries(st.sampled_from("abc"), st.integers(0, 3), max_size=3),
    st.sampled_from([LEADS, CALLS]),
)


@st.composite
def command_lists(draw: st.DrawFn) -> list[Command]:
    rows = draw(st.lists(_ROW, max_size=80))
    return [
        Command(target, kind, key or f"K{i}", "veevaAccountId", fields, SourceRef("t", 0, i))
        for i, (key, kind, fields, target) in enumerate(rows)
    ]


SIZES = st.integers(1, 12)


Store = dict[tuple[Target, str], dict[str, Any]]


def apply_commands(commands: list[Command], store: Store | None = None) -> Store:
    """Marketo as a model: createOrUpdate sets the given fields, delete removes the record."""
    state: Store = {k: dict(v) for k, v in (store or {}).items()}
    for c in commands:
        if c.kind is OpKind.DELETE:
            state.pop((c.target, c.key), None)
        else:
            state.setdefault((c.target, c.key), {}).update(c.fields)
    return state


def apply_batches(batches: list[Batch], store: Store | None = None) -> Store:
    state: Store = {k: dict(v) for k, v in (store or {}).items()}
    for batch in batches:
        for op in batch.ops:
            if op.kind is OpKind.DELETE:
                state.pop((op.target, op.key), None)
            else:
                state.setdefault((op.target, op.key), {}).update(op.fields)
    return state


def as_commands(batches: list[Batch]) -> list[Command]:
    return [
        Command(op.target, op.kind, op.key, op.lookup_field, op.fields, op.sources[-1])
        for batch in batches
        for op in batch.ops
    ]


@settings(max_examples=200)
@given(command_lists(), SIZES)
def test_batches_never_exceed_the_size_nor_repeat_a_key(commands: list[Command], size: int) -> None:
    for batch in plan_batches(commands, size):
        assert 1 <= len(batch.ops) <= size
        assert len({op.key for op in batch.ops}) == len(batch.ops)
        assert all(op.target == batch.target for op in batch.ops)
        for call in plan_calls(batch):
            assert len(call.ops) <= size
            assert len({op.key for op in call.ops}) == len(call.ops)


@settings(max_examples=200)
@given(command_lists(), SIZES)
def test_every_source_offset_is_kept_once_in_order(commands: list[Command], size: int) -> None:
    batches = plan_batches(commands, size)
    refs = [ref for batch in batches for ref in batch.sources]
    assert Counter(refs) == Counter(c.source for c in commands)
    for batch in batches:
        for op in batch.ops:
            assert list(op.sources) == sorted(op.sources)


STORES = st.dictionaries(
    st.tuples(st.sampled_from([LEADS, CALLS]), st.sampled_from("ABCDE")),
    st.dictionaries(st.sampled_from("abcz"), st.integers(0, 3), max_size=3),
)


@settings(max_examples=300)
@given(command_lists(), SIZES, STORES)
def test_writing_the_batches_in_order_equals_applying_every_command(
    commands: list[Command], size: int, before: Store
) -> None:
    batches = plan_batches(commands, size)
    assert apply_batches(batches, before) == apply_commands(commands, before)
    # Per key, the batches holding it come in the order of its commands.
    seen: dict[tuple[Target, str], int] = {}
    for batch in batches:
        for op in batch.ops:
            first = op.sources[0].offset
            assert seen.get((op.target, op.key), -1) < first
            seen[op.target, op.key] = op.sources[-1].offset


@settings(max_examples=200)
@given(command_lists(), SIZES, STORES)
def test_merging_is_idempotent(commands: list[Command], size: int, before: Store) -> None:
    batches = plan_batches(commands, size)
    again = plan_batches(as_commands(batches), size)
    assert apply_batches(again, before) == apply_batches(batches, before)
    assert sum(len(b.ops) for b in again) <= sum(len(b.ops) for b in batches)
    once = apply_batches(batches, before)
    assert apply_batches(batches, once) == once, "re-delivery changes nothing"


def test_later_field_values_win() -> None:
    (batch,) = plan_batches([cmd("A", 0, a=1, b=1), cmd("A", 1, b=2), cmd("B", 2, a=9)])
    assert [op.key for op in batch.ops] == ["A", "B"]
    assert dict(batch.ops[0].fields) == {"a": 1, "b": 2}
    assert [ref.offset for ref in batch.ops[0].sources] == [0, 1]


def test_a_delete_after_an_upsert_wins() -> None:
    (batch,) = plan_batches([cmd("A", 0, a=1), cmd("A", 1, OpKind.DELETE)])
    (op,) = batch.ops
    assert op.kind is OpKind.DELETE
    assert dict(op.fields) == {}
    assert len(op.sources) == 2


def test_an_upsert_after_a_delete_goes_to_the_next_batch() -> None:
    first, second = plan_batches([cmd("A", 0, OpKind.DELETE), cmd("A", 1, a=1), cmd("B", 2)])
    assert [(op.key, op.kind) for op in first.ops] == [("A", OpKind.DELETE)]
    assert [(op.key, op.kind) for op in second.ops] == [("A", OpKind.UPSERT), ("B", OpKind.UPSERT)]


def test_targets_are_batched_apart_and_300_is_the_cap() -> None:
    commands = [cmd(f"L{i}", i) for i in range(650)] + [cmd("C", 650, target=CALLS)]
    batches = plan_batches(commands)
    assert [(b.target, len(b.ops)) for b in batches] == [
        (LEADS, 300),
        (LEADS, 300),
        (LEADS, 50),
        (CALLS, 1),
    ]


def test_a_full_batch_still_merges_a_repeated_key() -> None:
    commands = [cmd(f"L{i}", i) for i in range(300)] + [cmd("L0", 300, a=1)]
    (batch,) = plan_batches(commands)
    assert dict(batch.ops[0].fields) == {"a": 1}


def test_calls_split_upserts_from_deletes_upserts_first() -> None:
    (batch,) = plan_batches([cmd("A", 0, OpKind.DELETE), cmd("B", 1, a=1)])
    calls = plan_calls(batch)
    assert [(c.kind, [op.key for op in c.ops]) for c in calls] == [
        (OpKind.UPSERT, ["B"]),
        (OpKind.DELETE, ["A"]),
    ]


def test_the_record_sent_carries_the_lookup_field() -> None:
    op = Op.of(cmd("0011x000003ABCDAA4", 0, email="a@x.com"))
    assert op.record() == {"email": "a@x.com", "veevaAccountId": "0011x000003ABCDAA4"}


def test_merge_refuses_another_key_and_bad_sizes() -> None:
    with pytest.raises(ValueError, match="cannot merge"):
        merge(Op.of(cmd("A", 0)), cmd("B", 1))
    with pytest.raises(ValueError, match="between 1 and 300"):
        plan_batches([], 301)

"""Batching rules of the Marketo writer: pure functions over decoded commands.

Commands are grouped per target into batches of at most ``max_size`` records (Marketo takes
300 per call). Repeated commands for one record inside a batch are merged into one operation,
so no call ever carries two versions of one key (Marketo error 1036) and calls are spent on
distinct records only:

* upsert + upsert -> one upsert; later field values win;
* upsert + delete -> delete (the delete is the later truth);
* delete + delete -> delete;
* delete + upsert -> cannot be one operation: the upsert opens the target's next batch, so
  the delete is written first.

Every operation keeps the source offsets it stands for, in input order, so each can be
committed or dead-lettered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

MAX_BATCH: Final = 300
"""Marketo's limit of records per Lead-DB or custom-object call."""

LEADS: Final = "leads"
"""The ``target_name`` of lead commands."""


class TargetKind(StrEnum):
    """What a Marketo target holds."""

    LEAD = "lead"
    CUSTOM_OBJECT = "custom_object"


class OpKind(StrEnum):
    """What a command asks Marketo to do with one record."""

    UPSERT = "upsert"
    """Create or update (Marketo ``createOrUpdate``)."""
    UPDATE = "update"
    """Update only, never create (``updateOnly``): owner refreshes, delete flags, corrections."""
    DELETE = "delete"


@dataclass(frozen=True, order=True)
class SourceRef:
    """Where a command came from: one Kafka record."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Target:
    """One Marketo destination: the lead database or one custom object type."""

    kind: TargetKind
    name: str

    @classmethod
    def for_name(cls, name: str) -> Target:
        """The target of ``target_name`` as commands spell it (``leads`` or an API name)."""
        return cls(TargetKind.LEAD if name == LEADS else TargetKind.CUSTOM_OBJECT, name)


def _frozen(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(fields))


@dataclass(frozen=True)
class Command:
    """One decoded upsert or delete command for one record."""

    target: Target
    kind: OpKind
    key: str
    """The Veeva Id: the Kafka key and the value of the lookup (dedupe) field."""
    lookup_field: str
    fields: Mapping[str, Any]
    source: SourceRef

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _frozen(self.fields))


@dataclass(frozen=True)
class Op:
    """One record of one Marketo call: the merge of one or more commands for the same key."""

    target: Target
    kind: OpKind
    key: str
    lookup_field: str
    fields: Mapping[str, Any]
    sources: tuple[SourceRef, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _frozen(self.fields))

    @classmethod
    def of(cls, command: Command) -> Op:
        """The operation of a single command."""
        fields = command.fields if command.kind is not OpKind.DELETE else {}
        return cls(
            command.target,
            command.kind,
            command.key,
            command.lookup_field,
            fields,
            (command.source,),
        )

    def record(self) -> dict[str, Any]:
        """The record to send: the fields plus the lookup field set to the Veeva Id."""
        return {**self.fields, self.lookup_field: self.key}


@dataclass(frozen=True)
class Batch:
    """Operations for one target, at most one per key, in order of first appearance."""

    target: Target
    ops: tuple[Op, ...] = field(default=())

    @property
    def sources(self) -> tuple[SourceRef, ...]:
        """Every source record this batch stands for."""
        return tuple(ref for op in self.ops for ref in op.sources)


def merge(op: Op, command: Command) -> Op | None:
    """Fold a later ``command`` for the same record into ``op``; None when it cannot be.

    Raises:
        ValueError: ``command`` is for another target or key.
    """
    if command.target != op.target or command.key != op.key:
        msg = f"cannot merge {command.target}/{command.key} into {op.target}/{op.key}"
        raise ValueError(msg)
    sources = (*op.sources, command.source)
    if command.kind is OpKind.DELETE:
        return Op(op.target, OpKind.DELETE, op.key, command.lookup_field, {}, sources)
    if op.kind is OpKind.DELETE or command.lookup_field != op.lookup_field:
        return None
    fields = {**op.fields, **command.fields}
    # An update folded into a create-or-update still creates; two updates stay an update.
    kind = OpKind.UPDATE if OpKind.UPSERT not in (op.kind, command.kind) else OpKind.UPSERT
    return Op(op.target, kind, op.key, op.lookup_field, fields, sources)


class _Open:
    """The batch a target is filling: ops by key, in order of first appearance."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.ops: dict[str, Op] = {}

    def close(self) -> Batch:
        return Batch(self.target, tuple(self.ops.values()))


def plan_batches(commands: Iterable[Command], max_size: int = MAX_BATCH) -> list[Batch]:
    """Group ``commands`` (in consumption order) into batches per target of ≤ ``max_size``.

    Batches come out in the order they were opened; writing them one after another in that
    order applies every record's commands in their original order.

    Raises:
        ValueError: ``max_size`` is not between 1 and 300.
    """
    if not 1 <= max_size <= MAX_BATCH:
        msg = f"batch size must be between 1 and {MAX_BATCH}, got {max_size}"
        raise ValueError(msg)
    slots: list[_Open] = []
    current: dict[Target, _Open] = {}

    def open_batch(target: Target) -> _Open:
        batch = _Open(target)
        slots.append(batch)
        current[target] = batch
        return batch

    for command in commands:
        batch = current.get(command.target) or open_batch(command.target)
        existing = batch.ops.get(command.key)
        if existing is not None:
            merged = merge(existing, command)
            if merged is not None:
                batch.ops[command.key] = merged
                continue
            batch = open_batch(command.target)
        elif len(batch.ops) >= max_size:
            batch = open_batch(command.target)
        batch.ops[command.key] = Op.of(command)
    return [slot.close() for slot in slots if slot.ops]


@dataclass(frozen=True)
class Call:
    """One Marketo API call: a batch's operations of one kind and one lookup field."""

    target: Target
    kind: OpKind
    lookup_field: str
    ops: tuple[Op, ...]

    def with_ops(self, ops: Sequence[Op]) -> Call:
        """The same call for a subset of its operations (a retry of the ones left)."""
        return replace(self, ops=tuple(ops))


def plan_calls(batch: Batch) -> list[Call]:
    """Split a batch into API calls: upserts and deletes apart, one call per lookup field.

    A key appears in at most one operation of a batch, so the calls of one batch touch
    disjoint records and their order does not matter; upserts go first.
    """
    groups: dict[tuple[OpKind, str], list[Op]] = {}
    for op in batch.ops:
        groups.setdefault((op.kind, op.lookup_field), []).append(op)
    order = sorted(groups, key=lambda group: (group[0] is OpKind.DELETE, group[0].value))
    return [Call(batch.target, kind, lookup, tuple(groups[kind, lookup])) for kind, lookup in order]

"""Rules of the Veeva writer: pure functions from contact edits to Account writes and outcomes.

An edit (one ``ContactEdit`` record) is checked as a whole: every field must be a Person
Account contact field (``guard_veeva_write``), synced both ways by the mapping, visible to the
integration user, and its value must fit the field's describe (``validate_value``, which also
turns ``"true"``/``"false"`` back into booleans). An edit that fails any check is refused
whole: it goes to the DLQ with the reason and none of its fields is written.

Accepted edits of one Account inside a batch are merged into one write (later values win);
a batch holds at most ``max_size`` Accounts (sObject Collections take 200). Every write keeps
the Kafka records it stands for, so each can be committed or dead-lettered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from ..clients.ports import SfDescribe, WriteResult
from ..errors import FatalError
from ..processors.contact_fields import (
    PERSON_ACCOUNT_OBJECT,
    ForbiddenVeevaWriteError,
    guard_veeva_write,
)
from ..processors.edit_validation import FieldDescribe, validate_value
from .batching import SourceRef

MAX_COLLECTION: Final = 200
"""sObject Collections take at most 200 records per call."""

REFUSED_FIELD: Final = ForbiddenVeevaWriteError.__name__
INVALID_VALUE: Final = "InvalidValueError"
INVALID_EDIT: Final = "InvalidEditError"


def _frozen(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class ContactEdit:
    """One decoded ``ContactEdit`` record: field values to write to one Person Account."""

    account_id: str
    fields: Mapping[str, str | None]
    source: SourceRef

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _frozen(self.fields))


@dataclass(frozen=True)
class Refusal:
    """An edit that must not reach Veeva, and why (the dead letter's class and message)."""

    source: SourceRef
    error_class: str
    message: str


@dataclass(frozen=True)
class CheckedEdit:
    """An edit that passed every check, its values in the types Veeva expects."""

    account_id: str
    values: Mapping[str, object]
    source: SourceRef

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _frozen(self.values))


def field_describes(describe: SfDescribe) -> dict[str, FieldDescribe]:
    """Validation metadata of every field the integration user sees on the Account."""
    return {
        f.name: FieldDescribe(
            name=f.name,
            type=f.type,
            length=f.length,
            nillable=f.nillable,
            updateable=f.updateable,
            picklist_values=f.picklist_values,
        )
        for f in describe.fields
    }


def check_edit(
    edit: ContactEdit,
    describes: Mapping[str, FieldDescribe],
    synced_fields: frozenset[str] | None = None,
) -> CheckedEdit | Refusal:
    """Decide whether ``edit`` may be written, and with which values.

    Args:
        edit: The decoded edit.
        describes: Account field -> describe metadata of the visible fields.
        synced_fields: Veeva fields the mapping syncs both ways; None to skip that check.

    Returns:
        The checked edit, or the refusal that sends it to the DLQ.
    """
    if not edit.account_id.strip():
        return Refusal(edit.source, INVALID_EDIT, "the contact edit names no Account Id")
    try:
        guard_veeva_write(PERSON_ACCOUNT_OBJECT, edit.fields)
    except ForbiddenVeevaWriteError as exc:
        return Refusal(edit.source, REFUSED_FIELD, str(exc))
    if synced_fields is not None:
        unsynced = sorted(name for name in edit.fields if name not in synced_fields)
        if unsynced:
            message = (
                f"refusing to write Account fields {', '.join(unsynced)}: the mapping does not "
                "sync them from Marketo (direction: both)"
            )
            return Refusal(edit.source, REFUSED_FIELD, message)
    values: dict[str, object] = {}
    problems: list[str] = []
    for name, raw in edit.fields.items():
        describe = describes.get(name)
        if describe is None:
            problems.append(f"{name}: not visible to the integration user")
            continue
        check = validate_value(describe, raw)
        if check.ok:
            values[name] = check.value
        else:
            problems.append(check.reason or f"{name}: invalid value")
    if problems:
        return Refusal(edit.source, INVALID_VALUE, "; ".join(problems))
    return CheckedEdit(edit.account_id, values, edit.source)


@dataclass(frozen=True)
class AccountWrite:
    """One record of one sObject Collections call: the merge of one Account's edits."""

    account_id: str
    values: Mapping[str, object]
    sources: tuple[SourceRef, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _frozen(self.values))

    def record(self) -> dict[str, object]:
        """The record to PATCH: the Id plus the values."""
        return {"Id": self.account_id, **self.values}


def plan_writes(
    edits: Iterable[CheckedEdit], max_size: int = MAX_COLLECTION
) -> list[list[AccountWrite]]:
    """Group checked edits (in consumption order) into batches of ≤ ``max_size`` Accounts.

    Edits of an Account already in the open batch are merged into its write, later values
    winning; batches come out in the order they were opened.

    Raises:
        ValueError: ``max_size`` is not between 1 and 200.
    """
    if not 1 <= max_size <= MAX_COLLECTION:
        msg = f"batch size must be between 1 and {MAX_COLLECTION}, got {max_size}"
        raise ValueError(msg)
    batches: list[dict[str, AccountWrite]] = []
    for edit in edits:
        if not batches or (edit.account_id not in batches[-1] and len(batches[-1]) >= max_size):
            batches.append({})
        batch = batches[-1]
        previous = batch.get(edit.account_id)
        if previous is None:
            batch[edit.account_id] = AccountWrite(edit.account_id, edit.values, (edit.source,))
        else:
            batch[edit.account_id] = AccountWrite(
                edit.account_id,
                {**previous.values, **edit.values},
                (*previous.sources, edit.source),
            )
    return [list(batch.values()) for batch in batches]


@dataclass(frozen=True)
class Rejected:
    """A write Veeva refused for a reason retrying will not fix."""

    write: AccountWrite
    code: str | None
    message: str

    def reason(self) -> str:
        """``code: message`` as shown in the dead letter (Veeva's own message)."""
        return f"{self.code}: {self.message}" if self.code else self.message


@dataclass(frozen=True)
class CallOutcome:
    """What each write of one call came to."""

    written: tuple[AccountWrite, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    retry: tuple[AccountWrite, ...] = ()


def classify_results(writes: Sequence[AccountWrite], results: Sequence[WriteResult]) -> CallOutcome:
    """Pair each write with its result (same order) and sort them by what happens next.

    Raises:
        FatalError: The answer does not hold one result per record.
    """
    if len(writes) != len(results):
        msg = f"Veeva answered {len(results)} results for {len(writes)} Account updates"
        raise FatalError(msg, hint="the client must return one result per record, in order")
    written: list[AccountWrite] = []
    rejected: list[Rejected] = []
    retry: list[AccountWrite] = []
    for write, result in zip(writes, results, strict=True):
        if result.ok:
            written.append(write)
        elif result.retriable:
            retry.append(write)
        else:
            message = result.message or "rejected without a message"
            rejected.append(Rejected(write, result.error_code, message))
    return CallOutcome(tuple(written), tuple(rejected), tuple(retry))


def contact_edit_from_record(source: SourceRef, data: Mapping[str, Any]) -> ContactEdit:
    """Build an edit from a decoded ``ContactEdit`` record.

    Raises:
        ValueError: ``fields`` is not a map of strings to strings or nulls.
    """
    fields = data.get("fields")
    if not isinstance(fields, Mapping) or not all(
        isinstance(name, str) and (value is None or isinstance(value, str))
        for name, value in fields.items()
    ):
        msg = "contact edit fields must map field names to text or null"
        raise ValueError(msg)
    return ContactEdit(str(data.get("account_id") or ""), dict(fields), source)

"""Change events of Veeva records: the Debezium-style envelope, its key and its op (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from .payload import payload
from .watermark import record_position, to_millis


class Op(StrEnum):
    """What an event says happened to the record."""

    SNAPSHOT = "snapshot"
    UPSERT = "upsert"
    DELETE = "delete"


@dataclass(frozen=True)
class EventContext:
    """What every event of one cycle shares."""

    object_name: str
    org_id: str
    cycle_id: str
    emitted_at: datetime


def record_key(record_id: str) -> bytes:
    """The Kafka key of a record's events: its Id as UTF-8."""
    return record_id.encode("utf-8")


def op_of(record: Mapping[str, Any], *, snapshot: bool) -> Op:
    """`delete` for a row queryAll returns with `IsDeleted = true`, else snapshot or upsert."""
    if record.get("IsDeleted") in (True, "true", "TRUE", "1", 1):
        return Op.DELETE
    return Op.SNAPSHOT if snapshot else Op.UPSERT


def change_event(
    record: Mapping[str, Any],
    payload_schema: Mapping[str, Any],
    context: EventContext,
    op: Op,
) -> dict[str, Any]:
    """The change event of one record version (`after` is None for deletes).

    Raises:
        ValueError: The record lacks `Id` or `SystemModstamp`.
        PayloadError: A value does not fit the payload schema.
    """
    position = record_position(record)
    user_id = record.get("LastModifiedById")
    return {
        "object": context.object_name,
        "id": position.last_id,
        "op": op.value,
        "source": {
            "system": "veeva",
            "org_id": context.org_id,
            "user_id": str(user_id) if user_id else None,
            "modstamp": position.modstamp,
            "cycle_id": context.cycle_id,
        },
        "after": None if op is Op.DELETE else payload(record, payload_schema),
        "emitted_at": to_millis(context.emitted_at),
    }

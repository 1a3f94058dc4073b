"""Decoded input events of the processors: Veeva change events and Marketo lead edits (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from veeva_marketo_sync.processors.conflicts import FieldChange
from veeva_marketo_sync.processors.edit_events import change_from_lead_edit
from veeva_marketo_sync.processors.messages import Incoming
from veeva_marketo_sync.processors.records import salesforce_record
from veeva_marketo_sync.schemas.codec import AvroCodec

DELETE_OP = "delete"
_OPS = frozenset({"snapshot", "upsert", DELETE_OP})


class BadEventError(ValueError):
    """An event that decodes but is not what its topic carries: dead-letter it."""


@dataclass(frozen=True)
class VeevaEvent:
    """One version of one Veeva record (a change event)."""

    incoming: Incoming
    object_name: str
    record_id: str
    op: str
    record: dict[str, object] | None
    """The record in Salesforce JSON shape; ``None`` for a delete."""
    modstamp: datetime
    user_id: str | None = None

    @property
    def deleted(self) -> bool:
        """True for a delete event."""
        return self.op == DELETE_OP


@dataclass(frozen=True)
class LeadEditEvent:
    """One Marketo-side change of a lead field, keyed by the Veeva Account Id."""

    incoming: Incoming
    account_id: str
    marketo_field: str
    change: FieldChange


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        msg = f"{what} is missing or not text"
        raise BadEventError(msg)
    return value


def _instant(value: object, what: str) -> datetime:
    if not isinstance(value, datetime):
        msg = f"{what} is missing or not a timestamp"
        raise BadEventError(msg)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _decode(codec: AvroCodec, incoming: Incoming) -> Mapping[str, object]:
    data = codec.decode(incoming.value or b"")
    if not isinstance(data, Mapping):
        msg = f"value decoded to {type(data).__name__}, not a record"
        raise BadEventError(msg)
    return data


def decode_change_event(
    codec: AvroCodec, incoming: Incoming, object_name: str, paths: tuple[str, ...]
) -> VeevaEvent:
    """Decode a change event of ``object_name``.

    Args:
        codec: The Avro codec.
        incoming: The Kafka record (not a tombstone).
        object_name: The object the topic carries.
        paths: Relationship paths to nest in the record (``records.relationship_paths``).

    Returns:
        The event.

    Raises:
        SchemaDecodeError: The bytes are not Avro this codec can read.
        BadEventError: The value is not a change event of ``object_name``.
    """
    data = _decode(codec, incoming)
    if data.get("object") != object_name:
        msg = f"a change event of {data.get('object')!r} on the topic of {object_name}"
        raise BadEventError(msg)
    record_id = _text(data.get("id"), "change event id")
    op = data.get("op")
    if op not in _OPS:
        msg = f"change event {record_id} has op {op!r}; expected snapshot, upsert or delete"
        raise BadEventError(msg)
    source = data.get("source")
    if not isinstance(source, Mapping):
        msg = f"change event {record_id} has no source"
        raise BadEventError(msg)
    after = data.get("after")
    record = None
    if op != DELETE_OP:
        if not isinstance(after, Mapping):
            msg = f"{op} event {record_id} has no 'after' record"
            raise BadEventError(msg)
        record = salesforce_record(after, paths)
        record.setdefault("Id", record_id)
    user_id = source.get("user_id")
    return VeevaEvent(
        incoming,
        object_name,
        record_id,
        str(op),
        record,
        _instant(source.get("modstamp"), f"change event {record_id} source.modstamp"),
        user_id if isinstance(user_id, str) else None,
    )


def decode_lead_edit(codec: AvroCodec, incoming: Incoming) -> LeadEditEvent:
    """Decode a lead edit; its Veeva Account Id is the field or else the Kafka key.

    Args:
        codec: The Avro codec.
        incoming: The Kafka record (not a tombstone).

    Returns:
        The edit as a Marketo-side change.

    Raises:
        SchemaDecodeError: The bytes are not Avro this codec can read.
        BadEventError: No Veeva Account Id.
        EditEventError: The edit names no field or has no time.
    """
    data = _decode(codec, incoming)
    account_id = data.get("veeva_account_id") or incoming.key_text()
    if not isinstance(account_id, str) or not account_id:
        msg = (
            f"lead edit {data.get('activity_id')} of lead {data.get('lead_id')} carries no "
            "Veeva Account Id; the edit capture must resolve it before publishing"
        )
        raise BadEventError(msg)
    field, change = change_from_lead_edit(data)
    return LeadEditEvent(incoming, account_id, field, change)

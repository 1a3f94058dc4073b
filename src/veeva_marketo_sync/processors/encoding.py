"""The processors' outputs as Avro records on their topics (pure apart from the codec's store).

Commands follow ``marketo_upsert.avsc`` (with ``action``), accepted edits ``contact_edit.avsc``,
decisions ``decision.avsc``. Keys are the Veeva Id as UTF-8.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from veeva_marketo_sync.processors.mapping_rules import MarketoDelete, MarketoUpsert
from veeva_marketo_sync.processors.messages import Outgoing
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import (
    CONTACT_EDIT,
    DECISION,
    MARKETO_UPSERT,
    load_contract,
)
from veeva_marketo_sync.topics import Topics

CREATE_OR_UPDATE: Final = "createOrUpdate"
UPDATE_ONLY: Final = "updateOnly"


def command_record(
    command: MarketoUpsert | MarketoDelete, source_event_ids: Iterable[str]
) -> dict[str, object]:
    """A command as a ``MarketoUpsert`` record, with the upsert's ``action``.

    Args:
        command: An upsert or a delete from the mapping rules.
        source_event_ids: Where the command comes from.

    Returns:
        The record to encode.
    """
    record = command.to_record(source_event_ids)
    action = command.action if isinstance(command, MarketoUpsert) else CREATE_OR_UPDATE
    return {**record, "action": action}


class OutputEncoder:
    """Encodes commands, contact edits and decisions for their topics.

    Args:
        codec: The shared Avro codec (schema store or registry).
        topics: The deployment's topic names.
    """

    def __init__(self, codec: AvroCodec, topics: Topics) -> None:
        self.codec = codec
        self.topics = topics
        self._schemas: dict[str, dict[str, Any]] = {
            name: load_contract(name) for name in (MARKETO_UPSERT, CONTACT_EDIT, DECISION)
        }

    def _encode(self, topic: str, contract: str, key: str, record: Mapping[str, Any]) -> Outgoing:
        value = self.codec.encode(topic, self._schemas[contract], record)
        return Outgoing(topic, key.encode("utf-8"), value)

    def command(
        self, command: MarketoUpsert | MarketoDelete, source_event_ids: Iterable[str]
    ) -> Outgoing:
        """A command on ``marketo.<target>``, keyed by the Veeva Id.

        Raises:
            SchemaEncodeError: A field value does not fit the contract.
        """
        topic = self.topics.marketo(command.topic_target)
        record = command_record(command, source_event_ids)
        return self._encode(topic, MARKETO_UPSERT, command.key, record)

    def contact_edit(
        self,
        account_id: str,
        fields: Mapping[str, str | None],
        *,
        origin: str,
        decided_at: datetime,
        reasons: Sequence[str],
        source_event_ids: Sequence[str],
    ) -> Outgoing:
        """Edits to apply to one Person Account, on the reverse topic.

        Raises:
            SchemaEncodeError: A value does not fit the contract.
        """
        record = {
            "account_id": account_id,
            "fields": dict(fields),
            "origin": origin,
            "decided_at": decided_at,
            "reasons": list(reasons),
            "source_event_ids": list(source_event_ids),
        }
        return self._encode(self.topics.contact_edits, CONTACT_EDIT, account_id, record)

    def decisions(
        self,
        account_id: str,
        decisions: Sequence[Mapping[str, object]],
        *,
        decided_at: datetime,
        source_event_ids: Sequence[str],
    ) -> Outgoing:
        """The decisions about one account's fields, on ``vmsync.decisions``.

        Raises:
            SchemaEncodeError: A value does not fit the contract.
        """
        record = {
            "account_id": account_id,
            "decided_at": decided_at,
            "decisions": list(decisions),
            "source_event_ids": list(source_event_ids),
        }
        return self._encode(self.topics.decisions, DECISION, account_id, record)

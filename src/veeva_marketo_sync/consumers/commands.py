"""Marketo upsert commands off the wire: decode a Kafka record into a ``Command``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..errors import TransientError
from ..schemas.codec import AvroCodec
from ..schemas.contracts import MARKETO_UPSERT, load_contract
from ..schemas.errors import SchemaError, SchemaRegistryError
from .batching import Command, OpKind, SourceRef, Target, TargetKind

_DELETE: Final = "delete"


class CommandError(ValueError):
    """A record that is not a valid command: dead-letter it (stage ``decode``)."""


class CommandDecoder:
    """Decodes ``MarketoUpsert`` values (Confluent or single-object framing) into commands.

    Args:
        codec: The shared Avro codec (it resolves schema ids and fingerprints).
    """

    def __init__(self, codec: AvroCodec) -> None:
        self._codec = codec
        self._reader = load_contract(MARKETO_UPSERT)

    def decode(self, source: SourceRef, value: bytes) -> Command:
        """Decode one record value.

        Raises:
            CommandError: The bytes are not a command, or the command contradicts itself.
            TransientError: The Schema Registry could not be reached; nothing is wrong with
                the record (the round is abandoned uncommitted and redone).
        """
        try:
            data = self._codec.decode(value, self._reader)
        except SchemaRegistryError as exc:
            if exc.retriable:
                raise TransientError(f"schema registry unavailable: {exc}") from exc
            raise CommandError(str(exc)) from exc
        except SchemaError as exc:
            raise CommandError(str(exc)) from exc
        if not isinstance(data, Mapping):
            msg = f"command decoded to {type(data).__name__}, not a record"
            raise CommandError(msg)
        return command_from_record(source, data)


def command_from_record(source: SourceRef, data: Mapping[str, Any]) -> Command:
    """Build a command from a decoded ``MarketoUpsert`` record.

    Raises:
        CommandError: A required value is empty or the kind is unknown.
    """
    veeva_id = str(data.get("veeva_id") or "")
    target_name = str(data.get("target_name") or "")
    lookup_field = str(data.get("lookup_field") or "")
    raw_kind = str(data.get("target_kind") or "")
    for name, value in (
        ("veeva_id", veeva_id),
        ("target_name", target_name),
        ("lookup_field", lookup_field),
    ):
        if not value:
            msg = f"command has an empty {name}"
            raise CommandError(msg)
    if raw_kind == _DELETE:
        kind, target = OpKind.DELETE, Target.for_name(target_name)
    else:
        try:
            target = Target(TargetKind(raw_kind), target_name)
        except ValueError:
            msg = f"unknown target_kind {raw_kind!r}"
            raise CommandError(msg) from None
        kind = OpKind.UPDATE if data.get("action") == "updateOnly" else OpKind.UPSERT
    fields = dict(data.get("fields") or {})
    return Command(target, kind, veeva_id, lookup_field, fields, source)

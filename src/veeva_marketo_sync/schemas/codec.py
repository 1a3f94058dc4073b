"""Avro on the wire: Confluent framing with a Schema Registry, single-object encoding without.

* Confluent: `00` + 4-byte big-endian schema id + Avro binary (any Confluent client reads it).
* Single-object (Avro spec): `C3 01` + 8-byte little-endian CRC-64-AVRO fingerprint of the
  schema's Parsing Canonical Form + Avro binary; fingerprints resolve from a `SchemaStore`.

`AvroCodec.decode` reads both, whichever way the codec itself writes.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.schema import parse_schema
from fastavro.validation import ValidationError, validate

from veeva_marketo_sync.schemas.canonical import fingerprint_bytes
from veeva_marketo_sync.schemas.errors import (
    SchemaDecodeError,
    SchemaEncodeError,
    SchemaError,
    SchemaRegistryError,
)
from veeva_marketo_sync.schemas.registry import SchemaRegistryClient, value_subject
from veeva_marketo_sync.schemas.store import SchemaStore
from veeva_marketo_sync.settings import KafkaSettings

CONFLUENT_MAGIC: Final = b"\x00"
SINGLE_OBJECT_MARKER: Final = b"\xc3\x01"
CONFLUENT_HEADER_SIZE: Final = 5
SINGLE_OBJECT_HEADER_SIZE: Final = 10
_MAX_CACHED_OBJECTS: Final = 1024

_CORRUPT_BODY: Final = (
    EOFError,
    ValueError,  # includes UnicodeDecodeError
    LookupError,  # union/enum index out of range
    OverflowError,
    TypeError,
    struct.error,
    SchemaResolutionError,
)


@dataclass(frozen=True)
class AvroWriter:
    """Encodes records of one schema with a fixed header (schema id or fingerprint)."""

    header: bytes
    parsed_schema: Any
    source_schema: Mapping[str, Any]

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Return header + Avro binary of `record`.

        Raises:
            SchemaEncodeError: The record does not match the schema; the message says where.
        """
        out = io.BytesIO()
        out.write(self.header)
        try:
            schemaless_writer(out, self.parsed_schema, record)
        except (ValueError, TypeError, LookupError, AttributeError, OverflowError) as exc:
            raise SchemaEncodeError(self._explain(record, exc)) from exc
        return out.getvalue()

    def _explain(self, record: Mapping[str, Any], exc: Exception) -> str:
        name = self.source_schema.get("name", "?")
        try:
            validate(record, self.parsed_schema, raise_errors=True)
        except ValidationError as invalid:
            return f"record does not match schema {name}: {invalid}"
        return f"record does not match schema {name}: {exc!r}"


class AvroCodec:
    """Encoder and decoder of Avro values, framed for a registry or for the local store.

    Args:
        store: Where single-object fingerprints are kept and resolved; a memory-only store
            with the checked-in contracts when omitted.
        registry: With a registry, `encode` registers `<topic>-value` and writes the
            Confluent framing; without, it writes single-object encoding. `decode` uses the
            registry only for Confluent-framed data.
    """

    def __init__(
        self,
        store: SchemaStore | None = None,
        registry: SchemaRegistryClient | None = None,
    ) -> None:
        self.store = store if store is not None else SchemaStore()
        self.registry = registry
        self._writers: dict[tuple[str, int], tuple[Mapping[str, Any], AvroWriter]] = {}
        self._writers_by_text: dict[tuple[str, str], AvroWriter] = {}
        self._by_id: dict[int, Any] = {}
        self._by_fingerprint: dict[bytes, Any] = {}
        self._readers: dict[int, tuple[Mapping[str, Any], Any]] = {}

    def close(self) -> None:
        """Release the Schema Registry client's connections, if there is one."""
        if self.registry is not None:
            self.registry.close()

    def writer(self, topic: str, schema: Mapping[str, Any]) -> AvroWriter:
        """Return (and cache) the writer of `schema`'s values on `topic`.

        Raises:
            IncompatibleSchemaError: The registry refused the schema as not BACKWARD compatible.
            SchemaRegistryError: The registry failed.
        """
        key = (topic, id(schema))
        cached = self._writers.get(key)
        # The cache keeps the schema alive, so its id() cannot be reused by another object.
        if cached is not None and cached[0] is schema:
            return cached[1]
        if len(self._writers) >= _MAX_CACHED_OBJECTS:
            self._writers.clear()  # callers that rebuild equal schemas fall back to the text key
        text_key = (topic, json.dumps(schema, sort_keys=True))
        writer = self._writers_by_text.get(text_key)
        if writer is None:
            writer = self._new_writer(topic, schema)
            self._writers_by_text[text_key] = writer
        self._writers[key] = (schema, writer)
        return writer

    def _new_writer(self, topic: str, schema: Mapping[str, Any]) -> AvroWriter:
        parsed = _parse(schema)
        if self.registry is not None:
            schema_id = self.registry.register(value_subject(topic), schema)
            header = CONFLUENT_MAGIC + schema_id.to_bytes(4, "big")
            self._by_id.setdefault(schema_id, parsed)
        else:
            self.store.add(schema)
            fingerprint = fingerprint_bytes(schema)
            header = SINGLE_OBJECT_MARKER + fingerprint
            self._by_fingerprint.setdefault(fingerprint, parsed)
        return AvroWriter(header=header, parsed_schema=parsed, source_schema=schema)

    def encode(self, topic: str, schema: Mapping[str, Any], record: Mapping[str, Any]) -> bytes:
        """Encode `record` for `topic` with `schema` (see `writer`)."""
        return self.writer(topic, schema).encode(record)

    def decode(self, data: bytes, reader_schema: Mapping[str, Any] | None = None) -> Any:
        """Decode a Confluent-framed or single-object encoded value.

        Args:
            data: The Kafka record value.
            reader_schema: Resolve the data into this schema (Avro schema resolution);
                the writer's schema when omitted.

        Raises:
            SchemaDecodeError: Unknown framing, unknown schema id or fingerprint, no registry
                for Confluent data, or a corrupt body. The message names the bytes.
        """
        view = bytes(data[:SINGLE_OBJECT_HEADER_SIZE])
        if view[:2] == SINGLE_OBJECT_MARKER:
            writer_schema, body_start, what = self._single_object_schema(data)
        elif view[:1] == CONFLUENT_MAGIC:
            writer_schema, body_start, what = self._confluent_schema(data)
        else:
            shown = view[:4].hex(" ") or "nothing (empty value; a tombstone?)"
            msg = (
                f"unknown Avro framing: value starts with {shown}; expected 00 (Confluent "
                "schema id) or c3 01 (Avro single-object encoding)"
            )
            raise SchemaDecodeError(msg)
        reader = None if reader_schema is None else self._reader(reader_schema)
        body = io.BytesIO(data)
        body.seek(body_start)
        try:
            value = schemaless_reader(body, writer_schema, reader)
        except _CORRUPT_BODY as exc:
            msg = f"corrupt Avro body for {what} ({len(data)} bytes): {type(exc).__name__}: {exc}"
            raise SchemaDecodeError(msg) from exc
        trailing = len(data) - body.tell()
        if trailing:
            msg = f"{trailing} bytes left after the Avro body for {what}; the value is corrupt"
            raise SchemaDecodeError(msg)
        return value

    def _single_object_schema(self, data: bytes) -> tuple[Any, int, str]:
        if len(data) < SINGLE_OBJECT_HEADER_SIZE:
            msg = (
                f"truncated single-object header: {bytes(data).hex(' ')} "
                f"({len(data)} of {SINGLE_OBJECT_HEADER_SIZE} header bytes)"
            )
            raise SchemaDecodeError(msg)
        fingerprint = bytes(data[2:SINGLE_OBJECT_HEADER_SIZE])
        number = int.from_bytes(fingerprint, "little")
        what = f"single-object schema fingerprint {number:016x} (bytes {fingerprint.hex(' ')})"
        parsed = self._by_fingerprint.get(fingerprint)
        if parsed is None:
            try:
                schema = self.store.get(number)
            except SchemaError as exc:
                raise SchemaDecodeError(f"cannot resolve {what}: {exc}") from exc
            if schema is None:
                where = self.store.directory or "this process (no store directory configured)"
                msg = (
                    f"unknown {what}: not in the local schema store at {where}; point the "
                    "consumer at the producer's schema store directory"
                )
                raise SchemaDecodeError(msg)
            parsed = self._by_fingerprint.setdefault(fingerprint, _parse(schema))
        return parsed, SINGLE_OBJECT_HEADER_SIZE, what

    def _confluent_schema(self, data: bytes) -> tuple[Any, int, str]:
        if len(data) < CONFLUENT_HEADER_SIZE:
            msg = (
                f"truncated Confluent header: {bytes(data).hex(' ')} "
                f"({len(data)} of {CONFLUENT_HEADER_SIZE} header bytes)"
            )
            raise SchemaDecodeError(msg)
        schema_id = int.from_bytes(data[1:CONFLUENT_HEADER_SIZE], "big")
        what = f"Confluent schema id {schema_id} (bytes {bytes(data[:5]).hex(' ')})"
        parsed = self._by_id.get(schema_id)
        if parsed is None:
            if self.registry is None:
                msg = f"{what}: Confluent-framed value but no Schema Registry URL is configured"
                raise SchemaDecodeError(msg)
            try:
                schema = self.registry.schema_by_id(schema_id)
            except SchemaRegistryError as exc:
                if exc.retriable:
                    raise
                raise SchemaDecodeError(f"cannot resolve {what}: {exc}") from exc
            parsed = self._by_id.setdefault(schema_id, _parse(schema))
        return parsed, CONFLUENT_HEADER_SIZE, what

    def _reader(self, schema: Mapping[str, Any]) -> Any:
        cached = self._readers.get(id(schema))
        if cached is not None and cached[0] is schema:
            return cached[1]
        if len(self._readers) >= _MAX_CACHED_OBJECTS:
            self._readers.clear()
        parsed = _parse(schema)
        self._readers[id(schema)] = (schema, parsed)
        return parsed


def _parse(schema: Mapping[str, Any]) -> Any:
    # A fresh name table per schema: two versions of io.vmsync.veeva.Account.Value must not mix.
    return parse_schema(dict(schema), named_schemas={})


def codec_for(kafka: KafkaSettings) -> AvroCodec:
    """The codec of a deployment, from its Kafka settings.

    Confluent framing with the Schema Registry when one is configured; single-object encoding
    with the local schema store otherwise.
    """
    registry = (
        SchemaRegistryClient(str(kafka.schema_registry_url)) if kafka.schema_registry_url else None
    )
    return AvroCodec(SchemaStore(kafka.schema_store_dir), registry)

"""Single-object encoding, the local store, and the decoder's errors."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import Any

import avro.schema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veeva_marketo_sync.errors import Action, FatalError
from veeva_marketo_sync.schemas.canonical import canonical_form, fingerprint, fingerprint_bytes
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import envelope_schema, load_contract
from veeva_marketo_sync.schemas.errors import (
    IncompatibleSchemaError,
    SchemaDecodeError,
    SchemaEncodeError,
    SchemaError,
    SchemaRegistryError,
)
from veeva_marketo_sync.schemas.from_describe import (
    AVRO_TYPE_BY_SF_TYPE,
    SKIPPED_SF_TYPES,
    schema_from_describe,
)
from veeva_marketo_sync.schemas.store import SchemaStore, store_file_name

SF_TYPES = sorted([*AVRO_TYPE_BY_SF_TYPE, *SKIPPED_SF_TYPES])
UTC = dt.UTC


def _millis(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


VALUES: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=40),
    "bytes": st.binary(max_size=40),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "double": st.floats(allow_nan=False),
    "date": st.dates(),
    "timestamp-millis": st.datetimes(
        min_value=dt.datetime(1900, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        timezones=st.just(UTC),
    ).map(_millis),
    "time-millis": st.times().map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)),
}


def _value_strategy(avro_type: Any) -> st.SearchStrategy[Any]:
    key = avro_type.get("logicalType") if isinstance(avro_type, dict) else avro_type
    return st.one_of(st.none(), VALUES[key])


@st.composite
def schemas_and_payloads(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    names = draw(st.sets(st.from_regex(r"[A-Z][a-z]{1,8}(__c)?", fullmatch=True), max_size=20))
    fields = [{"name": "Id", "type": "id"}]
    fields += [{"name": n, "type": draw(st.sampled_from(SF_TYPES))} for n in sorted(names - {"Id"})]
    schema = schema_from_describe({"name": "Account", "fields": fields})
    payload = {f["name"]: draw(_value_strategy(f["type"][1])) for f in schema["fields"]}
    return schema, payload


AT = dt.datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def _event(payload: dict[str, Any] | None, op: str = "upsert") -> dict[str, Any]:
    return {
        "object": "Account",
        "id": "001000000000001AAA",
        "op": op,
        "source": {
            "system": "veeva",
            "org_id": "00D",
            "user_id": "005",
            "modstamp": AT,
            "cycle_id": "c1",
        },
        "after": payload,
        "emitted_at": AT,
    }


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(schemas_and_payloads())
def test_single_object_round_trip_of_generated_schemas(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    schema, payload = case
    codec = AvroCodec()
    envelope = envelope_schema(schema)

    data = codec.encode("veeva.Account", envelope, _event(payload))

    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == fingerprint_bytes(envelope)
    assert codec.decode(data) == _event(payload)


def test_fingerprint_matches_the_avro_reference_implementation() -> None:
    # avro 1.12 keeps {"type": "long"} for logical types in the canonical form, against the
    # spec's PRIMITIVES rule (Java and fastavro write "long"), so compare without them.
    describe = {
        "name": "Account",
        "fields": [
            {"name": "Id", "type": "id"},
            {"name": "N", "type": "int"},
            {"name": "B", "type": "base64"},
        ],
    }
    schema = schema_from_describe(describe)
    reference = avro.schema.parse(json.dumps(schema))

    assert fingerprint_bytes(schema) == reference.fingerprint("CRC-64-AVRO")
    assert canonical_form(schema) == reference.canonical_form
    assert fingerprint("int") == 0x7275D51A3F395C8F  # the Avro spec's test vector


def test_canonical_form_writes_logical_types_as_their_primitive() -> None:
    schema = load_contract("dead_letter")

    assert '{"name":"failed_at","type":"long"}' in canonical_form(schema)


def test_a_consumer_resolves_fingerprints_from_the_producers_store_directory(
    tmp_path: Path,
) -> None:
    schema = load_contract("lead_edit")
    schema["doc"] = "a version only the producer knows"
    schema["fields"].append({"name": "extra", "type": ["null", "string"], "default": None})
    record = {
        "lead_id": 1,
        "veeva_account_id": None,
        "field": "email",
        "old_value": None,
        "new_value": "a@example.com",
        "activity_id": 2,
        "activity_time": AT,
        "attributes": {},
        "reason": None,
        "extra": "x",
    }
    producer = AvroCodec(SchemaStore(tmp_path))
    data = producer.encode("marketo.lead-edits", schema, record)

    consumer = AvroCodec(SchemaStore(tmp_path))

    assert (tmp_path / store_file_name(fingerprint(schema))).is_file()
    assert consumer.decode(data) == record


def test_reading_with_a_newer_reader_schema_fills_defaults() -> None:
    old = schema_from_describe({"name": "Account", "fields": [{"name": "Id", "type": "id"}]})
    new = schema_from_describe(
        {
            "name": "Account",
            "fields": [{"name": "Id", "type": "id"}, {"name": "NPI_vod__c", "type": "string"}],
        }
    )
    codec = AvroCodec()
    data = codec.encode("veeva.Account", envelope_schema(old), _event({"Id": "001"}))

    decoded = codec.decode(data, reader_schema=envelope_schema(new))

    assert decoded["after"] == {"Id": "001", "NPI_vod__c": None}


def test_unknown_fingerprint_names_it_and_the_store() -> None:
    data = b"\xc3\x01" + (0x1122334455667788).to_bytes(8, "little") + b"\x00"

    with pytest.raises(
        SchemaDecodeError, match="unknown single-object schema fingerprint 1122334455667788"
    ):
        AvroCodec().decode(data)


def test_confluent_framing_without_a_registry_is_a_clear_error() -> None:
    with pytest.raises(SchemaDecodeError, match=r"schema id 7 .*no Schema Registry URL"):
        AvroCodec().decode(b"\x00\x00\x00\x00\x07\x02")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty value"),
        (b'{"json": 1}', "starts with 7b 22 6a 73"),
        (b"\xc3\x01\x01", "truncated single-object header: c3 01 01"),
        (b"\x00\x00\x01", "truncated Confluent header: 00 00 01"),
    ],
)
def test_framing_errors_name_the_bytes(data: bytes, message: str) -> None:
    with pytest.raises(SchemaDecodeError, match=message):
        AvroCodec().decode(data)


def test_trailing_bytes_are_reported() -> None:
    codec = AvroCodec()
    data = codec.encode(
        "t",
        load_contract("checkpoint"),
        {
            "component": "c",
            "object": "o",
            "phase": "snapshot",
            "watermark": None,
            "snapshot_cursor": None,
            "paging_token": None,
            "records_done": 0,
            "updated_at": AT,
        },
    )

    with pytest.raises(SchemaDecodeError, match="1 bytes left after the Avro body"):
        codec.decode(data + b"\x00")


@given(body=st.binary(max_size=200))
def test_garbage_bodies_fail_with_a_clean_decode_error(body: bytes) -> None:
    codec = AvroCodec()
    schema = envelope_schema(
        schema_from_describe(
            {
                "name": "Account",
                "fields": [
                    {"name": "Id", "type": "id"},
                    {"name": "B", "type": "date"},
                    {"name": "C", "type": "datetime"},
                    {"name": "D", "type": "base64"},
                ],
            }
        )
    )
    header = codec.encode("veeva.Account", schema, _event(None))[:10]

    failure: SchemaDecodeError | None = None
    try:
        codec.decode(header + body)
    except SchemaDecodeError as exc:
        failure = exc

    assert failure is None or "fingerprint" in str(failure)


@given(data=st.binary(max_size=60))
def test_arbitrary_bytes_never_escape_as_anything_but_a_decode_error(data: bytes) -> None:
    codec = AvroCodec()
    with contextlib.suppress(SchemaDecodeError):
        codec.decode(data)


def test_a_record_that_does_not_fit_is_an_encode_error_naming_the_field() -> None:
    codec = AvroCodec()
    record = {
        "component": "c",
        "object": "o",
        "phase": "paused",
        "watermark": None,
        "snapshot_cursor": None,
        "paging_token": None,
        "records_done": 0,
        "updated_at": AT,
    }

    with pytest.raises(SchemaEncodeError, match="phase"):
        codec.encode("t", load_contract("checkpoint"), record)


def test_a_store_file_with_the_wrong_schema_is_refused(tmp_path: Path) -> None:
    schema = load_contract("dead_letter")
    other = load_contract("checkpoint")
    (tmp_path / store_file_name(fingerprint(schema))).write_text(json.dumps(other))

    with pytest.raises(SchemaError, match="holds the schema with fingerprint"):
        SchemaStore(tmp_path, include_contracts=False).get(fingerprint(schema))


def test_errors_carry_the_action_they_demand() -> None:
    with pytest.raises(SchemaDecodeError) as decode:
        AvroCodec().decode(b"garbage")

    assert decode.value.action is Action.DEAD_LETTER
    assert SchemaEncodeError("x").action is Action.DEAD_LETTER
    assert SchemaRegistryError("down", status_code=503, retriable=True).action is Action.RETRY
    assert SchemaRegistryError("bad", status_code=422, retriable=False).action is Action.STOP
    incompatible = IncompatibleSchemaError("veeva.Account-value", ["field 'A': gone"])
    assert isinstance(incompatible, FatalError)
    assert incompatible.action is Action.STOP
    assert "field 'A': gone" in str(incompatible)

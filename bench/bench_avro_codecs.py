"""Encode+decode round trips of a 40-field person-account change event: fastavro vs avro.

Run: .venv/bin/python bench/bench_avro_codecs.py [--records N] [--rounds R]
Prints records/s per codec (median of the rounds) and the ratio to fastavro.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import io
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import fastavro

from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import envelope_schema
from veeva_marketo_sync.schemas.from_describe import schema_from_describe

AT = dt.datetime(2026, 5, 1, 8, 30, 15, 123000, tzinfo=dt.UTC)

# 40 visible fields of an HCP person account, typed as describe reports them.
FIELDS: list[tuple[str, str, Any]] = [
    ("Id", "id", "001000000000001AAA"),
    ("FirstName", "string", "Ada"),
    ("LastName", "string", "Lovelace"),
    ("Salutation", "picklist", "Dr."),
    ("PersonEmail", "email", "ada.lovelace@example-hospital.org"),
    ("Phone", "phone", "+44 20 7946 0000"),
    ("PersonMobilePhone", "phone", "+44 7700 900000"),
    ("PersonTitle", "string", "Consultant Cardiologist"),
    ("PersonMailingStreet", "textarea", "12 Harley Street"),
    ("PersonMailingCity", "string", "London"),
    ("PersonMailingState", "string", None),
    ("PersonMailingPostalCode", "string", "W1G 9PF"),
    ("PersonMailingCountry", "string", "United Kingdom"),
    ("PersonHasOptedOutOfEmail", "boolean", False),
    ("PersonDoNotCall", "boolean", False),
    ("Specialty_1_vod__c", "picklist", "Cardiology_vod"),
    ("Specialty_2_vod__c", "picklist", None),
    ("Credentials_vod__c", "picklist", "MD"),
    ("NPI_vod__c", "string", "1234567890"),
    ("CreatedDate", "datetime", AT),
    ("LastModifiedDate", "datetime", AT),
    ("SystemModstamp", "datetime", AT),
    ("OwnerId", "reference", "005000000000001AAA"),
    ("RecordTypeId", "reference", "012000000000001AAA"),
    ("CreatedById", "reference", "005000000000002AAA"),
    ("LastModifiedById", "reference", "005000000000003AAA"),
    ("IsPersonAccount", "boolean", True),
    ("PersonBirthdate", "date", dt.date(1975, 12, 10)),
    ("Gender_vod__c", "picklist", "F"),
    ("Status_vod__c", "picklist", "Active"),
    ("Account_Type__c", "picklist", "Professional"),
    ("Preferred_Name_vod__c", "string", "Ada"),
    ("Language_vod__c", "picklist", "en"),
    ("Territory_vod__c", "string", "UK-LON-01"),
    ("Total_MDs_DOs__c", "double", 1.0),
    ("Annual_Calls__c", "int", 24),
    ("Sample_Budget__c", "currency", 1500.0),
    ("Target_Share__c", "percent", 12.5),
    ("Do_Not_Sync_Sales_Data_vod__c", "boolean", False),
    ("Master_Align_Id_vod__c", "string", "MA-000123"),
]


def build() -> tuple[dict[str, Any], dict[str, Any]]:
    describe = {"name": "Account", "fields": [{"name": n, "type": t} for n, t, _ in FIELDS]}
    schema = envelope_schema(schema_from_describe(describe))
    event = {
        "object": "Account",
        "id": "001000000000001AAA",
        "op": "upsert",
        "source": {
            "system": "veeva",
            "org_id": "00D000000000001",
            "user_id": "005000000000003AAA",
            "modstamp": AT,
            "cycle_id": "2026-05-01T08:30:00Z",
        },
        "after": {n: v for n, _, v in FIELDS},
        "emitted_at": AT,
    }
    return schema, event


def fastavro_round_trip(schema: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    parsed = fastavro.parse_schema(schema, named_schemas={})

    def run(event: dict[str, Any]) -> Any:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, event)
        out.seek(0)
        return fastavro.schemaless_reader(out, parsed)

    return run


def avro_round_trip(schema: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    import avro.io
    import avro.schema

    parsed = avro.schema.parse(json.dumps(schema))
    writer = avro.io.DatumWriter(parsed)
    reader = avro.io.DatumReader(parsed)

    def run(event: dict[str, Any]) -> Any:
        out = io.BytesIO()
        writer.write(event, avro.io.BinaryEncoder(out))
        out.seek(0)
        return reader.read(avro.io.BinaryDecoder(out))

    return run


def project_codec_round_trip(schema: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    codec = AvroCodec()
    writer = codec.writer("veeva.Account", schema)

    def run(event: dict[str, Any]) -> Any:
        return codec.decode(writer.encode(event))

    return run


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def records_per_second(
    run: Callable[[dict[str, Any]], Any], event: dict[str, Any], n: int
) -> float:
    start = time.perf_counter()
    for _ in range(n):
        run(event)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    schema, event = build()
    codecs = {"fastavro": fastavro_round_trip(schema), "avro": avro_round_trip(schema)}
    codecs["AvroCodec (fastavro + single-object framing)"] = project_codec_round_trip(schema)
    if _installed("avro-python3"):
        print("avro-python3 (deprecated) shares the 'avro' import name with avro; not measured")

    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema, named_schemas={}), event)
    size = len(out.getvalue())
    for name, run in codecs.items():
        assert run(event) == event, f"{name} does not round-trip the event"

    medians: dict[str, float] = {}
    for name, run in codecs.items():
        n = max(args.records // 10, 1) if name == "avro" else args.records
        rates = [records_per_second(run, event, n) for _ in range(args.rounds)]
        medians[name] = statistics.median(rates)

    print(f"40-field person-account change event, {size} bytes of Avro binary")
    print(f"median of {args.rounds} rounds, encode+decode round trips")
    for name, rate in medians.items():
        ratio = rate / medians["fastavro"]
        print(f"{name:>46}: {rate:>9,.0f} records/s  ({ratio:.3f} x fastavro)")
    print(f"fastavro / avro = {medians['fastavro'] / medians['avro']:.1f}")


if __name__ == "__main__":
    main()

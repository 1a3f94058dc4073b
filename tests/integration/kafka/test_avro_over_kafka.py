"""Avro change events cross a real Kafka broker between kafka-python and aiokafka (both ways)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaConsumer

from veeva_marketo_sync.clients.kafka import create_topics, make_producer
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import envelope_schema
from veeva_marketo_sync.schemas.from_describe import schema_from_describe
from veeva_marketo_sync.schemas.store import SchemaStore
from veeva_marketo_sync.settings import KafkaSettings
from veeva_marketo_sync.topics import Cleanup, TopicSpec

pytestmark = pytest.mark.integration

# A realistic 40-field person account as describe shows it.
_TYPES = ["string"] * 16 + [
    "email",
    "phone",
    "phone",
    "picklist",
    "picklist",
    "boolean",
    "boolean",
    "date",
    "datetime",
    "datetime",
    "double",
    "int",
    "reference",
    "reference",
    "textarea",
    "url",
    "currency",
    "percent",
    "string",
    "string",
    "boolean",
    "date",
    "picklist",
]
DESCRIBE: dict[str, Any] = {
    "name": "Account",
    "fields": [{"name": "Id", "type": "id", "length": 18}]
    + [{"name": f"Field_{i}__c", "type": t, "length": 80} for i, t in enumerate(_TYPES)],
}


def _value(sf_type: str, i: int, n: int) -> Any:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return {
        "boolean": (i + n) % 2 == 0,
        "date": (base + timedelta(days=n)).date(),
        "datetime": base + timedelta(seconds=n * 61 + i),
        "double": n * 1.5,
        "currency": n * 2.25,
        "percent": 12.5,
        "int": n * 7,
    }.get(sf_type, f"value {i} of record {n} — é ✓")


def make_events(n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    payload = schema_from_describe(DESCRIBE)
    schema = envelope_schema(payload)
    assert len(payload["fields"]) == 40
    events = []
    for k in range(n):
        after: dict[str, Any] = {"Id": f"001{k:015d}"}
        for i, t in enumerate(_TYPES):
            after[f"Field_{i}__c"] = None if (k + i) % 9 == 0 else _value(t, i, k)
        events.append(
            {
                "object": "Account",
                "id": after["Id"],
                "op": "snapshot" if k % 2 else "upsert",
                "source": {
                    "system": "veeva",
                    "org_id": "00D000000000001AAA",
                    "user_id": None if k % 3 else "005000000000001AAA",
                    "modstamp": datetime(2026, 3, 1, tzinfo=UTC) + timedelta(milliseconds=k),
                    "cycle_id": "cycle-1",
                },
                "after": after,
                "emitted_at": datetime(2026, 3, 1, 12, tzinfo=UTC),
            }
        )
    return schema, events


def new_topic(bootstrap: str) -> str:
    name = f"it.veeva.Account.{uuid.uuid4().hex[:8]}"
    settings = KafkaSettings(bootstrap_servers=bootstrap, partitions=3, replication_factor=1)
    created, _ = create_topics(settings, [TopicSpec(name, "Id", "event", Cleanup.COMPACT)])
    assert created == [name]
    return name


async def test_kafka_python_producer_to_aiokafka_consumer_group(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = new_topic(kafka_bootstrap)
    schema, events = make_events(200)
    codec = AvroCodec(SchemaStore(tmp_path))  # the producer's process
    producer = make_producer(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    for event in events:
        producer.send(topic, key=event["id"].encode(), value=codec.encode(topic, schema, event))
    producer.flush()
    producer.close()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"it-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
    )
    await consumer.start()
    decoder = AvroCodec(SchemaStore(tmp_path))  # another process, same schema store
    received: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 60
        while len(received) < len(events) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    assert record.key is not None
                    received[record.key.decode()] = decoder.decode(record.value)
    finally:
        await consumer.stop()
    assert len(received) == len(events)
    for event in events:
        assert received[event["id"]] == event


async def test_aiokafka_producer_to_kafka_python_consumer_group(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = new_topic(kafka_bootstrap)
    schema, events = make_events(120)
    codec = AvroCodec(SchemaStore(tmp_path))  # the producer's process
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for event in events:
            await producer.send(
                topic, key=event["id"].encode(), value=codec.encode(topic, schema, event)
            )
        await producer.flush()
    finally:
        await producer.stop()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"it-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
    )
    decoder = AvroCodec(SchemaStore(tmp_path))  # another process, same schema store
    received: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 60
        while len(received) < len(events) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    received[record.key.decode()] = decoder.decode(record.value)
        consumer.commit()
    finally:
        consumer.close()
    assert len(received) == len(events)
    assert [received[e["id"]] for e in events] == events

"""The Veeva writer's row retries on a real Kafka broker, with an in-memory VeevaApi."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from writer_harness import Deployment, eventually

from veeva_marketo_sync.clients.ports import SfDescribe, SfField, SfRecord, WriteResult
from veeva_marketo_sync.consumers.dead_letters import list_dead_letters
from veeva_marketo_sync.consumers.veeva_writer import VeevaWriter, VeevaWriterConfig
from veeva_marketo_sync.errors import TransientError
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import CONTACT_EDIT, load_contract

pytestmark = pytest.mark.integration


class LockingVeeva:
    """Answers row locks for ``locked[id]`` more calls, then writes; counts the calls."""

    def __init__(self, locked: dict[str, int], failing_calls: int = 0) -> None:
        self.locked = dict(locked)
        self.failing_calls = failing_calls
        self.calls: list[list[SfRecord]] = []
        self.records: dict[str, dict[str, Any]] = {}

    def describe(self, object_name: str) -> SfDescribe:
        return SfDescribe(object_name, (SfField("FirstName", "string", 40, updateable=True),))

    def update_records(self, object_name: str, records: Sequence[SfRecord]) -> list[WriteResult]:
        assert object_name == "Account"
        if self.failing_calls:
            self.failing_calls -= 1
            raise TransientError("503 SERVER_UNAVAILABLE")
        self.calls.append([dict(r) for r in records])
        results = []
        for record in records:
            record_id = str(record["Id"])
            if self.locked.get(record_id, 0) > 0:
                self.locked[record_id] -= 1
                results.append(
                    WriteResult(
                        record_id,
                        ok=False,
                        error_code="UNABLE_TO_LOCK_ROW",
                        message="unable to obtain exclusive access to this record",
                        retriable=True,
                    )
                )
                continue
            self.records.setdefault(record_id, {}).update(record)
            results.append(WriteResult(record_id, ok=True, remote_id=record_id))
        return results


async def produce(deployment: Deployment, edits: list[tuple[str, str]]) -> None:
    topic = deployment.topics.contact_edits
    codec = AvroCodec()
    producer = AIOKafkaProducer(bootstrap_servers=deployment.settings.bootstrap_servers)
    await producer.start()
    try:
        for account_id, first_name in edits:
            record = {
                "account_id": account_id,
                "fields": {"FirstName": first_name},
                "origin": "marketo",
                "decided_at": 0,
            }
            value = codec.encode(topic, load_contract(CONTACT_EDIT), record)
            await producer.send(topic, key=account_id.encode(), value=value)
        await producer.flush()
    finally:
        await producer.stop()


async def committed(deployment: Deployment) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=deployment.settings.bootstrap_servers,
        group_id=deployment.group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        topic = deployment.topics.contact_edits
        offsets = [
            await consumer.committed(TopicPartition(topic, p))
            for p in range(deployment.settings.partitions)
        ]
    finally:
        await consumer.stop()
    return sum(offset or 0 for offset in offsets)


async def run_until_committed(deployment: Deployment, api: LockingVeeva, count: int) -> VeevaWriter:
    writer = VeevaWriter(
        deployment.settings,
        api,  # type: ignore[arg-type]
        AvroCodec(),
        config=VeevaWriterConfig(
            group_id=deployment.group,
            linger_seconds=0.5,
            poll_seconds=0.1,
            backoff_seconds=0.01,
            record_attempts=3,
        ),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(writer.run(stop))

    async def done() -> bool:
        return await committed(deployment) == count

    try:
        await eventually(done, within=60, what=f"{count} offsets committed")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    return writer


async def test_locked_rows_are_retried_until_written_or_dead_lettered(
    deployment: Deployment,
) -> None:
    await produce(deployment, [("A", "Ann"), ("B", "Bob"), ("C", "Cid")])
    api = LockingVeeva({"B": 1, "C": 99})

    writer = await run_until_committed(deployment, api, 3)

    assert api.records["A"]["FirstName"] == "Ann"
    assert api.records["B"]["FirstName"] == "Bob"
    assert "C" not in api.records
    # First call carries all three; the retries carry only the rows still locked.
    assert [sorted(r["Id"] for r in call) for call in api.calls] == [
        ["A", "B", "C"],
        ["B", "C"],
        ["C"],
    ]
    [letter] = await list_dead_letters(deployment.settings, deployment.topics.dlq)
    assert letter.key == b"C"
    assert "still retriable after 3 attempts" in letter.message
    assert "UNABLE_TO_LOCK_ROW" in letter.message
    assert writer.stats.accounts_written == 2


async def test_a_failing_call_is_retried_not_dead_lettered(deployment: Deployment) -> None:
    await produce(deployment, [("A", "Ann")])
    api = LockingVeeva({}, failing_calls=2)

    writer = await run_until_committed(deployment, api, 1)

    assert api.records["A"]["FirstName"] == "Ann"
    assert await list_dead_letters(deployment.settings, deployment.topics.dlq) == []
    assert writer.stats.dead_letters == 0

"""The Veeva writer against the Veeva emulator over HTTPS and the real Kafka broker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from devstack import running_emulators
from edge_helpers import deployment, eventually

from veeva_marketo_sync.clients.veeva import VeevaClient
from veeva_marketo_sync.consumers.dead_letters import list_dead_letters
from veeva_marketo_sync.consumers.veeva_writer import VeevaWriter, VeevaWriterConfig
from veeva_marketo_sync.processors.mapping import bidirectional_fields, load_mapping
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import CONTACT_EDIT, load_contract
from veeva_marketo_sync.settings import Settings
from veeva_marketo_sync.topics import Topics

pytestmark = pytest.mark.integration

RULE_MESSAGE = "Email addresses at blocked.example are not allowed"


def contact_edit(account_id: str, **fields: str | None) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "fields": fields,
        "origin": "marketo",
        "decided_at": 1_700_000_000_000,
        "reasons": [],
        "source_event_ids": [],
    }


async def produce(settings: Settings, edits: list[dict[str, Any]]) -> list[bytes]:
    topic = Topics(settings.kafka.topic_prefix).contact_edits
    codec = AvroCodec()
    schema = load_contract(CONTACT_EDIT)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", enable_idempotence=True
    )
    await producer.start()
    values = []
    try:
        for edit in edits:
            value = codec.encode(topic, schema, edit)
            values.append(value)
            await producer.send(topic, key=edit["account_id"].encode(), value=value)
        await producer.flush()
    finally:
        await producer.stop()
    return values


async def committed(settings: Settings, group: str) -> int:
    topic = Topics(settings.kafka.topic_prefix).contact_edits
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        offsets = [
            await consumer.committed(TopicPartition(topic, p))
            for p in range(settings.kafka.partitions)
        ]
    finally:
        await consumer.stop()
    return sum(offset or 0 for offset in offsets)


async def test_contact_edits_are_applied_refused_or_dead_lettered_and_committed(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    with running_emulators(tmp_path, 6) as emulators, contextlib.ExitStack() as stack:
        settings = await deployment(tmp_path, emulators, kafka_bootstrap)
        with emulators.veeva() as veeva:
            rows = veeva.get("/__admin/records/Account", params={"limit": 50}).json()["records"]
            ann, bob, cid, dan = [r["Id"] for r in rows if r.get("IsPersonAccount")][:4]
            before = {i: veeva.get(f"/__admin/records/Account/{i}").json() for i in (cid, dan)}
            veeva.post(
                "/__admin/validation-rules",
                json={
                    "name": "No_Blocked_Domain",
                    "object": "Account",
                    "field": "PersonEmail",
                    "pattern": r"@blocked\.example$",
                    "message": RULE_MESSAGE,
                },
            ).raise_for_status()

            values = await produce(
                settings,
                [
                    contact_edit(ann, FirstName="Zed", PersonEmail="zed@example.com"),
                    contact_edit(bob, PersonHasOptedOutOfEmail="true", Phone="+1 555 0100"),
                    contact_edit(cid, FirstName="Mallory", NPI_vod__c="9999999999"),
                    contact_edit(dan, PersonEmail="dan@blocked.example"),
                    contact_edit(ann, FirstName="Zoe"),
                ],
            )

            group = f"veeva-writer-{uuid.uuid4().hex[:8]}"
            session = stack.enter_context(requests.Session())  # closed: the emulator stops fast
            writer = VeevaWriter(
                settings.kafka,
                VeevaClient(settings.veeva, session=session),
                AvroCodec(),
                synced_fields=frozenset(bidirectional_fields(load_mapping())),
                config=VeevaWriterConfig(
                    group_id=group, linger_seconds=1.0, poll_seconds=0.2, backoff_seconds=0.05
                ),
            )
            stop = asyncio.Event()
            task = asyncio.create_task(writer.run(stop))

            async def all_committed() -> bool:
                return await committed(settings, group) == len(values)

            try:
                await eventually(all_committed, what="every edit committed")
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)

            def account(record_id: str) -> dict[str, Any]:
                response = veeva.get(f"/__admin/records/Account/{record_id}")
                return dict(response.raise_for_status().json())

            assert account(ann)["FirstName"] == "Zoe"
            assert account(ann)["PersonEmail"] == "zed@example.com"
            assert account(bob)["PersonHasOptedOutOfEmail"] in (True, 1)
            assert account(bob)["Phone"] == "+1 555 0100"
            for record_id in (cid, dan):
                after = account(record_id)
                for name in ("FirstName", "NPI_vod__c", "PersonEmail"):
                    assert after[name] == before[record_id][name]

        letters = await list_dead_letters(settings.kafka, Topics(settings.kafka.topic_prefix).dlq)
        by_key = {letter.key: letter for letter in letters}
        assert set(by_key) == {cid.encode(), dan.encode()}
        refused, rejected = by_key[cid.encode()], by_key[dan.encode()]
        assert (refused.stage, rejected.stage) == ("check", "write")
        assert "NPI_vod__c" in refused.message
        assert refused.error_class == "ForbiddenVeevaWriteError"
        assert refused.value == values[2]
        assert RULE_MESSAGE in rejected.message
        assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in rejected.message
        assert rejected.value == values[3]
        assert writer.stats.accounts_written == 2
        assert writer.stats.dead_letters == 2
        assert writer.stats.calls_made == 1  # one sObject Collections call, ann merged

"""Harness of the Marketo writer's integration tests: deployments, producing, polling."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from veeva_marketo_sync.consumers.marketo_writer import MarketoWriter, WriterConfig
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import MARKETO_UPSERT, load_contract
from veeva_marketo_sync.settings import KafkaSettings
from veeva_marketo_sync.topics import Topics

FAST = WriterConfig(
    linger_seconds=0.3,
    poll_seconds=0.2,
    backoff_seconds=0.05,
    transient_pause_seconds=0.5,
)


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, within: float = 30.0, what: str = ""
) -> None:
    """Poll ``check`` (sync or async) until it holds or the deadline passes."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what or check}")
        await asyncio.sleep(0.05)


def upsert(veeva_id: str, fields: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "target_kind": extra.get("target_kind", "lead"),
        "target_name": extra.get("target_name", "leads"),
        "lookup_field": extra.get("lookup_field", "veevaAccountId"),
        "veeva_id": veeva_id,
        "fields": fields if fields is not None else {"email": f"{veeva_id.lower()}@example.com"},
        "source_event_ids": [],
    }


@dataclass
class Deployment:
    """One isolated deployment on the shared broker: its own prefix, topics and group."""

    settings: KafkaSettings
    topics: Topics
    codec: AvroCodec = field(default_factory=AvroCodec)
    group: str = ""

    async def produce(self, target: str, commands: Sequence[dict[str, Any] | bytes]) -> list[bytes]:
        """Produce commands (records or raw bytes) keyed by Veeva Id; returns the values sent."""
        topic = self.topics.marketo(target)
        schema = load_contract(MARKETO_UPSERT)
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.bootstrap_servers, acks="all", enable_idempotence=True
        )
        await producer.start()
        values: list[bytes] = []
        try:
            for command in commands:
                if isinstance(command, bytes):
                    key, value = b"garbage", command
                else:
                    key, value = (
                        command["veeva_id"].encode(),
                        self.codec.encode(topic, schema, command),
                    )
                values.append(value)
                await producer.send(topic, key=key, value=value)
            await producer.flush()
        finally:
            await producer.stop()
        return values

    def writer(self, api: Any, **kwargs: Any) -> MarketoWriter:
        config = kwargs.pop("config", FAST)
        return MarketoWriter(
            self.settings,
            api,
            AvroCodec(),
            targets=kwargs.pop("targets", ("leads",)),
            config=WriterConfig(**{**config.__dict__, "group_id": self.group}),
            **kwargs,
        )

    async def committed(self, target: str = "leads") -> int:
        """Sum of the writer group's committed offsets on ``target``'s topic."""
        topic = self.topics.marketo(target)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            group_id=self.group,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            offsets = [
                await consumer.committed(TopicPartition(topic, partition))
                for partition in range(self.settings.partitions)
            ]
        finally:
            await consumer.stop()
        return sum(offset or 0 for offset in offsets)


@dataclass
class Running:
    """A writer running in a task, stopped (or cancelled) by the test."""

    writer: MarketoWriter
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, timeout=30)


def start(writer: MarketoWriter) -> Running:
    stop = asyncio.Event()
    return Running(writer, stop, asyncio.create_task(writer.run(stop)))

"""Read a whole topic once, from its beginning to the end it had when reading began.

Used to load the id map and to list dead letters; no consumer group, no commits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from ..clients.kafka import aiokafka_options
from ..errors import FatalError
from ..settings import KafkaSettings


async def read_to_end(
    settings: KafkaSettings,
    topic: str,
    *,
    poll_timeout_ms: int = 500,
    metadata_wait_seconds: float = 10.0,
) -> AsyncGenerator[Any, None]:
    """Yield every record of ``topic`` (aiokafka ``ConsumerRecord``), in order per partition.

    Raises:
        FatalError: The topic does not exist (after ``metadata_wait_seconds``, since a topic
            just created takes a moment to show in the cluster's metadata).
    """
    consumer = AIOKafkaConsumer(
        **aiokafka_options(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        numbers = await _partitions(consumer, topic, metadata_wait_seconds)
        partitions = [TopicPartition(topic, number) for number in sorted(numbers)]
        consumer.assign(partitions)
        start: dict[TopicPartition, int] = await consumer.beginning_offsets(partitions)
        end: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, start[tp])  # explicit: seek_to_beginning races the assignment
        remaining = {tp for tp in partitions if start[tp] < end[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=poll_timeout_ms)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < end[tp]:
                        yield record
            remaining = {tp for tp in remaining if await consumer.position(tp) < end[tp]}
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str, wait_seconds: float) -> set[int]:
    deadline = time.monotonic() + wait_seconds
    while True:
        # The public topics() fetches the same metadata but keeps only the topic names.
        cluster = await consumer._client.fetch_all_metadata()
        numbers: set[int] | None = cluster.partitions_for_topic(topic)
        if numbers:
            return numbers
        if time.monotonic() >= deadline:
            raise FatalError(f"topic {topic} does not exist", hint="run `vmsync topics create`")
        await asyncio.sleep(0.2)

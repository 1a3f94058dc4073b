"""Fixtures of the Marketo writer's integration tests: a fresh topic prefix on the real broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from writer_harness import Deployment

from veeva_marketo_sync.clients.kafka import create_topics
from veeva_marketo_sync.settings import KafkaSettings
from veeva_marketo_sync.topics import Topics


@pytest.fixture
async def deployment(kafka_bootstrap: str) -> Deployment:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = KafkaSettings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, partitions=3, replication_factor=1
    )
    topics = Topics(prefix)
    await asyncio.to_thread(create_topics, settings, topics.specs((), ("leads", "co.veevaCall_c")))
    return Deployment(settings, topics, group=f"{prefix}-writer")

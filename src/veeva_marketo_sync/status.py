"""What ``vmsync status`` shows: capture progress per object, consumer lag per component, DLQ.

Reads Kafka only (checkpoints, committed offsets, end offsets); it never calls Veeva or Marketo.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import OffsetSpec, OffsetTimestamp

from .clients.kafka import kafka_python_options
from .consumers.reading import read_to_end
from .errors import FatalError
from .schemas.codec import AvroCodec
from .settings import Settings
from .topics import Topics


@dataclass(frozen=True)
class CaptureProgress:
    """The latest checkpoint of one component on one object."""

    key: str
    phase: str
    records_done: int
    watermark: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class GroupLag:
    """How far one component's consumer group is behind the end of its topics."""

    component: str
    group: str
    lag: int
    """Records not processed yet (all of them when the group never committed)."""
    started: bool
    """Whether the group has committed any offset yet."""


def capture_progress(settings: Settings, codec: AvroCodec) -> list[CaptureProgress]:
    """The latest checkpoint per key on ``vmsync.checkpoints``."""
    topic = Topics(settings.kafka.topic_prefix).checkpoints

    async def latest() -> dict[str, Any]:
        found: dict[str, Any] = {}
        async for record in read_to_end(settings.kafka, topic):
            key = (record.key or b"").decode()
            found[key] = None if record.value is None else codec.decode(record.value)
        return found

    progress = []
    for key, value in sorted(asyncio.run(latest()).items()):
        if value is None:
            continue
        watermark = value.get("watermark")
        progress.append(
            CaptureProgress(
                key=key,
                phase=str(value["phase"]),
                records_done=int(value.get("records_done") or 0),
                watermark=watermark["modstamp"] if watermark else None,
                updated_at=value["updated_at"],
            )
        )
    return progress


def group_lags(settings: Settings, groups: dict[str, tuple[str, list[str]]]) -> list[GroupLag]:
    """Lag of each ``component -> (group, topics)``, summed over the topics' partitions."""
    options = kafka_python_options(settings.kafka)
    admin = KafkaAdminClient(**options)
    consumer = KafkaConsumer(**options, enable_auto_commit=False)
    try:
        lags = []
        for component, (group, topics) in groups.items():
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            ends = consumer.end_offsets(partitions) if partitions else {}
            committed = admin.list_group_offsets({group: None}).get(group, {})
            done = {
                (tp.topic, tp.partition): getattr(m, "offset", m) for tp, m in committed.items()
            }
            lag = sum(
                max(0, end - done.get((tp.topic, tp.partition), 0)) for tp, end in ends.items()
            )
            lags.append(GroupLag(component, group, lag, started=bool(done)))
        return lags
    finally:
        consumer.close()
        admin.close()


def reset_group(
    settings: Settings, group: str, topics: list[str], since: datetime | None
) -> dict[str, int]:
    """Move ``group``'s committed offsets on ``topics`` back to ``since`` (or the beginning).

    The component must be stopped (the group empty). Returns the new offset per partition.
    """
    options = kafka_python_options(settings.kafka)
    admin = KafkaAdminClient(**options)
    consumer = KafkaConsumer(**options, enable_auto_commit=False)
    try:
        described = admin.describe_groups([group]).get(group) or {}
        members = described.get("members") or []
        if members:
            msg = f"consumer group {group} has {len(members)} running member(s): stop it first"
            raise FatalError(msg)
        spec: Any = (
            OffsetSpec.EARLIEST if since is None else OffsetTimestamp(int(since.timestamp() * 1000))
        )
        specs = {
            TopicPartition(topic, p): spec
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        }
        result = admin.reset_group_offsets(group, specs)
        return {f"{tp.topic}/{tp.partition}": _offset(v) for tp, v in result.items()}
    finally:
        consumer.close()
        admin.close()


def _offset(value: Any) -> int:
    if isinstance(value, dict):
        error = value.get("error")
        if error not in (None, 0) and "NoError" not in str(error):
            msg = f"could not move the offset: {error}"
            raise FatalError(msg)
        return int(value["offset"])
    return int(getattr(value, "offset", value))

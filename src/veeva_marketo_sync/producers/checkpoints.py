"""Checkpoints of Veeva capture on the compacted `vmsync.checkpoints` topic.

At start the store reads the topic to its end offsets and keeps the latest value per key;
a write is produce + flush + acknowledgement. Key: `veeva-producer/<Object>`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from ..errors import ConfigError, TransientError
from ..schemas.codec import AvroCodec
from ..schemas.contracts import CHECKPOINT, load_contract
from .publisher import Publisher
from .watermark import Watermark, to_millis

COMPONENT = "veeva-producer"


class Phase(StrEnum):
    """Where an object's capture stands."""

    SNAPSHOT = "snapshot"
    CHANGES = "changes"


@dataclass(frozen=True)
class Checkpoint:
    """Progress of capture on one object.

    During the snapshot `watermark.modstamp` is the snapshot's start time (where changes will
    begin) and `snapshot_cursor` the last acknowledged Id; afterwards `watermark` is the
    `(SystemModstamp, Id)` of the last acknowledged change.
    """

    object_name: str
    phase: Phase
    watermark: Watermark
    updated_at: datetime
    snapshot_cursor: str | None = None
    records_done: int = 0
    component: str = COMPONENT

    @property
    def key(self) -> str:
        """The Kafka key, `<component>/<Object>`."""
        return checkpoint_key(self.object_name, self.component)

    def to_record(self) -> dict[str, Any]:
        """The Avro record (`checkpoint.avsc`)."""
        return {
            "component": self.component,
            "object": self.object_name,
            "phase": self.phase.value,
            "watermark": {
                "modstamp": to_millis(self.watermark.modstamp),
                "last_id": self.watermark.last_id,
            },
            "snapshot_cursor": self.snapshot_cursor,
            "paging_token": None,
            "records_done": self.records_done,
            "updated_at": to_millis(self.updated_at),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Checkpoint:
        """Read back a decoded Avro record.

        Raises:
            ValueError: The record has no watermark (not written by this producer).
        """
        mark = record.get("watermark")
        if not mark:
            msg = f"checkpoint of {record.get('object')!r} has no watermark"
            raise ValueError(msg)
        return cls(
            object_name=str(record["object"]),
            phase=Phase(record["phase"]),
            watermark=Watermark(mark["modstamp"], str(mark["last_id"])),
            updated_at=record["updated_at"],
            snapshot_cursor=record.get("snapshot_cursor"),
            records_done=int(record.get("records_done") or 0),
            component=str(record["component"]),
        )

    def moved(self, **changes: Any) -> Checkpoint:
        """A copy with `changes` applied."""
        return replace(self, **changes)


def checkpoint_key(object_name: str, component: str = COMPONENT) -> str:
    """`<component>/<Object>`, the key of one object's checkpoint."""
    return f"{component}/{object_name}"


class CheckpointStore:
    """Latest checkpoint per object, loaded from and written to a compacted topic.

    Args:
        publisher: Where checkpoints are produced (confirmed before `save` returns).
        consumer_factory: Makes a consumer without a group (`clients.kafka.make_consumer`).
        topic: The checkpoints topic (`Topics.checkpoints`).
        codec: Encodes and decodes `checkpoint.avsc` values.
        component: Key prefix of this component's checkpoints.
        load_timeout_seconds: How long reading the topic to its end may take.
    """

    def __init__(
        self,
        *,
        publisher: Publisher,
        consumer_factory: Callable[[], KafkaConsumer],
        topic: str,
        codec: AvroCodec,
        component: str = COMPONENT,
        load_timeout_seconds: float = 60.0,
    ) -> None:
        self._publisher = publisher
        self._consumer_factory = consumer_factory
        self.topic = topic
        self._codec = codec
        self.component = component
        self._timeout = load_timeout_seconds
        self._schema = load_contract(CHECKPOINT)
        self._latest: dict[str, Checkpoint] = {}
        self._loaded = False

    def load(self) -> dict[str, Checkpoint]:
        """Read the topic to its end offsets; return the latest checkpoint per object.

        Raises:
            ConfigError: The topic does not exist (run `vmsync topics create`).
            TransientError: The end was not reached in time.
        """
        values = self._read_to_end()
        latest: dict[str, Checkpoint] = {}
        prefix = f"{self.component}/"
        for key, value in values.items():
            if not key.startswith(prefix) or value is None:
                continue
            checkpoint = Checkpoint.from_record(self._codec.decode(value))
            latest[checkpoint.object_name] = checkpoint
        self._latest = latest
        self._loaded = True
        return dict(latest)

    def get(self, object_name: str) -> Checkpoint | None:
        """The latest checkpoint of `object_name` (loading the topic on first use)."""
        if not self._loaded:
            self.load()
        return self._latest.get(object_name)

    def save(self, checkpoint: Checkpoint) -> None:
        """Produce `checkpoint` and wait for its acknowledgement.

        Call only after the events it covers were confirmed.
        """
        value = self._codec.encode(self.topic, self._schema, checkpoint.to_record())
        self._publisher.send(self.topic, checkpoint.key.encode("utf-8"), value)
        self._publisher.confirm()
        self._latest[checkpoint.object_name] = checkpoint

    def _read_to_end(self) -> dict[str, bytes | None]:
        consumer = self._consumer_factory()
        try:
            partitions = consumer.partitions_for_topic(self.topic)
            if not partitions:
                msg = f"checkpoint topic {self.topic} does not exist"
                raise ConfigError(msg, hint="create it with `vmsync topics create`")
            assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            consumer.seek_to_beginning(*assigned)
            ends: dict[TopicPartition, int] = consumer.end_offsets(assigned)
            values: dict[str, bytes | None] = {}
            remaining = {tp for tp in assigned if ends[tp] > 0}
            deadline = time.monotonic() + self._timeout
            while remaining:
                if time.monotonic() > deadline:
                    msg = f"could not read {self.topic} to its end in {self._timeout:.0f} s"
                    raise TransientError(msg, hint="retry; is the broker reachable?")
                for messages in consumer.poll(timeout_ms=500).values():
                    for message in messages:
                        if message.key is not None:
                            values[message.key.decode("utf-8")] = message.value
                remaining = {tp for tp in remaining if consumer.position(tp) < ends[tp]}
            return values
        finally:
            consumer.close()

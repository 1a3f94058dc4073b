"""Consumer-group mechanics both writers share: rebalances, pauses, stop, commits.

A writer works in rounds: fetch, write, dead-letter, then commit the round's offsets. These
helpers keep it in its group while it waits, drop work of revoked partitions, and commit only
the partitions it still owns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

log = logging.getLogger(__name__)


class AbandonedError(Exception):
    """The stop event was set: leave the round without committing."""


def check_stop(stop: asyncio.Event) -> None:
    """Raise :class:`AbandonedError` once ``stop`` is set."""
    if stop.is_set():
        raise AbandonedError


def partition_of(record: Any) -> TopicPartition:
    """The topic-partition a consumed record came from."""
    return TopicPartition(record.topic, record.partition)


class ForgetRevoked(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tells the writer which partitions it lost, so it drops their uncommitted work."""

    def __init__(self, forget: Callable[[set[TopicPartition]], None]) -> None:
        self._forget = forget

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        """Drop the lost partitions' work."""
        self._forget(set(revoked))

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        """Log the new assignment."""
        log.info("assigned %s", ", ".join(f"{tp.topic}/{tp.partition}" for tp in assigned))


async def hold(
    consumer: AIOKafkaConsumer,
    until: float,
    *,
    clock: Callable[[], float],
    poll_seconds: float,
    stop: asyncio.Event,
    pending: list[Any],
) -> None:
    """Fetch nothing until ``clock() >= until``, staying in the group (getmany keeps polling).

    Records from partitions assigned meanwhile go to ``pending``.

    Raises:
        AbandonedError: ``stop`` was set while holding.
    """
    consumer.pause(*consumer.assignment())
    try:
        while (remaining := until - clock()) > 0:
            check_stop(stop)
            wait = min(remaining, poll_seconds)
            got = await consumer.getmany(timeout_ms=max(1, int(wait * 1000)))
            for records in got.values():
                pending.extend(records)
            consumer.pause(*consumer.assignment())
    finally:
        consumer.resume(*consumer.paused())


async def commit_owned(
    consumer: AIOKafkaConsumer, records: Iterable[Any], revoked: set[TopicPartition]
) -> bool:
    """Commit past ``records`` on the partitions still owned; False if nothing was committed."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = partition_of(record)
        offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    owned = {tp: offset for tp, offset in offsets.items() if tp not in revoked}
    if not owned:
        return False
    try:
        await consumer.commit(owned)
    except (CommitFailedError, IllegalStateError) as exc:
        log.warning("commit failed after a rebalance, the new owner redoes it: %s", exc)
        return False
    return True


@dataclass(frozen=True)
class RoundTuning:
    """Batching, retry and pause tuning shared by the writers; the defaults suit production."""

    max_batch: ClassVar[int] = 300
    """The far side's limit of records per call (each writer sets its own)."""

    group_id: str = "vmsync-writer"
    batch_size: int = 300
    linger_seconds: float = 0.5
    """How long to wait for more records once some arrived, to fill a batch."""
    poll_seconds: float = 1.0
    """How long one poll waits (also how often ``stop`` is checked while waiting)."""
    call_attempts: int = 3
    """Calls failing transiently in a row (after the client's own retries) before a pause."""
    backoff_seconds: float = 1.0
    """First wait between those attempts; doubles each time."""
    transient_pause_seconds: float = 60.0
    record_attempts: int = 3
    """Tries of a record answered with a retriable record-level error before its DLQ."""

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= self.max_batch:
            msg = f"batch_size must be between 1 and {self.max_batch}, got {self.batch_size}"
            raise ValueError(msg)
        if self.call_attempts < 1 or self.record_attempts < 1:
            msg = "call_attempts and record_attempts must be at least 1"
            raise ValueError(msg)

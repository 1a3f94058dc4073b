"""Dead letters: the policy that decides and caps them, the writer, listing and re-drive.

A dead letter is the original Kafka record, key and value bytes untouched, on ``vmsync.dlq``
with Kafka Connect-style context headers (``__connect.errors.topic`` … ``.exception.message``)
saying where it came from and why it failed. ``DeadLetter`` is its listing view and maps
one-to-one onto the ``DeadLetter`` Avro contract. Re-driving sends key, value and original
headers back to the original topic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from aiokafka import AIOKafkaProducer

from ..clients.kafka import aiokafka_options
from ..dead_letter_headers import (
    H_CLASS,
    H_FAILED_AT,
    H_MESSAGE,
    H_OFFSET,
    H_PARTITION,
    H_REDRIVEN_FROM,
    H_STAGE,
    H_TOPIC,
    HEADER_PREFIX,
    context_headers,
)
from ..errors import FatalError
from ..schemas.codec import AvroCodec
from ..schemas.contracts import DEAD_LETTER, load_contract
from ..settings import KafkaSettings
from .reading import read_to_end

log = logging.getLogger(__name__)


class Stage:
    """Where in the pipeline a record failed (the ``stage`` header)."""

    DECODE: Final = "decode"
    WRITE: Final = "write"


Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter as listed: the original record and why it failed."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int
    stage: str
    error_class: str
    message: str
    failed_at: datetime
    headers: tuple[tuple[str, bytes], ...] = ()
    """The original record's own headers (context headers removed)."""
    dlq_partition: int | None = None
    dlq_offset: int | None = None

    def to_record(self) -> dict[str, Any]:
        """The value of the ``DeadLetter`` Avro contract."""
        return {
            "key": self.key,
            "value": self.value,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "stage": self.stage,
            "error_class": self.error_class,
            "message": self.message,
            "failed_at": self.failed_at,
        }

    def context_headers(self, connector: str) -> list[tuple[str, bytes]]:
        """The Connect-style headers that say where the record came from and why it failed."""
        return context_headers(
            self.headers,
            topic=self.topic,
            partition=self.partition,
            offset=self.offset,
            stage=self.stage,
            error_class=self.error_class,
            message=self.message,
            connector=connector,
            failed_at=self.failed_at,
        )


def encode_dead_letter(codec: AvroCodec, topic: str, letter: DeadLetter) -> bytes:
    """Encode ``letter`` with the ``DeadLetter`` contract (for exports and other consumers)."""
    return codec.encode(topic, _dead_letter_schema(), letter.to_record())


_SCHEMA: dict[str, Any] = {}


def _dead_letter_schema() -> dict[str, Any]:
    if not _SCHEMA:
        _SCHEMA.update(load_contract(DEAD_LETTER))
    return _SCHEMA


def parse_dead_letter(
    key: bytes | None,
    value: bytes | None,
    headers: Headers,
    *,
    dlq_partition: int | None = None,
    dlq_offset: int | None = None,
) -> DeadLetter:
    """Rebuild a dead letter from a ``vmsync.dlq`` record.

    Raises:
        ValueError: A required context header is missing or malformed.
    """
    context = {name: raw.decode("utf-8", "replace") for name, raw in headers if _is_context(name)}
    missing = [name for name in (H_TOPIC, H_PARTITION, H_OFFSET) if name not in context]
    if missing:
        msg = f"not a dead letter: missing header(s) {', '.join(missing)}"
        raise ValueError(msg)
    millis = int(context.get(H_FAILED_AT, "0"))
    return DeadLetter(
        key=key,
        value=value,
        topic=context[H_TOPIC],
        partition=int(context[H_PARTITION]),
        offset=int(context[H_OFFSET]),
        stage=context.get(H_STAGE, ""),
        error_class=context.get(H_CLASS, ""),
        message=context.get(H_MESSAGE, ""),
        failed_at=datetime.fromtimestamp(millis / 1000, tz=UTC),
        headers=tuple((name, raw) for name, raw in headers if not _is_context(name)),
        dlq_partition=dlq_partition,
        dlq_offset=dlq_offset,
    )


def _is_context(name: str) -> bool:
    return name.startswith((HEADER_PREFIX, "__vmsync."))


@dataclass(frozen=True)
class DlqLimit:
    """Caps on dead letters: past them the failure is systemic and the worker must stop.

    Args:
        max_invalid_ratio: Largest share of dead-lettered records among all records handled,
            checked once ``min_sample`` records were handled.
        max_consecutive_count: Most dead letters in a row without one good record.
        min_sample: Records to see before the ratio applies.
    """

    max_invalid_ratio: float | None = None
    max_consecutive_count: int | None = None
    min_sample: int = 100


@dataclass
class _LimitState:
    valid: int = 0
    invalid: int = 0
    consecutive: int = 0


@dataclass
class DlqPolicy:
    """Decides whether a failed record may be dead-lettered, counting against ``limit``.

    The worker asks :meth:`admit` before producing a dead letter; past the limit it gets a
    ``FatalError`` (action STOP) instead, because a whole topic going to the DLQ means a
    mapping or configuration bug, not bad records.
    """

    limit: DlqLimit = field(default_factory=DlqLimit)
    _state: _LimitState = field(default_factory=_LimitState, init=False, repr=False)

    def record_valid(self, count: int = 1) -> None:
        """Count records that were handled without a dead letter."""
        if count:
            self._state.valid += count
            self._state.consecutive = 0

    def admit(self, count: int = 1) -> None:
        """Count ``count`` dead letters about to be produced.

        Raises:
            FatalError: A limit is exceeded; stop the worker and alert.
        """
        state = self._state
        state.invalid += count
        state.consecutive += count
        limit = self.limit
        if limit.max_consecutive_count is not None and (
            state.consecutive > limit.max_consecutive_count
        ):
            msg = f"{state.consecutive} dead letters in a row"
            raise FatalError(msg, hint="check the mapping and the Marketo field configuration")
        total = state.valid + state.invalid
        if (
            limit.max_invalid_ratio is not None
            and total >= limit.min_sample
            and state.invalid / total > limit.max_invalid_ratio
        ):
            msg = f"{state.invalid} of {total} records dead-lettered"
            raise FatalError(msg, hint="check the mapping and the Marketo field configuration")


class DeadLetterWriter:
    """Produces dead letters to ``topic`` and waits for the broker's acknowledgement.

    Args:
        producer: A started aiokafka producer (idempotent, ``acks=all``).
        topic: The DLQ topic (``Topics.dlq``).
        connector: Written to ``__connect.errors.connector.name``.
        clock: Wall-clock seconds since the epoch (injectable for tests).
    """

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        *,
        connector: str = "vmsync-marketo-writer",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._producer = producer
        self.topic = topic
        self._connector = connector
        self._clock = clock

    def _now(self) -> datetime:
        if self._clock is None:
            return datetime.now(tz=UTC)
        return datetime.fromtimestamp(self._clock(), tz=UTC)

    def letter(
        self,
        record: Any,
        *,
        stage: str,
        error_class: str,
        message: str,
    ) -> DeadLetter:
        """The dead letter of an aiokafka ``ConsumerRecord`` that failed at ``stage``."""
        return DeadLetter(
            key=record.key,
            value=record.value,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            stage=stage,
            error_class=error_class,
            message=message,
            failed_at=self._now(),
            headers=tuple(record.headers or ()),
        )

    async def send_all(self, letters: Iterable[DeadLetter]) -> int:
        """Produce every letter and wait until all are acknowledged; returns how many."""
        letters = list(letters)
        futures = [
            await self._producer.send(
                self.topic,
                key=letter.key,
                value=letter.value,
                headers=letter.context_headers(self._connector),
            )
            for letter in letters
        ]
        if futures:
            await asyncio.gather(*futures)
        for letter in letters:
            log.warning(
                "dead-lettered %s/%d/%d at %s: %s",
                letter.topic,
                letter.partition,
                letter.offset,
                letter.stage,
                letter.error_class,
            )
        return len(futures)


async def list_dead_letters(
    settings: KafkaSettings,
    dlq_topic: str,
    *,
    where: Callable[[DeadLetter], bool] | None = None,
) -> list[DeadLetter]:
    """Every dead letter on ``dlq_topic`` (optionally those ``where`` accepts), oldest first.

    Records on the topic that are not dead letters (no context headers) are skipped with a
    warning.
    """
    letters: list[DeadLetter] = []
    async with aclosing(read_to_end(settings, dlq_topic)) as records:
        async for record in records:
            try:
                letter = parse_dead_letter(
                    record.key,
                    record.value,
                    tuple(record.headers or ()),
                    dlq_partition=record.partition,
                    dlq_offset=record.offset,
                )
            except ValueError as exc:
                where_at = f"{dlq_topic}/{record.partition}/{record.offset}"
                log.warning("skipping %s: %s", where_at, exc)
                continue
            if where is None or where(letter):
                letters.append(letter)
    letters.sort(key=lambda letter: letter.failed_at)
    return letters


async def redrive(
    settings: KafkaSettings,
    letters: Iterable[DeadLetter],
    *,
    dlq_topic: str | None = None,
    topic_for: Mapping[str, str] | None = None,
) -> int:
    """Send each letter's original key, value and headers back to its original topic.

    Args:
        settings: Where Kafka is.
        letters: What to re-drive (from :func:`list_dead_letters`).
        dlq_topic: Named in the ``__vmsync.redriven.from`` header of each re-driven record.
        topic_for: Optional renames (original topic -> topic to send to).

    Returns:
        How many records were sent (all acknowledged).

    The DLQ is append-only: a re-driven letter stays listed; select by ``failed_at`` or DLQ
    offset to avoid re-driving it twice (re-driving twice is harmless for idempotent writes).
    """
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = []
        for letter in letters:
            headers = list(letter.headers)
            if dlq_topic is not None:
                origin = f"{dlq_topic}/{letter.dlq_partition}/{letter.dlq_offset}"
                headers.append((H_REDRIVEN_FROM, origin.encode()))
            topic = (topic_for or {}).get(letter.topic, letter.topic)
            futures.append(
                await producer.send(topic, key=letter.key, value=letter.value, headers=headers)
            )
        if futures:
            await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()

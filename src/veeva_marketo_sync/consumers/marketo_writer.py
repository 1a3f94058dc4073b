"""The Marketo writer: consume upsert commands, batch, write, dead-letter, commit.

One asyncio task, one consumer in a group, one call in flight at a time, so one key is never
written twice concurrently. A round is:

1. fill: take what is available from ``marketo.<target>`` topics, waiting a bounded time for
   more, up to a full batch per target;
2. decode and plan: merge repeated commands per record, batches of ≤ 300 per target;
3. write: one call per batch (and kind); rejected records become dead letters; a
   ``TransientError`` is retried with backoff, then the writer pauses; a
   ``QuotaExhaustedError`` pauses consumption (``consumer.pause``) until the reset;
4. publish the id map and the dead letters and wait for their acks;
5. commit: only now, for every partition of the round.

A stop request (``asyncio.Event``) or cancellation abandons the round without committing;
the next owner of the partitions writes it again, which idempotent upserts by the dedupe
field make harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ..clients.kafka import aiokafka_options
from ..clients.ports import MarketoApi
from ..errors import Action, RecordRejectedError, TransientError, VmsyncError
from ..schemas.codec import AvroCodec
from ..settings import KafkaSettings
from ..topics import Topics
from .batching import (
    MAX_BATCH,
    Call,
    Command,
    Op,
    OpKind,
    SourceRef,
    TargetKind,
    plan_batches,
    plan_calls,
)
from .commands import CommandDecoder, CommandError
from .dead_letters import DeadLetter, DeadLetterWriter, DlqPolicy, Stage
from .group_rounds import (
    AbandonedError,
    ForgetRevoked,
    RoundTuning,
    check_stop,
    commit_owned,
    hold,
    partition_of,
)
from .idmap import IdMap, load_id_map
from .marketo_calls import MarketoCalls
from .outcomes import Rejected, Written

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriterConfig(RoundTuning):
    """Tuning of the Marketo writer; the defaults suit production."""

    max_batch: ClassVar[int] = MAX_BATCH

    group_id: str = "vmsync-marketo-writer"
    batch_size: int = MAX_BATCH
    quota_pause_seconds: float = 3600.0
    """Pause when a QuotaExhaustedError does not say when the quota resets."""


@dataclass(frozen=True)
class WriterStatus:
    """A snapshot of what the writer did, for ``vmsync status`` and metrics."""

    running: bool
    records_written: dict[str, int]
    """Marketo records written (upserted or deleted) per target."""
    commands_consumed: int
    calls_made: int
    dead_letters: int
    rounds_committed: int
    paused_until: datetime | None
    pause_reason: str | None
    last_error: str | None


@dataclass
class _Stats:
    written: Counter[str] = field(default_factory=Counter)
    consumed: int = 0
    dead_letters: int = 0
    rounds: int = 0
    paused_until: float | None = None
    pause_reason: str | None = None
    last_error: str | None = None
    running: bool = False


@dataclass(frozen=True)
class _Wiring:
    """What one run of the writer talks to."""

    consumer: AIOKafkaConsumer
    calls: MarketoCalls
    id_map: IdMap
    dead_letters: DeadLetterWriter


class MarketoWriter:
    """Writes ``marketo.<target>`` commands to Marketo with at-least-once, ordered per key.

    Args:
        kafka: Where Kafka is.
        api: The Marketo port.
        codec: Decodes the commands (Confluent or single-object framing).
        targets: Marketo targets to consume, e.g. ``("leads", "co.veevaCall_c")``.
        topics: Topic names (prefix).
        config: Batching, retry and pause tuning.
        dlq_policy: Caps on dead letters (unlimited by default).
        clock: Wall-clock seconds since the epoch (injectable for tests).
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        api: MarketoApi,
        codec: AvroCodec,
        *,
        targets: Sequence[str],
        topics: Topics | None = None,
        config: WriterConfig | None = None,
        dlq_policy: DlqPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not targets:
            msg = "the Marketo writer needs at least one target"
            raise ValueError(msg)
        self._kafka = kafka
        self._api = api
        self._decoder = CommandDecoder(codec)
        self._topics = topics or Topics(kafka.topic_prefix)
        self._sources = [self._topics.marketo(target) for target in targets]
        self._leads_topic = self._topics.marketo("leads")
        self._config = config or WriterConfig()
        self._policy = dlq_policy or DlqPolicy()
        self._clock = clock
        self._stats = _Stats()
        self._pending: list[Any] = []
        self._revoked: set[TopicPartition] = set()
        self._calls: MarketoCalls | None = None

    def status(self) -> WriterStatus:
        """What the writer has done so far (a copy)."""
        stats = self._stats
        until = stats.paused_until
        return WriterStatus(
            running=stats.running,
            records_written=dict(stats.written),
            commands_consumed=stats.consumed,
            calls_made=self._calls.calls if self._calls is not None else 0,
            dead_letters=stats.dead_letters,
            rounds_committed=stats.rounds,
            paused_until=None if until is None else datetime.fromtimestamp(until, tz=UTC),
            pause_reason=stats.pause_reason,
            last_error=stats.last_error,
        )

    def forget(self, revoked: set[TopicPartition]) -> None:
        """Drop uncommitted work of partitions this writer no longer owns (rebalance)."""
        self._revoked |= revoked
        self._pending = [record for record in self._pending if partition_of(record) not in revoked]

    async def run(self, stop: asyncio.Event) -> None:
        """Consume, write and commit until ``stop`` is set; returns after a clean shutdown.

        Raises:
            VmsyncError: An error whose action is STOP (e.g. dead-letter limit exceeded).
        """
        options = aiokafka_options(self._kafka)
        producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True)
        consumer = AIOKafkaConsumer(
            **options,
            group_id=self._config.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await producer.start()
        try:
            await consumer.start()
            known = await load_id_map(self._kafka, self._topics.idmap)
            id_map = IdMap(producer, self._topics.idmap, known)
            self._calls = MarketoCalls(self._api, id_map)
            wiring = _Wiring(
                consumer,
                self._calls,
                id_map,
                DeadLetterWriter(producer, self._topics.dlq, clock=self._clock),
            )
            consumer.subscribe(self._sources, listener=ForgetRevoked(self.forget))
            self._stats.running = True
            log.info("Marketo writer consuming %s", ", ".join(self._sources))
            while not stop.is_set():
                records = await self._fill(consumer)
                if records:
                    await self._round(wiring, records, stop)
        except AbandonedError:
            log.info("stopping: the current batch is abandoned, not committed")
        except VmsyncError as exc:
            self._stats.last_error = str(exc)
            raise
        finally:
            self._stats.running = False
            await consumer.stop()
            await producer.stop()

    async def _leads_first(self, consumer: AIOKafkaConsumer) -> None:
        """Hold custom-object commands back while lead commands are waiting.

        A custom object record links to its person's lead, and Marketo refuses it (1004) when
        the lead does not exist yet. The processor emits a person's lead command before the
        commands of its calls, so writing every waiting lead first keeps links valid.
        """
        assignment = consumer.assignment()
        if consumer.paused() - {tp for tp in assignment if tp.topic != self._leads_topic}:
            return  # a quota pause holds everything; it resumes all partitions itself
        leads_behind = False
        for tp in assignment:
            if tp.topic == self._leads_topic:
                end = consumer.highwater(tp)
                if end is not None and await consumer.position(tp) < end:
                    leads_behind = True
                    break
        others = [tp for tp in assignment if tp.topic != self._leads_topic]
        if leads_behind:
            consumer.pause(*others)
        else:
            consumer.resume(*others)

    async def _fill(self, consumer: AIOKafkaConsumer) -> list[Any]:
        """Take up to a batch per target, waiting ``linger_seconds`` for more once some came."""
        await self._leads_first(consumer)
        config = self._config
        limit = config.batch_size * len(self._sources)
        deadline = time.monotonic() + config.linger_seconds if self._pending else None
        while len(self._pending) < limit:
            if deadline is None:
                timeout = config.poll_seconds
            else:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
            got = await consumer.getmany(
                timeout_ms=max(1, int(timeout * 1000)), max_records=limit - len(self._pending)
            )
            for records in got.values():
                self._pending.extend(records)
            if not self._pending:
                break
            if deadline is None:
                deadline = time.monotonic() + config.linger_seconds
        records, self._pending = self._pending, []
        self._revoked = set()
        return records

    async def _round(self, wiring: _Wiring, records: list[Any], stop: asyncio.Event) -> None:
        """Decode, write, dead-letter, publish the id map, then commit ``records``."""
        dead_letters = wiring.dead_letters
        by_ref = {SourceRef(r.topic, r.partition, r.offset): r for r in records}
        commands: list[Command] = []
        letters: list[DeadLetter] = []
        failures = 0
        for ref, record in by_ref.items():
            while record.value is not None:  # a tombstone has nothing to write
                try:
                    commands.append(self._decoder.decode(ref, record.value))
                except CommandError as exc:
                    letter = dead_letters.letter(
                        record, stage=Stage.DECODE, error_class="CommandError", message=str(exc)
                    )
                    letters.append(letter)
                except TransientError as exc:  # the schema registry is away
                    failures = await self._react(wiring.consumer, exc, failures, stop)
                    continue
                break
        self._stats.consumed += len(records)
        written: list[Written] = []
        rejected: list[Rejected] = []
        # Leads before the custom objects that link to them (a stable sort keeps each key's order).
        commands.sort(key=lambda command: command.target.kind is not TargetKind.LEAD)
        for batch in plan_batches(commands, self._config.batch_size):
            for call in plan_calls(batch):
                done, refused = await self._write_call(wiring, call, stop)
                written += done
                rejected += refused
        for item in rejected:
            letters += [
                dead_letters.letter(
                    by_ref[ref],
                    stage=Stage.WRITE,
                    error_class=RecordRejectedError.__name__,
                    message=item.reason(),
                )
                for ref in item.op.sources
            ]
        # Every record has an outcome now: finish the round even if a stop was requested.
        letters = [letter for letter in letters if self._owned_ref(letter.topic, letter.partition)]
        if letters:
            self._policy.admit(len(letters))
        self._policy.record_valid(len(written))
        await wiring.id_map.publish(
            written=[(w.op.key, w.remote_id) for w in written if w.op.kind is OpKind.UPSERT],
            deleted=[w.op.key for w in written if w.op.kind is OpKind.DELETE],
        )
        self._stats.dead_letters += await dead_letters.send_all(letters)
        for success in written:
            self._stats.written[success.op.target.name] += 1
        await self._commit(wiring.consumer, records)

    def _owned_ref(self, topic: str, partition: int) -> bool:
        return TopicPartition(topic, partition) not in self._revoked

    def _owned(self, op: Op) -> bool:
        source = op.sources[0]  # one key lives in one partition
        return self._owned_ref(source.topic, source.partition)

    async def _write_call(
        self, wiring: _Wiring, call: Call, stop: asyncio.Event
    ) -> tuple[list[Written], list[Rejected]]:
        """Write one call until every record has an outcome; pauses and retries as needed."""
        config = self._config
        written: list[Written] = []
        rejected: list[Rejected] = []
        pending = list(call.ops)
        failures = 0
        record_tries = 0
        while pending:
            check_stop(stop)
            pending = [op for op in pending if self._owned(op)]
            if not pending:
                break
            try:
                outcome = await wiring.calls.execute(call.with_ops(pending))
            except VmsyncError as exc:
                failures = await self._react(wiring.consumer, exc, failures, stop)
                if exc.action is Action.DEAD_LETTER:
                    code = exc.code if isinstance(exc, RecordRejectedError) else None
                    rejected += [Rejected(op, code, str(exc)) for op in pending]
                    break
                continue
            failures = 0
            self._stats.last_error = None
            written += outcome.written
            rejected += outcome.rejected
            pending = list(outcome.retry)
            if pending:
                record_tries += 1
                if record_tries >= config.record_attempts:
                    reason = f"still retriable after {record_tries} attempts"
                    rejected += [Rejected(op, None, reason) for op in pending]
                    break
                await self._sleep(config.backoff_seconds * 2 ** (record_tries - 1), stop)
        return written, rejected

    async def _react(
        self, consumer: AIOKafkaConsumer, exc: VmsyncError, failures: int, stop: asyncio.Event
    ) -> int:
        """Wait as ``exc.action`` demands; returns the new count of transient failures in a row.

        Raises:
            VmsyncError: ``exc`` itself when its action is STOP.
        """
        config = self._config
        self._stats.last_error = str(exc)
        if exc.action is Action.RETRY:
            failures += 1
            if failures < config.call_attempts:
                log.warning("Marketo call failed (%d in a row): %s", failures, exc)
                await self._sleep(config.backoff_seconds * 2 ** (failures - 1), stop)
                return failures
            reason = f"Marketo failing after {failures} attempts: {exc}"
            until = self._clock() + config.transient_pause_seconds
            await self._pause(consumer, until, reason, stop)
            return 0
        if exc.action is Action.PAUSE:
            resets_in = getattr(exc, "resets_in_seconds", None)
            wait = config.quota_pause_seconds if resets_in is None else max(0.0, resets_in)
            reason = f"Marketo quota exhausted: {exc}"
            await self._pause(consumer, self._clock() + wait, reason, stop)
            return 0
        if exc.action is Action.DEAD_LETTER:
            return 0
        raise exc

    async def _sleep(self, seconds: float, stop: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise AbandonedError

    async def _pause(
        self, consumer: AIOKafkaConsumer, until: float, reason: str, stop: asyncio.Event
    ) -> None:
        """Stop fetching until ``until`` while staying in the group (getmany keeps polling)."""
        self._stats.paused_until = until
        self._stats.pause_reason = reason
        log.warning("pausing until %s: %s", datetime.fromtimestamp(until, tz=UTC), reason)
        try:
            await hold(
                consumer,
                until,
                clock=self._clock,
                poll_seconds=self._config.poll_seconds,
                stop=stop,
                pending=self._pending,
            )
        finally:
            self._stats.paused_until = None
            self._stats.pause_reason = None
        log.info("resuming after the pause")

    async def _commit(self, consumer: AIOKafkaConsumer, records: list[Any]) -> None:
        if await commit_owned(consumer, records, self._revoked):
            self._stats.rounds += 1

"""The Veeva writer: consume accepted contact edits, check, batch, PATCH, dead-letter, commit.

One asyncio task, one consumer in a group on ``veeva.Account.contact-edits`` (keyed by
Account Id, so one Account's edits stay ordered). A round is:

1. fill: take what is available, waiting a bounded time for more, up to a full batch;
2. decode and check each edit (contact-field whitelist, mapping, describe); a refused edit
   becomes a dead letter with the reason;
3. plan: merge edits of one Account inside a batch (later values win), ≤ 200 per batch;
4. write: one sObject Collections call per batch (allOrNone=false, via the Veeva client, which
   retries whole calls and logs in again itself); rows answered with a retriable error are
   retried a bounded number of times with backoff, rejected rows become dead letters with
   Veeva's message; a call still failing transiently is retried after a pause, never dropped;
5. publish the dead letters and wait for their acks, then commit the round's offsets.

A stop request abandons the round uncommitted; PATCH by Id is idempotent, so the next owner
of the partitions may write it again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import requests
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ..clients.kafka import aiokafka_options
from ..clients.ports import VeevaApi
from ..clients.veeva import VeevaClient
from ..errors import Action, RecordRejectedError, TransientError, VmsyncError
from ..processors.contact_fields import PERSON_ACCOUNT_OBJECT
from ..processors.edit_validation import FieldDescribe
from ..processors.mapping import bidirectional_fields
from ..schemas.codec import AvroCodec, codec_for
from ..schemas.contracts import CONTACT_EDIT, load_contract
from ..schemas.errors import SchemaError, SchemaRegistryError
from ..settings import KafkaSettings, Settings
from ..topics import Topics
from .batching import SourceRef
from .contact_writes import (
    MAX_COLLECTION,
    AccountWrite,
    CheckedEdit,
    Refusal,
    Rejected,
    check_edit,
    classify_results,
    contact_edit_from_record,
    field_describes,
    plan_writes,
)
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

if TYPE_CHECKING:
    from ..processors.mapping import Mapping as MappingModel

log = logging.getLogger(__name__)

CONNECTOR = "vmsync-veeva-writer"
STAGE_CHECK = "check"
"""The ``stage`` header of an edit refused before any write (whitelist, describe)."""


@dataclass(frozen=True)
class VeevaWriterConfig(RoundTuning):
    """Tuning of the Veeva writer; the defaults suit production."""

    max_batch: ClassVar[int] = MAX_COLLECTION

    group_id: str = "vmsync-veeva-writer"
    batch_size: int = MAX_COLLECTION


@dataclass
class VeevaWriterStats:
    """What the writer did so far (for ``vmsync status`` and metrics)."""

    edits_consumed: int = 0
    accounts_written: int = 0
    calls_made: int = 0
    dead_letters: int = 0
    rounds_committed: int = 0
    last_error: str | None = None
    running: bool = False


@dataclass
class _Round:
    """The outcomes of one round, filled as the round goes."""

    records: dict[SourceRef, Any]
    letters: list[DeadLetter] = field(default_factory=list)
    written: int = 0


class VeevaWriter:
    """Applies contact edits to Veeva Person Accounts, at least once, ordered per Account.

    Args:
        kafka: Where Kafka is.
        api: The Veeva port (the client is synchronous; calls run in a worker thread).
        codec: Decodes ``ContactEdit`` values (Confluent or single-object framing).
        synced_fields: Account fields the mapping syncs both ways; None to skip that check
            (the contact-field whitelist applies regardless).
        topics: Topic names (prefix).
        config: Batching, retry and pause tuning.
        dlq_policy: Caps on dead letters (unlimited by default).
        clock: Wall-clock seconds since the epoch (injectable for tests).
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        api: VeevaApi,
        codec: AvroCodec,
        *,
        synced_fields: frozenset[str] | None = None,
        topics: Topics | None = None,
        config: VeevaWriterConfig | None = None,
        dlq_policy: DlqPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kafka = kafka
        self._api = api
        self._codec = codec
        self._reader = load_contract(CONTACT_EDIT)
        self._synced = synced_fields
        self._topics = topics or Topics(kafka.topic_prefix)
        self._config = config or VeevaWriterConfig()
        self._policy = dlq_policy or DlqPolicy()
        self._clock = clock
        self.stats = VeevaWriterStats()
        self._describes: dict[str, FieldDescribe] = {}
        self._pending: list[Any] = []
        self._revoked: set[TopicPartition] = set()

    def forget(self, revoked: set[TopicPartition]) -> None:
        """Drop uncommitted work of partitions this writer no longer owns (rebalance)."""
        self._revoked |= revoked
        self._pending = [record for record in self._pending if partition_of(record) not in revoked]

    async def run(self, stop: asyncio.Event) -> None:
        """Consume, write and commit until ``stop`` is set; returns after a clean shutdown.

        Raises:
            VmsyncError: An error whose action is STOP (bad credentials, DLQ limit exceeded).
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
            dead_letters = DeadLetterWriter(
                producer, self._topics.dlq, connector=CONNECTOR, clock=self._clock
            )
            describe = await self._call(
                consumer, stop, lambda: self._api.describe(PERSON_ACCOUNT_OBJECT)
            )
            self._describes = field_describes(describe)
            consumer.subscribe([self._topics.contact_edits], listener=ForgetRevoked(self.forget))
            self.stats.running = True
            log.info("Veeva writer consuming %s", self._topics.contact_edits)
            while not stop.is_set():
                records = await self._fill(consumer)
                if records:
                    await self._round(consumer, dead_letters, records, stop)
        except AbandonedError:
            log.info("stopping: the current batch is abandoned, not committed")
        except VmsyncError as exc:
            self.stats.last_error = str(exc)
            raise
        finally:
            self.stats.running = False
            await consumer.stop()
            await producer.stop()

    async def _fill(self, consumer: AIOKafkaConsumer) -> list[Any]:
        """Take up to a batch, waiting ``linger_seconds`` for more once some came."""
        config = self._config
        limit = config.batch_size
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

    async def _round(
        self,
        consumer: AIOKafkaConsumer,
        dead_letters: DeadLetterWriter,
        records: list[Any],
        stop: asyncio.Event,
    ) -> None:
        """Check, write, dead-letter, then commit ``records``."""
        state = _Round({SourceRef(r.topic, r.partition, r.offset): r for r in records})
        checked: list[CheckedEdit] = []
        for ref, record in state.records.items():
            if record.value is None:  # a tombstone: nothing to write
                continue
            outcome = await self._check(consumer, stop, ref, record.value)
            if isinstance(outcome, Refusal):
                stage = Stage.DECODE if outcome.error_class == "SchemaError" else STAGE_CHECK
                state.letters.append(
                    dead_letters.letter(
                        record,
                        stage=stage,
                        error_class=outcome.error_class,
                        message=outcome.message,
                    )
                )
            else:
                checked.append(outcome)
        self.stats.edits_consumed += len(records)
        for batch in plan_writes(checked, self._config.batch_size):
            written, rejected = await self._write_batch(consumer, batch, stop)
            state.written += len(written)
            for item in rejected:
                state.letters += [
                    dead_letters.letter(
                        state.records[ref],
                        stage=Stage.WRITE,
                        error_class=RecordRejectedError.__name__,
                        message=item.reason(),
                    )
                    for ref in item.write.sources
                ]
        # Every record has an outcome now: finish the round even if a stop was requested.
        letters = [
            letter for letter in state.letters if self._owned(letter.topic, letter.partition)
        ]
        if letters:
            self._policy.admit(len(letters))
        self._policy.record_valid(state.written)
        self.stats.dead_letters += await dead_letters.send_all(letters)
        self.stats.accounts_written += state.written
        await self._commit(consumer, records)

    async def _check(
        self, consumer: AIOKafkaConsumer, stop: asyncio.Event, ref: SourceRef, value: bytes
    ) -> CheckedEdit | Refusal:
        """Decode and check one edit; a registry outage is waited out, not dead-lettered."""
        failures = 0
        while True:
            try:
                data = self._codec.decode(value, self._reader)
                edit = contact_edit_from_record(ref, data)
            except SchemaRegistryError as exc:
                if not exc.retriable:
                    return Refusal(ref, "SchemaError", str(exc))
                failures = await self._react(
                    consumer, TransientError(f"schema registry unavailable: {exc}"), failures, stop
                )
                continue
            except SchemaError as exc:
                return Refusal(ref, "SchemaError", str(exc))
            except (ValueError, TypeError, AttributeError) as exc:
                return Refusal(ref, "SchemaError", f"not a contact edit: {exc}")
            return check_edit(edit, self._describes, self._synced)

    async def _write_batch(
        self, consumer: AIOKafkaConsumer, batch: Sequence[AccountWrite], stop: asyncio.Event
    ) -> tuple[list[AccountWrite], list[Rejected]]:
        """Write one batch until every Account has an outcome."""
        config = self._config
        written = [write for write in batch if not write.values]  # nothing to change
        rejected: list[Rejected] = []
        pending = [write for write in batch if write.values]
        tries = 0
        while pending:
            pending = [
                w for w in pending if self._owned(w.sources[0].topic, w.sources[0].partition)
            ]
            if not pending:
                break
            records = [write.record() for write in pending]
            try:
                results = await self._call(
                    consumer,
                    stop,
                    functools.partial(self._api.update_records, PERSON_ACCOUNT_OBJECT, records),
                )
            except RecordRejectedError as exc:  # the whole call was refused
                rejected += [Rejected(write, exc.code, exc.message) for write in pending]
                break
            self.stats.calls_made += 1
            outcome = classify_results(pending, results)
            written += outcome.written
            rejected += outcome.rejected
            pending = list(outcome.retry)
            if pending:
                tries += 1
                if tries >= config.record_attempts:
                    codes = {r.key: f"{r.error_code}: {r.message}" for r in results if r.retriable}
                    rejected += [
                        Rejected(
                            w,
                            None,
                            f"still retriable after {tries} attempts "
                            f"({codes.get(w.account_id, 'no detail')})",
                        )
                        for w in pending
                    ]
                    break
                await self._wait(consumer, config.backoff_seconds * 2 ** (tries - 1), stop)
        return written, rejected

    async def _call(
        self, consumer: AIOKafkaConsumer, stop: asyncio.Event, fn: Callable[[], Any]
    ) -> Any:
        """Run a Veeva call in a thread; transient failures back off and try again, forever.

        Raises:
            VmsyncError: Any error whose action is not RETRY (DEAD_LETTER, STOP).
        """
        failures = 0
        while True:
            check_stop(stop)
            try:
                result = await asyncio.to_thread(fn)
            except VmsyncError as exc:
                if exc.action is not Action.RETRY and exc.action is not Action.PAUSE:
                    raise
                failures = await self._react(consumer, exc, failures, stop)
                continue
            self.stats.last_error = None
            return result

    async def _react(
        self, consumer: AIOKafkaConsumer, exc: VmsyncError, failures: int, stop: asyncio.Event
    ) -> int:
        """Back off after a transient failure; returns the new count of failures in a row."""
        config = self._config
        self.stats.last_error = str(exc)
        failures += 1
        if failures < config.call_attempts:
            log.warning("Veeva call failed (%d in a row): %s", failures, exc)
            await self._wait(consumer, config.backoff_seconds * 2 ** (failures - 1), stop)
            return failures
        log.warning(
            "Veeva failing after %d attempts; pausing %.0f s: %s",
            failures,
            config.transient_pause_seconds,
            exc,
        )
        await self._wait(consumer, config.transient_pause_seconds, stop)
        return 0

    async def _wait(self, consumer: AIOKafkaConsumer, seconds: float, stop: asyncio.Event) -> None:
        """Wait ``seconds`` without fetching, staying in the group (getmany keeps polling)."""
        await hold(
            consumer,
            time.monotonic() + seconds,
            clock=time.monotonic,
            poll_seconds=self._config.poll_seconds,
            stop=stop,
            pending=self._pending,
        )

    def _owned(self, topic: str, partition: int) -> bool:
        return TopicPartition(topic, partition) not in self._revoked

    async def _commit(self, consumer: AIOKafkaConsumer, records: list[Any]) -> None:
        if await commit_owned(consumer, records, self._revoked):
            self.stats.rounds_committed += 1


def run_veeva_writer(settings: Settings, mapping: MappingModel) -> None:
    """Apply contact edits to Veeva until SIGTERM/SIGINT (blocking).

    A signal abandons the current batch uncommitted (PATCH by Id is idempotent, so writing it
    again after the restart is harmless) and closes the consumer cleanly.
    """
    asyncio.run(_run_veeva_writer(settings, mapping))


async def _run_veeva_writer(settings: Settings, mapping: MappingModel) -> None:
    kafka = settings.kafka
    codec = codec_for(kafka)
    session = requests.Session()  # ours to close, so the HTTP connections end with the process
    writer = VeevaWriter(
        kafka,
        VeevaClient(settings.veeva, session=session),
        codec,
        synced_fields=frozenset(bidirectional_fields(mapping)),
        config=VeevaWriterConfig(
            group_id=_group_id(kafka.topic_prefix), batch_size=settings.veeva.write_batch_size
        ),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, _on_signal, stop, signum)
        except (NotImplementedError, RuntimeError):  # not the main thread, or not POSIX
            continue
        handled.append(signum)
    try:
        await writer.run(stop)
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        session.close()
        codec.close()
    log.info("Veeva writer: %s", writer.stats)


def _group_id(prefix: str) -> str:
    """The consumer group: one per deployment (topic prefix) on a shared cluster."""
    base = VeevaWriterConfig.group_id
    return f"{prefix}.{base}" if prefix else base


def _on_signal(stop: asyncio.Event, signum: signal.Signals) -> None:
    log.info("received %s: stopping", signum.name)
    stop.set()

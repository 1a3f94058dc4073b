"""Veeva change capture: per object a snapshot, then cycles of changes, onto `veeva.<Object>`.

The coordinator wires the pure rules (plan, SOQL, watermarks) to the ports: it reads pages
from Veeva, publishes one change event per record version keyed by Id, waits for Kafka to
acknowledge them, and only then writes the checkpoint that covers them.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..clients.kafka import make_consumer, make_producer
from ..clients.ports import SfRecord, VeevaApi
from ..errors import FatalError
from ..schemas.codec import AvroCodec, codec_for
from ..schemas.contracts import envelope_schema
from ..schemas.errors import IncompatibleSchemaError
from ..settings import Settings, SyncSettings, VeevaSettings
from ..topics import Topics
from .change_events import EventContext, Op, change_event, op_of, record_key
from .checkpoints import Checkpoint, CheckpointStore, Phase
from .plan import CaptureSource, ObjectPlan, build_plan, sources_from_mapping
from .progress import LogProgress, ProgressReporter
from .publisher import Publisher
from .schema_history import PayloadSchemaHistory
from .soql import count_from_where
from .sources import ChangeReader, SnapshotReader
from .watermark import Deduper, Watermark, advance, cycle_start, record_position, to_millis

if TYPE_CHECKING:
    from ..processors.mapping import Mapping as MappingModel

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class CaptureTuning:
    """Sizes of the queries capture runs.

    Attributes:
        rest_chunk_pages: A REST snapshot chunk is this many query pages.
        bulk_chunk_records: Records per Bulk API 2.0 snapshot job.
        bulk_page_records: `maxRecords` per Bulk result page.
        change_page_size: Records per change query; `VeevaSettings.query_batch_size` if None.
    """

    rest_chunk_pages: int = 10
    bulk_chunk_records: int = 500_000
    bulk_page_records: int = 50_000
    change_page_size: int | None = None


@dataclass
class ObjectStats:
    """What capture did for one object in this process (for status and benchmarks)."""

    object_name: str
    snapshot_records: int = 0
    upserts: int = 0
    deletes: int = 0
    tombstones: int = 0
    duplicates_skipped: int = 0
    pages: int = 0
    calls: int = 0
    cycles: int = 0
    snapshot_total: int | None = None
    used_bulk: bool | None = None
    seconds: float = 0.0

    @property
    def records_published(self) -> int:
        """Change events published (tombstones not counted)."""
        return self.snapshot_records + self.upserts + self.deletes


@dataclass
class _ObjectState:
    plan: ObjectPlan
    topic: str
    envelope: dict[str, Any]
    stats: ObjectStats
    deduper: Deduper = field(default_factory=Deduper)


class VeevaCapture:
    """Captures configured Veeva objects onto their `veeva.<Object>` topics.

    Args:
        veeva: The Veeva API (a `clients.veeva.VeevaClient`, or a fake in tests).
        sources: The objects to capture, in order (see `plan.sources_from_mapping`).
        publisher: Kafka publisher over an idempotent, acks=all producer.
        checkpoints: The checkpoint store on `vmsync.checkpoints`.
        codec: Avro codec for change events.
        topics: Topic names of this deployment.
        veeva_settings: Page sizes and the Bulk API threshold.
        sync_settings: Poll interval and safety overlap.
        schema_history: Previous payload schemas, for the BACKWARD check.
        progress: Where snapshot progress goes.
        clock: Current UTC time (tests pass a fixed clock).
        tuning: Chunk and page sizes.
    """

    def __init__(
        self,
        *,
        veeva: VeevaApi,
        sources: Sequence[CaptureSource],
        publisher: Publisher,
        checkpoints: CheckpointStore,
        codec: AvroCodec,
        topics: Topics,
        veeva_settings: VeevaSettings,
        sync_settings: SyncSettings,
        schema_history: PayloadSchemaHistory | None = None,
        progress: ProgressReporter | None = None,
        clock: Callable[[], datetime] = utc_now,
        tuning: CaptureTuning | None = None,
    ) -> None:
        self.veeva = veeva
        self.sources = tuple(sources)
        self.publisher = publisher
        self.checkpoints = checkpoints
        self.codec = codec
        self.topics = topics
        self.veeva_settings = veeva_settings
        self.sync_settings = sync_settings
        self.schema_history = schema_history or PayloadSchemaHistory()
        self.progress: ProgressReporter = progress or LogProgress()
        self.clock = clock
        self.tuning = tuning or CaptureTuning()
        self.stop_event = threading.Event()
        self._objects: dict[str, _ObjectState] | None = None
        self._close: list[Callable[[], None]] = []

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        veeva: VeevaApi,
        mapping: MappingModel,
        *,
        progress: ProgressReporter | None = None,
    ) -> VeevaCapture:
        """Wire capture to the Kafka cluster, schema store/registry and state dir of `settings`.

        Args:
            settings: The deployment's settings.
            veeva: A logged-in Veeva client.
            mapping: The validated mapping (`processors.mapping.load_mapping`).
            progress: Where snapshot progress goes (log lines when None).
        """
        kafka = settings.kafka
        codec = codec_for(kafka)
        producer = make_producer(kafka)
        publisher = Publisher(producer)
        topics = Topics(kafka.topic_prefix)
        checkpoints = CheckpointStore(
            publisher=publisher,
            consumer_factory=lambda: make_consumer(kafka),
            topic=topics.checkpoints,
            codec=codec,
        )
        objects = [*settings.sync.objects, *settings.sync.custom_objects]
        capture = cls(
            veeva=veeva,
            sources=sources_from_mapping(mapping, objects),
            publisher=publisher,
            checkpoints=checkpoints,
            codec=codec,
            topics=topics,
            veeva_settings=settings.veeva,
            sync_settings=settings.sync,
            schema_history=PayloadSchemaHistory(settings.sync.state_dir / "payload-schemas"),
            progress=progress,
        )
        capture._close.append(producer.close)
        capture._close.append(codec.close)
        return capture

    def close(self) -> None:
        """Release the Kafka producer and HTTP clients this object created."""
        while self._close:
            self._close.pop()()

    @property
    def stats(self) -> dict[str, ObjectStats]:
        """Per-object statistics of this process."""
        return {name: state.stats for name, state in (self._objects or {}).items()}

    def stop(self) -> None:
        """Ask `run` (and a snapshot in progress) to stop after the current page."""
        self.stop_event.set()

    def prepare(self) -> dict[str, _ObjectState]:
        """Describe every object, build its plan, check its schema, load the checkpoints.

        Runs once, on the first cycle; call it early to fail fast.

        Raises:
            ConfigError: An object lacks `Id`/`SystemModstamp` for this user, or a topic is
                missing.
            FatalError: A payload schema is not BACKWARD compatible with the last one.
        """
        if self._objects is not None:
            return self._objects
        objects: dict[str, _ObjectState] = {}
        for source in self.sources:
            calls_before = self.veeva.calls_made
            plan = build_plan(source, self.veeva.describe(source.object_name))
            for name in plan.invisible:
                log.warning(
                    "%s.%s is mapped but the integration user cannot see it; skipping it",
                    plan.object_name,
                    name,
                )
            self.schema_history.accept(plan.object_name, plan.payload_schema)
            topic = self.topics.veeva(plan.object_name)
            envelope = envelope_schema(plan.payload_schema)
            try:
                self.codec.writer(topic, envelope)
            except IncompatibleSchemaError as exc:
                raise FatalError(str(exc), hint="capture stopped") from exc
            stats = ObjectStats(plan.object_name, calls=self.veeva.calls_made - calls_before)
            objects[plan.object_name] = _ObjectState(plan, topic, envelope, stats)
        self.checkpoints.load()
        self._objects = objects
        return objects

    def run_once(self) -> dict[str, ObjectStats]:
        """Run one cycle over every object and return the statistics.

        An object without a finished snapshot continues (or starts) it, then runs a cycle of
        changes from the snapshot's start minus the overlap; the others run a cycle of changes.
        """
        for state in self.prepare().values():
            if self.stop_event.is_set():
                break
            self._capture_object(state)
        return self.stats

    def run(self, stop: threading.Event | None = None) -> None:
        """Run cycles until `stop` (or `self.stop()`), pausing `poll_interval_seconds` between."""
        if stop is not None:
            self.stop_event = stop
        while not self.stop_event.is_set():
            self.run_once()
            self.stop_event.wait(self.sync_settings.poll_interval_seconds)

    def _capture_object(self, state: _ObjectState) -> None:
        calls_before = self.veeva.calls_made
        started = time.monotonic()
        try:
            checkpoint = self.checkpoints.get(state.plan.object_name)
            if checkpoint is None or checkpoint.phase is Phase.SNAPSHOT:
                checkpoint = self._snapshot(state, checkpoint)
            if checkpoint is not None and not self.stop_event.is_set():
                self._changes(state, checkpoint)
        finally:
            state.stats.calls += self.veeva.calls_made - calls_before
            state.stats.seconds += time.monotonic() - started

    def _snapshot(self, state: _ObjectState, checkpoint: Checkpoint | None) -> Checkpoint | None:
        """Publish the snapshot; return the first changes checkpoint, or None when stopped."""
        plan, stats = state.plan, state.stats
        now = self.clock()
        if checkpoint is None:
            checkpoint = Checkpoint(
                object_name=plan.object_name,
                phase=Phase.SNAPSHOT,
                watermark=Watermark(to_millis(now)),
                updated_at=now,
            )
        else:
            log.info(
                "%s: resuming the snapshot after Id %s (%d records done)",
                plan.object_name,
                checkpoint.snapshot_cursor,
                checkpoint.records_done,
            )
        scope = plan.scope(now)
        total = self.veeva.count(count_from_where(scope))
        use_bulk = total >= self.veeva_settings.bulk_threshold
        stats.snapshot_total, stats.used_bulk = total, use_bulk
        reader = SnapshotReader(
            chunk_size=(
                self.tuning.bulk_chunk_records
                if use_bulk
                else self.veeva_settings.query_batch_size * self.tuning.rest_chunk_pages
            ),
            use_bulk=use_bulk,
            batch_size=self.veeva_settings.query_batch_size,
            bulk_page_records=self.tuning.bulk_page_records,
        )
        cycle_id = _cycle_id("snapshot", now)
        self.progress.start(
            plan.object_name, max(total, checkpoint.records_done), checkpoint.records_done
        )
        try:
            pages = reader.pages(self.veeva, scope, checkpoint.snapshot_cursor)
            with closing(pages):
                for page in pages:
                    self._publish(state, page, cycle_id, snapshot=True)
                    checkpoint = checkpoint.moved(
                        snapshot_cursor=str(page[-1]["Id"]),
                        records_done=checkpoint.records_done + len(page),
                        updated_at=self.clock(),
                    )
                    self.checkpoints.save(checkpoint)
                    self.progress.advance(len(page))
                    if self.stop_event.is_set():
                        return None
        finally:
            self.progress.finish()
        done = checkpoint.moved(phase=Phase.CHANGES, snapshot_cursor=None, updated_at=self.clock())
        self.checkpoints.save(done)
        log.info(
            "%s: snapshot complete, %d records; changes start at %s minus %d s overlap",
            plan.object_name,
            done.records_done,
            done.watermark.modstamp.isoformat(),
            self.sync_settings.safety_overlap_seconds,
        )
        return done

    def _changes(self, state: _ObjectState, checkpoint: Checkpoint) -> None:
        plan = state.plan
        now = self.clock()
        overlap = timedelta(seconds=self.sync_settings.safety_overlap_seconds)
        start = cycle_start(checkpoint.watermark, overlap)
        reader = ChangeReader(
            page_size=self.tuning.change_page_size or self.veeva_settings.query_batch_size,
            include_deleted=plan.has_is_deleted,
        )
        cycle_id = _cycle_id("changes", now)
        state.stats.cycles += 1
        pages = reader.pages(self.veeva, plan.scope(now), start)
        with closing(pages):
            for page in pages:
                self._publish(state, page, cycle_id, snapshot=False)
                mark = advance(checkpoint.watermark, record_position(page[-1]))
                if mark != checkpoint.watermark:
                    checkpoint = checkpoint.moved(watermark=mark, updated_at=self.clock())
                    self.checkpoints.save(checkpoint)
                if self.stop_event.is_set():
                    break
        state.deduper.forget_before(cycle_start(checkpoint.watermark, overlap).modstamp)

    def _publish(
        self,
        state: _ObjectState,
        page: Iterable[SfRecord],
        cycle_id: str,
        *,
        snapshot: bool,
    ) -> None:
        """Publish one page and wait for Kafka's acknowledgement."""
        stats = state.stats
        context = EventContext(state.plan.object_name, self.veeva.org_id, cycle_id, self.clock())
        rows = list(page)
        fresh = rows if snapshot else state.deduper.fresh(rows)
        stats.duplicates_skipped += len(rows) - len(fresh)
        for record in fresh:
            op = op_of(record, snapshot=snapshot)
            event = change_event(record, state.plan.payload_schema, context, op)
            key = record_key(event["id"])
            value = self.codec.encode(state.topic, state.envelope, event)
            self.publisher.send(state.topic, key, value)
            if op is Op.DELETE:
                self.publisher.send(state.topic, key, None)
                stats.deletes += 1
                stats.tombstones += 1
            elif op is Op.SNAPSHOT:
                stats.snapshot_records += 1
            else:
                stats.upserts += 1
        self.publisher.confirm()
        stats.pages += 1


def _cycle_id(kind: str, now: datetime) -> str:
    return f"{kind}-{now.astimezone(UTC):%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex[:8]}"

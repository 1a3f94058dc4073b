"""Veeva capture end to end over a real Kafka broker, Veeva answered by an in-memory fake."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from capture_fakes import FakeVeeva, InjectedFailureError
from kafka import TopicPartition

from veeva_marketo_sync.clients.kafka import create_topics, make_consumer, make_producer
from veeva_marketo_sync.producers.checkpoints import CheckpointStore, Phase
from veeva_marketo_sync.producers.plan import CaptureSource
from veeva_marketo_sync.producers.publisher import Publisher
from veeva_marketo_sync.producers.veeva_capture import CaptureTuning, VeevaCapture
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.settings import KafkaSettings, SyncSettings, VeevaSettings
from veeva_marketo_sync.topics import Topics

pytestmark = pytest.mark.integration

OBJECT = "Call2_vod__c"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
FIELDS = {"Name": "string", "Status_vod__c": "picklist", "Account_vod__c": "reference"}
SOURCE = CaptureSource(OBJECT, ("Name", "Status_vod__c"), link_fields=("Account_vod__c",))


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def call(n: int, modstamp: datetime, status: str = "Planned_vod") -> dict[str, Any]:
    return {
        "Id": f"a0A{n:015d}",
        "SystemModstamp": stamp(modstamp),
        "CreatedDate": stamp(modstamp),
        "LastModifiedById": "005000000000009AAA",
        "OwnerId": "005000000000009AAA",
        "Name": f"C-{n:05d}",
        "Status_vod__c": status,
        "Account_vod__c": "001000000000001AAA",
    }


@dataclass
class Clock:
    now: datetime = T0 + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Harness:
    """One deployment (topic prefix) on the shared broker; captures share its codec."""

    bootstrap: str
    fake: FakeVeeva
    topics: Topics
    kafka: KafkaSettings
    codec: AvroCodec = field(default_factory=AvroCodec)
    clock: Clock = field(default_factory=Clock)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def capture(self, *, bulk_threshold: int = 1_000_000, page_size: int = 2000) -> VeevaCapture:
        producer = make_producer(self.kafka)
        self.closers.append(producer.close)
        publisher = Publisher(producer)
        checkpoints = CheckpointStore(
            publisher=publisher,
            consumer_factory=lambda: make_consumer(self.kafka),
            topic=self.topics.checkpoints,
            codec=self.codec,
        )
        return VeevaCapture(
            veeva=self.fake,
            sources=[SOURCE],
            publisher=publisher,
            checkpoints=checkpoints,
            codec=self.codec,
            topics=self.topics,
            veeva_settings=VeevaSettings(
                username="u", password="p", query_batch_size=200, bulk_threshold=bulk_threshold
            ),
            sync_settings=SyncSettings(safety_overlap_seconds=60, poll_interval_seconds=1),
            clock=self.clock,
            tuning=CaptureTuning(
                rest_chunk_pages=2, bulk_chunk_records=300, change_page_size=page_size
            ),
        )

    def read(self, topic: str) -> list[tuple[str, Any]]:
        """Every record of `topic` in offset order: (key, decoded value or None)."""
        consumer = make_consumer(self.kafka)
        try:
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            ends = consumer.end_offsets(partitions)
            out: list[tuple[str, Any]] = []
            deadline = time.monotonic() + 30
            while any(consumer.position(tp) < ends[tp] for tp in partitions):
                assert time.monotonic() < deadline, f"could not read {topic} to its end"
                for messages in consumer.poll(timeout_ms=500).values():
                    out += [
                        (m.key.decode(), None if m.value is None else self.codec.decode(m.value))
                        for m in messages
                    ]
            return out
        finally:
            consumer.close()

    def events(self) -> list[tuple[str, Any]]:
        return self.read(self.topics.veeva(OBJECT))


@pytest.fixture
def harness(kafka_bootstrap: str) -> Iterator[Harness]:
    topics = Topics(f"it{uuid.uuid4().hex[:8]}")
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, partitions=1, replication_factor=1)
    create_topics(kafka, topics.specs((OBJECT,), ()))
    fake = FakeVeeva()
    fake.define(OBJECT, FIELDS)
    h = Harness(kafka_bootstrap, fake, topics, kafka)
    yield h
    for close in h.closers:
        close()


def seed(fake: FakeVeeva, count: int, *, at: datetime = T0) -> None:
    for n in range(count):
        fake.put(OBJECT, call(n, at + timedelta(seconds=n)))


def test_snapshot_publishes_every_record_once_and_decodes_to_equal_values(
    harness: Harness,
) -> None:
    seed(harness.fake, 450)
    capture = harness.capture()

    stats = capture.run_once()[OBJECT]

    events = harness.events()
    assert [key for key, _ in events] == sorted(harness.fake.tables[OBJECT])
    assert stats.snapshot_records == 450
    assert stats.used_bulk is False
    assert stats.calls == harness.fake.calls_made
    for key, event in events:
        record = harness.fake.tables[OBJECT][key]
        assert event["op"] == "snapshot"
        assert event["object"] == OBJECT
        assert event["source"]["user_id"] == "005000000000009AAA"
        assert event["source"]["org_id"] == harness.fake.org_id
        assert event["after"]["Name"] == record["Name"]
        assert event["after"]["Status_vod__c"] == record["Status_vod__c"]
        assert event["after"]["Account_vod__c"] == record["Account_vod__c"]
        assert stamp(event["after"]["SystemModstamp"]) == record["SystemModstamp"]
    checkpoint = capture.checkpoints.load()[OBJECT]
    assert checkpoint.phase is Phase.CHANGES
    assert checkpoint.records_done == 450
    # The first cycle of changes starts at the snapshot's start minus the overlap.
    changes = [c.soql for c in harness.fake.calls if c.method == "query" and c.include_deleted]
    assert "SystemModstamp >= 2024-05-01T10:59:00Z" in changes[0]


def test_large_objects_snapshot_through_bulk_api_chunks(harness: Harness) -> None:
    seed(harness.fake, 700)

    stats = harness.capture(bulk_threshold=500).run_once()[OBJECT]

    assert stats.used_bulk is True
    bulk = [c.soql for c in harness.fake.calls if c.method == "bulk"]
    assert len(bulk) == 3  # chunks of 300: 300 + 300 + 100
    assert bulk[1].endswith(f"WHERE Id > 'a0A{299:015d}' ORDER BY Id LIMIT 300")
    assert len(harness.events()) == 700


def test_a_snapshot_stopped_by_a_crash_resumes_from_the_checkpoint(harness: Harness) -> None:
    seed(harness.fake, 1000)
    harness.fake.fail_after_pages = 3  # pages of 200 and chunks of 400: dies in the 2nd chunk

    with pytest.raises(InjectedFailureError):
        harness.capture().run_once()
    assert len(harness.events()) == 600

    harness.fake.fail_after_pages = None
    harness.fake.calls.clear()
    stats = harness.capture().run_once()[OBJECT]

    snapshot_queries = [c.soql for c in harness.fake.calls if c.method == "query"][:-1]
    assert f"Id > 'a0A{599:015d}'" in snapshot_queries[0]
    assert all("Id > 'a0A" in q for q in snapshot_queries)
    keys = [key for key, _ in harness.events()]
    assert sorted(keys) == sorted(harness.fake.tables[OBJECT])
    assert len(keys) == len(set(keys)) == 1000
    assert stats.snapshot_records == 400


def test_a_snapshot_stopped_by_request_resumes_where_it_stopped(harness: Harness) -> None:
    seed(harness.fake, 500)
    capture = harness.capture()
    capture.progress.advance = lambda records: capture.stop()  # type: ignore[method-assign]

    capture.run_once()

    assert len(harness.events()) == 200
    assert capture.checkpoints.load()[OBJECT].snapshot_cursor == f"a0A{199:015d}"
    harness.capture().run_once()
    assert len({key for key, _ in harness.events()}) == 500


def test_a_cycle_publishes_edits_creates_and_deletes_with_tombstones(harness: Harness) -> None:
    seed(harness.fake, 5)
    capture = harness.capture()
    capture.run_once()
    before = len(harness.events())

    later = harness.clock.now + timedelta(minutes=5)
    harness.fake.put(OBJECT, call(1, later, status="Submitted_vod"))
    harness.fake.put(OBJECT, call(7, later + timedelta(seconds=1)))
    harness.fake.delete(OBJECT, f"a0A{3:015d}", stamp(later + timedelta(seconds=2)))
    harness.clock.now = later + timedelta(minutes=5)
    stats = capture.run_once()[OBJECT]

    new = harness.events()[before:]
    assert [(key[-3:], value and value["op"]) for key, value in new] == [
        ("001", "upsert"),
        ("007", "upsert"),
        ("003", "delete"),
        ("003", None),
    ]
    assert new[0][1]["after"]["Status_vod__c"] == "Submitted_vod"
    assert new[2][1]["after"] is None
    assert (stats.upserts, stats.deletes, stats.tombstones) == (2, 1, 1)
    watermark = capture.checkpoints.load()[OBJECT].watermark
    assert watermark.last_id == f"a0A{3:015d}"

    # The next cycle re-reads the overlap; within this process nothing is published twice.
    capture.run_once()
    assert len(harness.events()) == before + 4
    assert stats.duplicates_skipped == 3


def test_records_sharing_one_modstamp_across_a_page_boundary_all_arrive(harness: Harness) -> None:
    capture = harness.capture(page_size=3)
    capture.run_once()  # empty snapshot

    same = harness.clock.now + timedelta(minutes=1)
    for n in range(8):
        harness.fake.put(OBJECT, call(n, same))
    harness.clock.now = same + timedelta(minutes=1)
    capture.run_once()

    keys = [key for key, _ in harness.events()]
    assert sorted(keys) == [f"a0A{n:015d}" for n in range(8)]
    pages = [c.soql for c in harness.fake.calls if c.method == "query" and c.include_deleted]
    assert any("SystemModstamp = " in q and "Id > " in q for q in pages)


def test_a_new_process_continues_from_the_watermark_in_kafka(harness: Harness) -> None:
    seed(harness.fake, 3)
    harness.capture().run_once()
    later = harness.clock.now + timedelta(minutes=10)
    harness.fake.put(OBJECT, call(9, later))
    harness.clock.now = later + timedelta(minutes=1)
    harness.fake.calls.clear()

    harness.capture().run_once()

    assert not [c for c in harness.fake.calls if c.method in ("count", "bulk")]
    changes = [c.soql for c in harness.fake.calls if c.method == "query"]
    assert "SystemModstamp >= 2024-05-01T10:59:00Z" in changes[0]
    assert harness.events()[-1][0] == f"a0A{9:015d}"

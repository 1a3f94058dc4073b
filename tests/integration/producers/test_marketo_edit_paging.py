"""Marketo edit capture's paging over a real Kafka broker, Marketo answered by a fake."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka import KafkaConsumer

from veeva_marketo_sync.clients.kafka import create_topics, make_consumer, make_producer
from veeva_marketo_sync.clients.ports import LeadChange, LeadChangesPage
from veeva_marketo_sync.producers.marketo_edits import MarketoEditCapture
from veeva_marketo_sync.producers.paging_checkpoint import COMPONENT, PagingTokenStore
from veeva_marketo_sync.producers.publisher import Publisher
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import LEAD_EDIT, load_contract
from veeva_marketo_sync.settings import KafkaSettings
from veeva_marketo_sync.topics import Topics

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def change(activity_id: int, lead_id: int, field: str = "email") -> LeadChange:
    return LeadChange(
        activity_id=activity_id,
        lead_id=lead_id,
        activity_date="2026-05-01T11:59:00Z",
        field=field,
        old_value="old",
        new_value=f"v{activity_id}",
        source="Marketo UI",
        reason="Person Details",
        attributes={"Source": "Marketo UI"},
    )


class PagedMarketo:
    """Serves ``pages`` after the token ``t0``; page ``n`` answers token ``t{n}``."""

    def __init__(self, pages: list[tuple[list[LeadChange], bool]], links: dict[int, str]) -> None:
        self.pages = pages
        self.links = links
        self.since: list[str] = []
        self.tokens: list[str] = []
        self.lookups: list[list[str]] = []

    async def paging_token(self, since_iso: str) -> str:
        self.since.append(since_iso)
        return "t0"

    async def lead_changes(
        self, page_token: str, fields: Sequence[str], *, batch_size: int = 300
    ) -> LeadChangesPage:
        assert set(fields) >= {"email", "firstName"}
        self.tokens.append(page_token)
        n = int(page_token[1:])
        if n >= len(self.pages):
            return LeadChangesPage((), page_token, more_result=False)
        changes, more = self.pages[n]
        return LeadChangesPage(tuple(changes), f"t{n + 1}", more_result=more)

    async def get_leads(
        self, filter_type: str, values: Sequence[str], fields: Sequence[str]
    ) -> list[Mapping[str, Any]]:
        assert (filter_type, list(fields)) == ("id", ["id", "veevaAccountId"])
        self.lookups.append(list(values))
        return [{"id": int(v), "veevaAccountId": self.links.get(int(v))} for v in values]


def capture_for(kafka: KafkaSettings, topics: Topics, marketo: PagedMarketo) -> MarketoEditCapture:
    codec = AvroCodec()
    publisher = Publisher(make_producer(kafka))
    store = PagingTokenStore(
        publisher=publisher,
        consumer_factory=lambda: make_consumer(kafka),
        topic=topics.checkpoints,
        codec=codec,
        component=COMPONENT,
    )

    async def id_map() -> dict[str, str]:
        return {"001LINKED": "6", "a0Cguid": "6f1b-guid"}

    return MarketoEditCapture(
        marketo=marketo,  # type: ignore[arg-type]
        publisher=publisher,
        checkpoints=store,
        codec=codec,
        topics=topics,
        fields=["email", "firstName"],
        lookup_field="veevaAccountId",
        id_map_loader=id_map,
        clock=lambda: NOW,
    )


def published(kafka: KafkaSettings, topic: str, expected: int) -> list[tuple[bytes, Any]]:
    consumer: KafkaConsumer = make_consumer(kafka, consumer_timeout_ms=3000)
    consumer.subscribe([topic])
    codec, schema = AvroCodec(), load_contract(LEAD_EDIT)
    try:
        records = []
        for message in consumer:
            records.append((message.key, codec.decode(message.value, schema)))
            if len(records) > expected:
                break
        return records
    finally:
        consumer.close()


async def test_pages_are_followed_through_empty_ones_and_the_token_is_kept(
    kafka_bootstrap: str,
) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, partitions=2, replication_factor=1
    )
    topics = Topics(prefix)
    create_topics(kafka, topics.specs((), ()))
    pages = [
        ([], True),  # empty, but more to come
        ([change(1, 5), change(2, 6), change(3, 5, "leadScore")], True),
        ([change(4, 7, "firstName"), change(5, 5)], False),
    ]
    marketo = PagedMarketo(pages, links={7: "001SEVEN"})

    capture = capture_for(kafka, topics, marketo)
    try:
        assert await capture.run_once() == 2
    finally:
        await capture.close()

    assert marketo.since == ["2026-05-01T11:59:00+00:00"]
    assert marketo.tokens == ["t0", "t1", "t2"]
    # Lead 6 comes from the id map; 5 and 7 are looked up once each, one call per page.
    assert marketo.lookups == [["5"], ["7"]]
    records = published(kafka, topics.lead_edits, 2)
    assert sorted((key, event["activity_id"]) for key, event in records) == [
        (b"001LINKED", 2),
        (b"001SEVEN", 4),
    ]

    again = PagedMarketo(pages, links={7: "001SEVEN"})
    capture = capture_for(kafka, topics, again)
    try:
        assert await capture.run_once() == 0
    finally:
        await capture.close()
    assert again.since == []
    assert again.tokens == ["t3"]

"""faust wiring of the processors: tables, agents, batching; no rules live here.

Each agent takes batches of events, hands them to :meth:`Pipeline.handle` with a view over
the tables, produces every output without awaiting each one, waits for all acknowledgements,
and only then writes the batch's table changes, so offsets (committed after the batch) and
state never run ahead of what was produced.

Tables use ``use_partitioner=True``: writes happen after the batch, outside faust's per-event
context. ``sent`` and ``conflicts`` are keyed by the record Id like their source topics, so
their changelog partitions line up with the source partitions. ``owners`` (by User Id) and
``owned`` (by owner Id) are read by the agent of the other topic, so they are GlobalTables:
every worker keeps all of them, which is what several workers need.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from veeva_marketo_sync.processors.app import ProcessorTuning
from veeva_marketo_sync.processors.contact_fields import PERSON_ACCOUNT_OBJECT
from veeva_marketo_sync.processors.mapping import USER_OBJECT
from veeva_marketo_sync.processors.messages import Incoming
from veeva_marketo_sync.processors.pipeline import Pipeline
from veeva_marketo_sync.processors.state import CONFLICTS, OWNED, OWNERS, SENT, WAITING, StateView

log = logging.getLogger(__name__)


class _TextKeyed:
    """A faust table (bytes keys) read with text keys."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, key: str, /) -> Any:
        return self._table.get(key.encode("utf-8"))


def _headers(raw: Any) -> tuple[tuple[str, bytes], ...]:
    if not raw:
        return ()
    items = raw.items() if isinstance(raw, Mapping) else raw
    return tuple((str(name), bytes(value or b"")) for name, value in items)


def incoming(event: Any) -> Incoming:
    """A faust event as the pipeline sees it."""
    message = event.message
    return Incoming(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=event.key,
        value=event.value,
        headers=_headers(message.headers),
    )


def make_tables(app: Any) -> dict[str, Any]:
    """Declare the processor's tables on ``app`` (values are JSON)."""
    return {
        SENT: app.Table(SENT, key_type=bytes, use_partitioner=True),
        CONFLICTS: app.Table(CONFLICTS, key_type=bytes, use_partitioner=True),
        WAITING: app.Table(WAITING, key_type=bytes, use_partitioner=True),
        OWNERS: app.GlobalTable(OWNERS, key_type=bytes, use_partitioner=True),
        OWNED: app.GlobalTable(OWNED, key_type=bytes, use_partitioner=True),
    }


class BatchHandler:
    """Runs one batch: pure handling, produce, await acks, then table writes."""

    def __init__(self, app: Any, pipeline: Pipeline, tables: Mapping[str, Any]) -> None:
        self._app = app
        self._pipeline = pipeline
        self._tables = tables
        self._topics: dict[str, Any] = {}
        # One batch at a time across agents: a User batch must see the persons an Account
        # batch has just registered, and vice versa (the tables are shared).
        self._lock = asyncio.Lock()

    def _topic(self, name: str) -> Any:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = self._app.topic(name)
        return topic

    async def __call__(self, events: Sequence[Any]) -> None:
        """Handle ``events`` (faust events of one batch); returns when all is acknowledged."""
        async with self._lock:
            await self._handle(events)

    async def _handle(self, events: Sequence[Any]) -> None:
        view = StateView({name: _TextKeyed(table) for name, table in self._tables.items()})
        result = self._pipeline.handle([incoming(event) for event in events], view)
        futures = [
            await self._topic(out.topic).send(
                key=out.key, value=out.value, headers=list(out.headers), force=True
            )
            for out in result.outputs
        ]
        if futures:
            await asyncio.gather(*futures)
        for name, writes in view.writes.items():
            table = self._tables[name]
            for key, value in writes.items():
                raw = key.encode("utf-8")
                if value is not None:
                    table[raw] = value
                elif raw in table:
                    del table[raw]
        if result.dead_letters:
            log.warning("%d event(s) of %d dead-lettered", result.dead_letters, len(events))


def register(
    app: Any, pipeline: Pipeline, objects: Sequence[str], tuning: ProcessorTuning
) -> list[str]:
    """Add the tables and agents for the configured ``objects`` to ``app``.

    Args:
        app: From :func:`.app.build_app`.
        pipeline: The rules.
        objects: Configured objects; those the mapping covers get an agent.
        tuning: Batch size and wait.

    Returns:
        The topics the agents read.
    """
    handler = BatchHandler(app, pipeline, make_tables(app))
    by_object = {obj: topic for topic, obj in pipeline.object_topics(objects).items()}
    groups: dict[str, list[str]] = {}
    if PERSON_ACCOUNT_OBJECT in by_object:
        groups["persons"] = [by_object.pop(PERSON_ACCOUNT_OBJECT), pipeline.lead_edits_topic]
    if USER_OBJECT in by_object:
        groups["users"] = [by_object.pop(USER_OBJECT)]
    if by_object:
        groups["records"] = sorted(by_object.values())

    async def process(stream: Any) -> None:
        async for events in stream.take_events(tuning.batch_size, tuning.batch_within):
            await handler(events)

    for name, topic_names in groups.items():
        channel = app.topic(*topic_names, key_type=bytes, value_type=bytes)
        app.agent(channel, name=f"vmsync.{name}")(process)
    return [name for names in groups.values() for name in names]

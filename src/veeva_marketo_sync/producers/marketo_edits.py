"""Marketo edit capture: lead changes of bidirectional fields onto ``marketo.lead-edits``.

Each cycle reads the lead-changes feed (Change Data Value activities) from the checkpointed
paging token, page by page. Per page it resolves each lead to its Veeva Account Id (the id map
first, then one Get Leads call for the ids still unknown), publishes one ``LeadEdit`` event per
change of a linked lead keyed by that Account Id, waits for Kafka's acknowledgement, and only
then saves the page's ``nextPageToken``. A crash replays at most one page: duplicates are
harmless (the processor compares values), gaps are bugs.

Leads not linked to a Veeva Person Account are ignored. Nothing is decided here: trust and
conflicts are the processor's job, so form fills and API edits are published with their
source like any other edit.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..clients.kafka import make_consumer, make_producer
from ..clients.marketo import MAX_BATCH, MarketoClient
from ..clients.ports import MarketoApi
from ..consumers.idmap import load_id_map
from ..errors import Action, ConfigError, VmsyncError
from ..processors.mapping import LeadTarget, reverse_bidirectional_fields
from ..schemas.codec import AvroCodec, codec_for
from ..schemas.contracts import LEAD_EDIT, load_contract
from ..settings import Settings
from ..topics import Topics
from .checkpoints import Phase
from .lead_edits import (
    LeadEditEvent,
    lead_edit_events,
    lead_ids_to_resolve,
    lead_links_from_id_map,
    links_from_leads,
    relevant_changes,
)
from .paging_checkpoint import COMPONENT, LEAD_CHANGES_FEED, PagingCheckpoint, PagingTokenStore
from .publisher import Publisher
from .watermark import Watermark, to_millis

if TYPE_CHECKING:
    from ..processors.mapping import Mapping as MappingModel

log = logging.getLogger(__name__)

IdMapLoader = Callable[[], Awaitable[Mapping[str, str]]]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass
class EditCaptureStats:
    """What edit capture did in this process (for status and logs)."""

    cycles: int = 0
    pages: int = 0
    changes_read: int = 0
    published: int = 0
    unlinked_skipped: int = 0
    lead_lookups: int = 0
    last_error: str | None = None


class MarketoEditCapture:
    """Captures Marketo edits of bidirectional lead fields onto ``marketo.lead-edits``.

    Args:
        marketo: The Marketo port.
        publisher: Kafka publisher over an idempotent, acks=all producer.
        checkpoints: Where the paging token is kept.
        codec: Avro codec for ``LeadEdit`` events.
        topics: Topic names of this deployment.
        fields: Marketo fields to capture (the bidirectional ones).
        lookup_field: The lead field holding the Veeva Account Id (``veevaAccountId``).
        id_map_loader: Loads the id map (Veeva Id -> Marketo id); None to resolve every lead
            with Get Leads.
        poll_interval_seconds: Pause between cycles.
        first_run_overlap: The first cycle starts this long before now.
        clock: Current UTC time.
        batch_size: Activities per page (≤ 300).
    """

    def __init__(
        self,
        *,
        marketo: MarketoApi,
        publisher: Publisher,
        checkpoints: PagingTokenStore,
        codec: AvroCodec,
        topics: Topics,
        fields: Sequence[str],
        lookup_field: str,
        id_map_loader: IdMapLoader | None = None,
        poll_interval_seconds: float = 300.0,
        first_run_overlap: timedelta = timedelta(seconds=60),
        clock: Callable[[], datetime] = utc_now,
        batch_size: int = MAX_BATCH,
    ) -> None:
        if not fields:
            msg = "the mapping has no bidirectional Person Account fields: no edits to capture"
            raise ConfigError(msg, hint="set direction: both on the contact fields to sync back")
        self.marketo = marketo
        self.publisher = publisher
        self.checkpoints = checkpoints
        self.codec = codec
        self.topics = topics
        self.fields = tuple(sorted(fields))
        self.lookup_field = lookup_field
        self.poll_interval_seconds = poll_interval_seconds
        self.first_run_overlap = first_run_overlap
        self.batch_size = batch_size
        self.stats = EditCaptureStats()
        self._field_set = frozenset(self.fields)
        self._id_map_loader = id_map_loader
        self._clock = clock
        self._schema = load_contract(LEAD_EDIT)
        self._linked: dict[int, str] = {}
        self._id_map_loaded = False
        self._close: list[Callable[[], Any]] = []

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        mapping: MappingModel,
        *,
        marketo: MarketoApi | None = None,
    ) -> MarketoEditCapture:
        """Wire capture to the Kafka cluster, schema store/registry and Marketo of ``settings``.

        Args:
            settings: The deployment's settings.
            mapping: The validated mapping (its bidirectional Person Account fields).
            marketo: A Marketo client; by default one is built from ``settings.marketo``.

        Raises:
            ConfigError: The mapping has no Person Account lead target or no field syncs back.
        """
        person = mapping.person
        if person is None or not isinstance(person.target, LeadTarget):
            msg = "the mapping has no Account object with a lead target"
            raise ConfigError(msg, hint="map Account to kind: lead with a lookup_field")
        kafka = settings.kafka
        codec = codec_for(kafka)
        producer = make_producer(kafka)
        publisher = Publisher(producer)
        topics = Topics(kafka.topic_prefix)
        checkpoints = PagingTokenStore(
            publisher=publisher,
            consumer_factory=lambda: make_consumer(kafka),
            topic=topics.checkpoints,
            codec=codec,
            component=COMPONENT,
        )
        client = marketo if marketo is not None else MarketoClient(settings.marketo)

        async def load_ids() -> Mapping[str, str]:
            return await load_id_map(kafka, topics.idmap)

        capture = cls(
            marketo=client,
            publisher=publisher,
            checkpoints=checkpoints,
            codec=codec,
            topics=topics,
            fields=list(reverse_bidirectional_fields(mapping)),
            lookup_field=person.target.lookup_field,
            id_map_loader=load_ids,
            poll_interval_seconds=settings.sync.poll_interval_seconds,
            first_run_overlap=timedelta(seconds=settings.sync.safety_overlap_seconds),
            batch_size=settings.marketo.batch_size,
        )
        capture._close.append(producer.close)
        capture._close.append(codec.close)
        if marketo is None:
            capture._close.append(client.aclose)
        return capture

    async def close(self) -> None:
        """Flush and release the producer, the registry client and the Marketo client."""
        for closer in reversed(self._close):
            result = closer()
            if asyncio.iscoroutine(result):
                await result
        self._close.clear()

    async def run(self, stop: asyncio.Event) -> None:
        """Cycle until ``stop`` is set: capture, then pause ``poll_interval_seconds``.

        Transient failures and quota pauses are logged and waited out; the next cycle starts
        from the last saved token.

        Raises:
            VmsyncError: An error whose action is STOP (bad config or credentials).
        """
        while not stop.is_set():
            wait = self.poll_interval_seconds
            try:
                await self.run_once(stop)
            except VmsyncError as exc:
                if exc.action is Action.STOP:
                    raise
                self.stats.last_error = str(exc)
                resets_in = getattr(exc, "resets_in_seconds", None)
                if exc.action is Action.PAUSE and resets_in is not None:
                    wait = max(wait, float(resets_in))
                log.warning("edit capture cycle failed (%s); next try in %.0f s", exc, wait)
            await _wait(stop, wait)

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """One cycle: read every page after the saved token; returns the events published.

        Stops after the current page when ``stop`` is set.
        """
        started = time.monotonic()
        await self._load_id_map()
        saved = await asyncio.to_thread(self.checkpoints.paging_token, LEAD_CHANGES_FEED)
        token = saved
        if token is None:
            since = self._clock() - self.first_run_overlap
            token = await self.marketo.paging_token(since.isoformat(timespec="seconds"))
            log.info("first run: reading lead changes since %s", since.isoformat())
        published = 0
        pages = 0
        unlinked: set[int] = set()
        while True:
            page = await self.marketo.lead_changes(token, self.fields, batch_size=self.batch_size)
            self.stats.pages += 1
            pages += 1
            changes = relevant_changes(page.changes, self._field_set)
            self.stats.changes_read += len(changes)
            links = await self._links(changes, unlinked)
            events = lead_edit_events(changes, links)
            self.stats.unlinked_skipped += len(changes) - len(events)
            sent = await self._publish(events)
            published += sent
            self.stats.published += sent
            if page.next_page_token != saved or events:
                await self._save(page.next_page_token, events)
                saved = page.next_page_token
            token = page.next_page_token
            if not page.more_result or (stop is not None and stop.is_set()):
                break
        self.stats.cycles += 1
        self.stats.last_error = None
        log.info(
            "lead changes: %d events published in %.1f s (%d pages)",
            published,
            time.monotonic() - started,
            pages,
        )
        return published

    async def _load_id_map(self) -> None:
        if self._id_map_loaded or self._id_map_loader is None:
            return
        self._linked.update(lead_links_from_id_map(await self._id_map_loader()))
        self._id_map_loaded = True

    async def _links(self, changes: Sequence[Any], unlinked: set[int]) -> dict[int, str | None]:
        """Account Id per lead of ``changes``: the cache, then one Get Leads call for the rest.

        Unlinked leads are remembered for the cycle only: the writer may link them later.
        """
        known: dict[int, str | None] = {**dict.fromkeys(unlinked), **self._linked}
        missing = lead_ids_to_resolve(changes, known)
        if missing:
            rows = await self.marketo.get_leads(
                "id", [str(i) for i in missing], ["id", self.lookup_field]
            )
            self.stats.lead_lookups += 1
            for lead_id, account_id in links_from_leads(rows, self.lookup_field, missing).items():
                if account_id is None:
                    unlinked.add(lead_id)
                else:
                    self._linked[lead_id] = account_id
                known[lead_id] = account_id
        return known

    async def _publish(self, events: Sequence[LeadEditEvent]) -> int:
        topic = self.topics.lead_edits
        for event in events:
            value = self.codec.encode(topic, self._schema, event.to_record())
            self.publisher.send(topic, event.key, value)
        if not events:
            return 0
        return await asyncio.to_thread(self.publisher.confirm)

    async def _save(self, token: str, events: Sequence[LeadEditEvent]) -> None:
        """Save ``token`` (the events it covers are acknowledged already)."""
        previous = await asyncio.to_thread(self.checkpoints.get, LEAD_CHANGES_FEED)
        now = to_millis(self._clock())
        if events:
            last = events[-1]
            mark = Watermark(last.activity_time, str(last.activity_id))
        elif previous is not None:
            mark = previous.watermark
        else:
            mark = Watermark(now, "")
        done = (previous.records_done if previous is not None else 0) + len(events)
        checkpoint = PagingCheckpoint(
            object_name=LEAD_CHANGES_FEED,
            phase=Phase.CHANGES,
            watermark=mark,
            updated_at=now,
            records_done=done,
            component=COMPONENT,
            paging_token=token,
        )
        await asyncio.to_thread(self.checkpoints.save, checkpoint)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return


def run_marketo_edits(settings: Settings, mapping: MappingModel, *, once: bool) -> None:
    """Capture Marketo edits onto Kafka: cycles until SIGTERM/SIGINT (or one cycle).

    A signal lets the current page finish (published, acknowledged, checkpointed) first.
    """
    asyncio.run(_run_marketo_edits(settings, mapping, once=once))


async def _run_marketo_edits(settings: Settings, mapping: MappingModel, *, once: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, _on_signal, stop, signum)
        except (NotImplementedError, RuntimeError):  # not the main thread, or not POSIX
            continue
        handled.append(signum)
    capture = MarketoEditCapture.from_settings(settings, mapping)
    try:
        if once:
            await capture.run_once(stop)
        else:
            await capture.run(stop)
    finally:
        await capture.close()
        for signum in handled:
            loop.remove_signal_handler(signum)
    log.info("marketo edit capture: %s", capture.stats)


def _on_signal(stop: asyncio.Event, signum: signal.Signals) -> None:
    log.info("received %s: stopping after the current page", signum.name)
    stop.set()

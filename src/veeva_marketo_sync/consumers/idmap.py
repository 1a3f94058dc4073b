"""The id map: Veeva Id -> Marketo id on the compacted ``vmsync.idmap`` topic.

Key and value are UTF-8 strings (the Veeva Id; the Marketo lead id or custom object
``marketoGUID``), readable by any consumer. A deleted record gets a tombstone, so compaction
forgets it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from contextlib import aclosing

from aiokafka import AIOKafkaProducer

from ..settings import KafkaSettings
from .reading import read_to_end


class IdMap(Mapping[str, str]):
    """The id map in memory, kept in step with the topic by :meth:`publish`.

    Args:
        producer: A started aiokafka producer, or None for a read-only map.
        topic: The id map topic (``Topics.idmap``).
        initial: Entries loaded from the topic (see :func:`load_id_map`).
    """

    def __init__(
        self,
        producer: AIOKafkaProducer | None,
        topic: str,
        initial: Mapping[str, str] | None = None,
    ) -> None:
        self._producer = producer
        self.topic = topic
        self._ids: dict[str, str] = dict(initial or {})

    def __getitem__(self, veeva_id: str) -> str:
        return self._ids[veeva_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    async def publish(
        self,
        written: Iterable[tuple[str, str | None]],
        deleted: Iterable[str] = (),
    ) -> int:
        """Publish new mappings and tombstones, wait for the acks, then update the map.

        Args:
            written: (Veeva Id, Marketo id) pairs; pairs without a Marketo id are skipped,
                and so are mappings the map already holds.
            deleted: Veeva Ids whose Marketo record is gone.

        Returns:
            How many records were produced.

        Raises:
            RuntimeError: The map was built without a producer.
        """
        changes: dict[str, str | None] = {}
        for veeva_id, marketo_id in written:
            if marketo_id is not None:
                changes[veeva_id] = marketo_id
        for veeva_id in deleted:
            changes[veeva_id] = None
        changes = {
            key: value
            for key, value in changes.items()
            if value is None or self._ids.get(key) != value
        }
        if not changes:
            return 0
        if self._producer is None:
            msg = "this id map is read-only (no producer)"
            raise RuntimeError(msg)
        futures = [
            await self._producer.send(
                self.topic,
                key=key.encode(),
                value=None if value is None else value.encode(),
            )
            for key, value in changes.items()
        ]
        await asyncio.gather(*futures)
        for key, value in changes.items():
            if value is None:
                self._ids.pop(key, None)
            else:
                self._ids[key] = value
        return len(futures)


async def load_id_map(settings: KafkaSettings, topic: str) -> dict[str, str]:
    """Read the id map topic from the beginning: the latest Marketo id per Veeva Id."""
    ids: dict[str, str] = {}
    async with aclosing(read_to_end(settings, topic)) as records:
        async for record in records:
            if record.key is None:
                continue
            key = bytes(record.key).decode()
            if record.value is None:
                ids.pop(key, None)
            else:
                ids[key] = bytes(record.value).decode()
    return ids

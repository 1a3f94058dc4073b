"""The id map publishes only changes, tombstones deletes, and updates itself after the acks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from veeva_marketo_sync.consumers.idmap import IdMap


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []

    async def send(self, topic: str, *, key: bytes, value: bytes | None) -> asyncio.Future[Any]:
        self.sent.append((topic, key, value))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_publish_sends_changes_and_tombstones() -> None:
    producer = RecordingProducer()
    ids = IdMap(producer, "vmsync.idmap", {"A": "1", "B": "2"})  # type: ignore[arg-type]
    sent = await ids.publish(written=[("A", "1"), ("C", "3"), ("D", None)], deleted=["B"])
    assert sent == 2
    assert producer.sent == [
        ("vmsync.idmap", b"C", b"3"),
        ("vmsync.idmap", b"B", None),
    ]
    assert dict(ids) == {"A": "1", "C": "3"}


async def test_nothing_to_publish_sends_nothing() -> None:
    producer = RecordingProducer()
    ids = IdMap(producer, "vmsync.idmap", {"A": "1"})  # type: ignore[arg-type]
    assert await ids.publish(written=[("A", "1")]) == 0
    assert producer.sent == []


async def test_a_read_only_map_refuses_to_publish() -> None:
    ids = IdMap(None, "vmsync.idmap")
    with pytest.raises(RuntimeError, match="read-only"):
        await ids.publish(written=[("A", "1")])

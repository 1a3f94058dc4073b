"""Helpers of the edge components' end-to-end tests: settings, topics, reading, polling."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest
from devstack import Emulators, write_config

from veeva_marketo_sync.clients.kafka import create_topics
from veeva_marketo_sync.consumers.reading import read_to_end
from veeva_marketo_sync.settings import Settings, load_settings
from veeva_marketo_sync.topics import Topics


async def eventually(
    check: Callable[[], Any | Awaitable[Any]], *, within: float = 60.0, what: str = ""
) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy, or fail."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what or check}")
        await asyncio.sleep(0.1)


async def deployment(tmp_path: Path, emulators: Emulators, bootstrap: str) -> Settings:
    """Settings pointing at the emulators, with every topic of a fresh prefix created."""
    settings = load_settings(write_config(tmp_path / "vmsync.yaml", emulators, bootstrap))
    topics = Topics(settings.kafka.topic_prefix)
    specs = topics.specs(settings.sync.objects, ("leads",))
    await asyncio.to_thread(create_topics, settings.kafka, specs)
    return settings


async def read_all(settings: Settings, topic: str) -> list[Any]:
    """Every record of ``topic``, in order per partition."""
    async with aclosing(read_to_end(settings.kafka, topic)) as records:
        return [record async for record in records]

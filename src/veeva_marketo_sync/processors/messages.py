"""Kafka records in and out of the processors, and dead letters (pure).

A dead letter keeps the original key and value bytes and says where it came from and why in
Kafka Connect-style headers, the same layout the writers use, so one tool lists and re-drives
both.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from veeva_marketo_sync.dead_letter_headers import context_headers

CONNECTOR: Final = "vmsync-processor"

Headers = tuple[tuple[str, bytes], ...]


class Stage:
    """Where in the processor an event failed (the ``stage`` header)."""

    DECODE: Final = "decode"
    MAP: Final = "map"
    TRUST: Final = "trust"
    ENCODE: Final = "encode"


@dataclass(frozen=True)
class Incoming:
    """One consumed Kafka record, as the pure handlers see it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()

    @property
    def ref(self) -> str:
        """``topic/partition/offset``: where the event is, for ``source_event_ids``."""
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def is_tombstone(self) -> bool:
        """True for a null value (a compaction tombstone after a delete)."""
        return not self.value

    def key_text(self) -> str | None:
        """The key as text (Veeva Ids are ASCII), or ``None`` if absent or not UTF-8."""
        if not self.key:
            return None
        try:
            return self.key.decode("utf-8")
        except UnicodeDecodeError:
            return None


@dataclass(frozen=True)
class Outgoing:
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


def dead_letter(
    incoming: Incoming,
    dlq_topic: str,
    *,
    stage: str,
    error_class: str,
    message: str,
    failed_at: datetime,
) -> Outgoing:
    """The dead letter of an event: its original bytes plus Connect-style context headers.

    Args:
        incoming: The event that failed.
        dlq_topic: The dead-letter topic (``Topics.dlq``).
        stage: Where it failed (:class:`Stage`).
        error_class: The error's class name.
        message: Why, for the operator.
        failed_at: When.

    Returns:
        The record to produce to ``dlq_topic``.
    """
    headers = context_headers(
        incoming.headers,
        topic=incoming.topic,
        partition=incoming.partition,
        offset=incoming.offset,
        stage=stage,
        error_class=error_class,
        message=message,
        connector=CONNECTOR,
        failed_at=failed_at,
    )
    return Outgoing(dlq_topic, incoming.key, incoming.value, tuple(headers))


def hold(message: Outgoing) -> dict[str, object]:
    """``message`` as a JSON-safe table value, to be produced later by :func:`release`."""
    return {
        "topic": message.topic,
        "key": _b64(message.key),
        "value": _b64(message.value),
        "headers": [[name, _b64(value)] for name, value in message.headers],
    }


def release(held: dict[str, object]) -> Outgoing:
    """The message :func:`hold` kept."""
    headers = held.get("headers")
    if not isinstance(headers, list):
        headers = []
    return Outgoing(
        topic=str(held["topic"]),
        key=_unb64(held.get("key")),
        value=_unb64(held.get("value")),
        headers=tuple((str(name), _unb64(value) or b"") for name, value in headers),
    )


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes | None:
    return None if text is None else base64.b64decode(str(text))

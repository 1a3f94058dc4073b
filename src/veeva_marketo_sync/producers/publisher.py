"""Send to Kafka and confirm: nothing counts as published until the broker acknowledged it."""

from __future__ import annotations

from typing import Any, Protocol

from kafka.errors import KafkaError

from ..errors import TransientError


class KafkaSender(Protocol):
    """The part of `kafka.KafkaProducer` a publisher uses."""

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> Any:
        """Queue one record; returns a future of its metadata."""
        ...

    def flush(self, timeout: float | None = None) -> None:
        """Block until every queued record is acknowledged or failed."""
        ...


class Publisher:
    """Queues records and confirms them all at once (the producer is idempotent, acks=all).

    Args:
        producer: A `KafkaProducer` from `clients.kafka.make_producer`.
        timeout_seconds: How long `confirm` waits for acknowledgements.
    """

    def __init__(self, producer: KafkaSender, *, timeout_seconds: float = 120.0) -> None:
        self._producer = producer
        self._timeout = timeout_seconds
        self._pending: list[Any] = []

    def send(self, topic: str, key: bytes, value: bytes | None) -> None:
        """Queue one record; a None value is a tombstone."""
        self._pending.append(self._producer.send(topic, key=key, value=value))

    def confirm(self) -> int:
        """Wait until every queued record is acknowledged; return how many were.

        Raises:
            TransientError: A record was not acknowledged; nothing after it may be checkpointed.
        """
        pending, self._pending = self._pending, []
        try:
            self._producer.flush(timeout=self._timeout)
            for future in pending:
                future.get(timeout=self._timeout)
        except KafkaError as exc:
            msg = f"Kafka did not acknowledge {len(pending)} records: {exc!r}"
            raise TransientError(msg, hint="retry; nothing was checkpointed") from exc
        return len(pending)

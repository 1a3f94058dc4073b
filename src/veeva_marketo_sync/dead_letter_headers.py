"""The dead-letter header vocabulary, shared by every component that dead-letters a record.

Dead letters keep the original key, value and headers and add Kafka Connect-style context
headers, so any Connect-aware tool can read them and ``vmsync dlq`` can list and re-drive them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

HEADER_PREFIX: Final = "__connect.errors."
H_TOPIC: Final = HEADER_PREFIX + "topic"
H_PARTITION: Final = HEADER_PREFIX + "partition"
H_OFFSET: Final = HEADER_PREFIX + "offset"
H_STAGE: Final = HEADER_PREFIX + "stage"
H_CLASS: Final = HEADER_PREFIX + "exception.class.name"
H_MESSAGE: Final = HEADER_PREFIX + "exception.message"
H_CONNECTOR: Final = HEADER_PREFIX + "connector.name"
H_FAILED_AT: Final = "__vmsync.errors.failed_at"
"""Epoch milliseconds when the record was dead-lettered (not a Connect header)."""
H_REDRIVEN_FROM: Final = "__vmsync.redriven.from"
"""On a re-driven record: ``<dlq topic>/<partition>/<offset>`` of the dead letter it came from."""

MAX_MESSAGE_CHARS: Final = 2000


def context_headers(
    original: Iterable[tuple[str, bytes]],
    *,
    topic: str,
    partition: int,
    offset: int,
    stage: str,
    error_class: str,
    message: str,
    connector: str,
    failed_at: datetime,
) -> list[tuple[str, bytes]]:
    """The original record's headers followed by the context of its failure."""
    context = [
        (H_TOPIC, topic),
        (H_PARTITION, str(partition)),
        (H_OFFSET, str(offset)),
        (H_STAGE, stage),
        (H_CLASS, error_class),
        (H_MESSAGE, message[:MAX_MESSAGE_CHARS]),
        (H_CONNECTOR, connector),
        (H_FAILED_AT, str(int(failed_at.timestamp() * 1000))),
    ]
    return [*original, *((name, text.encode("utf-8")) for name, text in context)]

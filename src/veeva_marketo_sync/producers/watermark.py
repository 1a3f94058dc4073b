"""Watermarks of change capture: the `(SystemModstamp, Id)` keyset position, overlap, dedupe.

Pure rules. A cycle of changes re-reads from the watermark minus a safety overlap, so a record
committed late (its SystemModstamp lies before rows already read) or sharing a timestamp with
the last row of a page is read again rather than missed: duplicates are harmless, gaps are bugs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_sf_datetime(value: object) -> datetime:
    """Return an aware UTC datetime from a Salesforce datetime value.

    Accepts the REST form `2024-05-01T10:00:00.000+0000`, the Bulk CSV form ending in `Z`, an
    ISO string with a colon in the offset, or a `datetime` (naive ones are taken as UTC).

    Raises:
        ValueError: The value is not a datetime.
    """
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not isinstance(value, str) or not value:
        msg = f"not a Salesforce datetime: {value!r}"
        raise ValueError(msg)
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def to_millis(moment: datetime) -> datetime:
    """Drop sub-millisecond precision (Avro `timestamp-millis` keeps no more)."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True, order=True)
class Watermark:
    """A keyset position: the `(SystemModstamp, Id)` of the last record read.

    An empty `last_id` means "before every record of that instant".
    """

    modstamp: datetime
    last_id: str = ""


def record_position(record: Mapping[str, Any]) -> Watermark:
    """Return the keyset position of a Salesforce record (needs `SystemModstamp` and `Id`).

    Raises:
        ValueError: The record lacks either field.
    """
    record_id = record.get("Id")
    if not isinstance(record_id, str) or not record_id:
        msg = f"record without an Id: {sorted(record)}"
        raise ValueError(msg)
    return Watermark(to_millis(parse_sf_datetime(record.get("SystemModstamp"))), record_id)


def cycle_start(watermark: Watermark, overlap: timedelta) -> Watermark:
    """Where a cycle of changes starts reading: `overlap` before the watermark, every Id."""
    start = watermark.modstamp - overlap
    return Watermark(max(start, EPOCH), "")


def advance(watermark: Watermark, last_read: Watermark | None) -> Watermark:
    """The watermark after reading up to `last_read`; it never moves backwards in time.

    A cycle re-reads the overlap, so its last record may lie before the watermark it started
    from; then the watermark stays where it was.
    """
    if last_read is None or last_read.modstamp < watermark.modstamp:
        return watermark
    return last_read


def window_start(now: datetime, days: int | None) -> datetime | None:
    """The first CreatedDate inside a window of `days` ending `now` (None: no window)."""
    return None if days is None else to_millis(now - timedelta(days=days))


@dataclass
class Deduper:
    """Drops record versions already published, keyed by `(Id, SystemModstamp)`.

    Only keys inside the overlap matter (older ones are never read again), so `forget_before`
    keeps the memory bounded by what one overlap holds.
    """

    _seen: dict[tuple[str, datetime], None] = field(default_factory=dict)

    def fresh(self, records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Return the records whose version is new, remembering them."""
        out: list[Mapping[str, Any]] = []
        for record in records:
            position = record_position(record)
            key = (position.last_id, position.modstamp)
            if key in self._seen:
                continue
            self._seen[key] = None
            out.append(record)
        return out

    def forget_before(self, moment: datetime) -> None:
        """Forget versions older than `moment` (they lie before the next cycle's start)."""
        self._seen = {key: None for key in self._seen if key[1] >= moment}

    def __len__(self) -> int:
        return len(self._seen)

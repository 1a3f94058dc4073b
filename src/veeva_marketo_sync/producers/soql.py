"""SOQL of change capture, built from a query scope (pure).

* Snapshot chunks walk the object in Id order: `… AND Id > 'cursor' ORDER BY Id LIMIT n`, so a
  restart continues after the last acknowledged Id.
* Change pages walk `(SystemModstamp, Id)` in keyset order: the first page of a cycle takes
  `SystemModstamp >= start`, every next page `(SystemModstamp > m OR (SystemModstamp = m AND
  Id > 'id'))`, so rows sharing a timestamp across a page boundary are all read once.

Datetimes are unquoted literals (`2024-05-01T00:00:00Z`), with milliseconds only when non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from .watermark import Watermark

MODSTAMP = "SystemModstamp"


def soql_datetime(moment: datetime) -> str:
    """Render a datetime as a SOQL literal in UTC, e.g. `2024-05-01T10:00:00.250Z`.

    Raises:
        ValueError: The datetime is naive (its zone would be a guess).
    """
    if moment.tzinfo is None:
        msg = f"naive datetime {moment!r} in SOQL; use an aware UTC datetime"
        raise ValueError(msg)
    utc = moment.astimezone(UTC)
    millis = utc.microsecond // 1000
    base = utc.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{millis:03d}Z" if millis else f"{base}Z"


def soql_string(value: str) -> str:
    """Quote a string literal, escaping backslashes and quotes."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


@dataclass(frozen=True)
class QueryScope:
    """What every query of one object shares: fields, filter and window.

    Attributes:
        object_name: The sObject, e.g. `Account`.
        fields: SELECT list (visible fields only), `Id` and `SystemModstamp` included.
        where: The configured filter, used as written inside parentheses.
        window_field: Field of the time window (e.g. `CreatedDate`), or None.
        window_start: First instant inside the window, or None for no window.
    """

    object_name: str
    fields: tuple[str, ...]
    where: str | None = None
    window_field: str | None = None
    window_start: datetime | None = None

    def conditions(self) -> list[str]:
        """The scope's own conditions (filter and window), each ready to be AND-ed."""
        parts: list[str] = []
        if self.where and self.where.strip():
            parts.append(f"({self.where.strip()})")
        if self.window_field and self.window_start is not None:
            parts.append(f"{self.window_field} >= {soql_datetime(self.window_start)}")
        return parts


def _where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def count_from_where(scope: QueryScope) -> str:
    """The `FROM … WHERE …` part for `COUNT()` over the scope."""
    return f"FROM {scope.object_name}{_where(scope.conditions())}"


def snapshot_query(scope: QueryScope, *, after_id: str | None, limit: int) -> str:
    """One snapshot chunk: up to `limit` records after `after_id` (None: from the start).

    Raises:
        ValueError: `limit` is not positive.
    """
    _check_limit(limit)
    conditions = scope.conditions()
    if after_id:
        conditions.append(f"Id > {soql_string(after_id)}")
    return (
        f"SELECT {', '.join(scope.fields)} FROM {scope.object_name}{_where(conditions)} "
        f"ORDER BY Id LIMIT {limit}"
    )


def keyset_condition(after: Watermark) -> str:
    """Records strictly after `after` in `(SystemModstamp, Id)` order (all Ids if no Id)."""
    stamp = soql_datetime(after.modstamp)
    if not after.last_id:
        return f"{MODSTAMP} >= {stamp}"
    return f"({MODSTAMP} > {stamp} OR ({MODSTAMP} = {stamp} AND Id > {soql_string(after.last_id)}))"


def changes_query(scope: QueryScope, *, after: Watermark, limit: int) -> str:
    """One page of changes after `after`, in keyset order (run through queryAll for deletes).

    Raises:
        ValueError: `limit` is not positive.
    """
    _check_limit(limit)
    conditions = [*scope.conditions(), keyset_condition(after)]
    return (
        f"SELECT {', '.join(scope.fields)} FROM {scope.object_name}{_where(conditions)} "
        f"ORDER BY {MODSTAMP}, Id LIMIT {limit}"
    )


def _check_limit(limit: int) -> None:
    if limit < 1:
        msg = f"LIMIT must be positive, got {limit}"
        raise ValueError(msg)

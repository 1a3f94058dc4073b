"""An in-memory `VeevaApi` that stores records and answers the SOQL capture builds.

Queries are parsed with the Veeva emulator's SOQL parser (tests may import the emulators) and
evaluated over plain dicts, so the fake answers exactly the text the product sends: keyset
conditions, filters, ORDER BY, LIMIT, queryAll versus query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from veeva_marketo_sync.clients.ports import SfDescribe, SfField, SfRecord, WriteResult
from veeva_marketo_sync.emulators.veeva import soql as ast
from veeva_marketo_sync.errors import TransientError
from veeva_marketo_sync.producers.watermark import parse_sf_datetime

DEFAULT_TYPES = {
    "Id": "id",
    "SystemModstamp": "datetime",
    "CreatedDate": "datetime",
    "LastModifiedById": "reference",
    "IsDeleted": "boolean",
    "OwnerId": "reference",
}


class InjectedFailureError(TransientError):
    """Raised by the fake when told to fail after some pages."""


@dataclass
class Call:
    """One call the fake answered."""

    method: str
    soql: str
    include_deleted: bool = False


@dataclass
class FakeVeeva:
    """Records per object; describe from declared field types; a log of every call."""

    org_id: str = "00D000000000001AAA"
    user_id: str = "005000000000001AAA"
    tables: dict[str, dict[str, SfRecord]] = field(default_factory=dict)
    types: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    fail_after_pages: int | None = None
    pages_served: int = 0

    # -- setup -------------------------------------------------------------------------------

    def define(self, object_name: str, fields: dict[str, str]) -> None:
        """Declare an object with `fields` (name → describe type) besides the system fields."""
        self.types[object_name] = {**DEFAULT_TYPES, **fields}
        self.tables.setdefault(object_name, {})

    def put(self, object_name: str, record: SfRecord) -> None:
        """Insert or replace a record (it must carry Id and SystemModstamp)."""
        self.tables[object_name][record["Id"]] = {"IsDeleted": False, **record}

    def delete(self, object_name: str, record_id: str, modstamp: str) -> None:
        """Soft-delete a record (queryAll still sees it)."""
        row = self.tables[object_name][record_id]
        row.update(IsDeleted=True, SystemModstamp=modstamp)

    # -- VeevaApi ----------------------------------------------------------------------------

    @property
    def calls_made(self) -> int:
        return len(self.calls)

    def describe(self, object_name: str) -> SfDescribe:
        self.calls.append(Call("describe", object_name))
        fields = []
        raw_fields = []
        for name, sf_type in self.types[object_name].items():
            fields.append(SfField(name=name, type=sf_type))
            entry: dict[str, Any] = {"name": name, "type": sf_type}
            if sf_type == "reference":
                entry["relationshipName"] = (
                    name[:-3] + "__r" if name.endswith("__c") else name.removesuffix("Id")
                )
                entry["referenceTo"] = []
            raw_fields.append(entry)
        return SfDescribe(object_name, tuple(fields), {"name": object_name, "fields": raw_fields})

    def count(self, soql_from_where: str) -> int:
        soql = "SELECT COUNT() " + soql_from_where
        self.calls.append(Call("count", soql))
        return len(self._select(ast.parse(soql), include_deleted=False))

    def query_pages(
        self, soql: str, *, include_deleted: bool = False, batch_size: int = 2000
    ) -> Iterator[list[SfRecord]]:
        self.calls.append(Call("query", soql, include_deleted))
        return self._pages(soql, include_deleted, batch_size)

    def bulk_query_pages(self, soql: str, *, max_records: int = 50_000) -> Iterator[list[SfRecord]]:
        self.calls.append(Call("bulk", soql))
        return self._pages(soql, False, max_records)

    def update_records(self, object_name: str, records: Sequence[SfRecord]) -> list[WriteResult]:
        raise NotImplementedError

    # -- evaluation --------------------------------------------------------------------------

    def _pages(self, soql: str, include_deleted: bool, size: int) -> Iterator[list[SfRecord]]:
        query = ast.parse(soql)
        rows = self._select(query, include_deleted=include_deleted)
        names = [item.text for item in query.select if isinstance(item, ast.FieldRef)]
        projected = [{name: row.get(name) for name in names} for row in rows]
        for start in range(0, len(projected), size):
            if self.fail_after_pages is not None and self.pages_served >= self.fail_after_pages:
                msg = f"injected failure after {self.pages_served} pages"
                raise InjectedFailureError(msg)
            self.pages_served += 1
            yield projected[start : start + size]

    def _select(self, query: ast.Query, *, include_deleted: bool) -> list[SfRecord]:
        rows = [
            row
            for row in self.tables[query.sobject].values()
            if (include_deleted or not row.get("IsDeleted"))
            and (query.where is None or _holds(query.where, row))
        ]
        for item in reversed(query.order_by):
            name = item.field.text

            def key(row: SfRecord, name: str = name) -> tuple[int, Any]:
                return _sort_key(row.get(name))

            rows.sort(key=key, reverse=item.descending)
        return rows[: query.limit] if query.limit is not None else rows


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        return (1, parse_sf_datetime(value))
    return (1, value)


def _holds(condition: ast.Condition, row: SfRecord) -> bool:
    if isinstance(condition, ast.BoolOp):
        results = (_holds(item, row) for item in condition.items)
        return all(results) if condition.op == "and" else any(results)
    if isinstance(condition, ast.Not):
        return not _holds(condition.item, row)
    if isinstance(condition, ast.InList):
        value = row.get(condition.field.text)
        found = any(value == v.value for v in condition.values)
        return found != condition.negated
    return _compare(row.get(condition.field.text), condition.op, condition.value)


def _compare(actual: Any, op: str, literal: ast.Value) -> bool:
    expected = literal.value
    if literal.kind == "datetime" and actual is not None:
        actual = parse_sf_datetime(actual)
    elif literal.kind == "date" and isinstance(actual, str):
        actual = dt.date.fromisoformat(actual[:10])
    if op == "=":
        return bool(actual == expected)
    if op == "!=":
        return bool(actual != expected)
    if actual is None or expected is None:
        return False
    outcome: bool = {
        "<": actual < expected,
        "<=": actual <= expected,
        ">": actual > expected,
        ">=": actual >= expected,
    }[op]
    return outcome

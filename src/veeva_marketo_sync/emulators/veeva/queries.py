"""Running SOQL against the store: first pages, query locators and ``nextRecordsUrl``."""

from __future__ import annotations

import secrets
import sqlite3
import time
from typing import Any

from veeva_marketo_sync.emulators.veeva.errors import ApiError, malformed_query
from veeva_marketo_sync.emulators.veeva.soql import parse
from veeva_marketo_sync.emulators.veeva.sqlgen import CompiledQuery, compile_query, shape_record
from veeva_marketo_sync.emulators.veeva.store import DB_NAME, Locator, Store

DEFAULT_BATCH = 2000
MIN_BATCH = 200


def batch_size_from_header(header: str | None) -> int:
    """Read ``Sforce-Query-Options: batchSize=N`` (clamped to 200..2000)."""
    if not header:
        return DEFAULT_BATCH
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(MIN_BATCH, min(DEFAULT_BATCH, int(value.strip())))
    return DEFAULT_BATCH


def compile_soql(store: Store, soql: str, *, include_deleted: bool) -> CompiledQuery:
    """Parse and compile ``soql`` with the integration user's field visibility."""
    if not soql or not soql.strip():
        raise malformed_query("Missing query")
    return compile_query(parse(soql), store.hidden, include_deleted=include_deleted)


def _page(records: list[dict[str, Any]], total: int, next_url: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"totalSize": total, "done": next_url is None}
    if next_url is not None:
        body["nextRecordsUrl"] = next_url
    body["records"] = records
    return body


def _aggregate(store: Store, compiled: CompiledQuery) -> dict[str, Any]:
    with store.lock:
        (total,) = store.conn.execute(compiled.count_sql, compiled.count_params).fetchone()
    agg = compiled.aggregate
    assert agg is not None  # noqa: S101 - caller checked
    if agg.field is None:
        return {"totalSize": int(total), "done": True, "records": []}
    record = {"attributes": {"type": "AggregateResult"}, agg.alias or "expr0": int(total)}
    return {"totalSize": 1, "done": True, "records": [record]}


def _open_cursor(
    store: Store, sql: str, params: list[Any]
) -> tuple[sqlite3.Connection, sqlite3.Cursor]:
    conn = sqlite3.connect(store.state_dir / DB_NAME, check_same_thread=False)
    try:
        cursor = conn.execute(sql, params)
    except sqlite3.Error:
        conn.close()
        raise
    return conn, cursor


def _expire_locators(store: Store) -> None:
    now = time.monotonic()
    with store.lock:
        stale = [
            k for k, v in store.locators.items() if now - v.last_used > store.LOCATOR_IDLE_SECONDS
        ]
        while len(store.locators) - len(stale) >= store.MAX_LOCATORS:
            oldest = min(
                (k for k in store.locators if k not in stale),
                key=lambda k: store.locators[k].last_used,
            )
            stale.append(oldest)
        for key in stale:
            store.locators.pop(key).conn.close()


def run_query(
    store: Store, soql: str, *, include_deleted: bool, batch_size: int, version: str
) -> dict[str, Any]:
    """Answer ``/query`` or ``/queryAll``: the first batch and, when more, a locator."""
    compiled = compile_soql(store, soql, include_deleted=include_deleted)
    if compiled.aggregate is not None:
        return _aggregate(store, compiled)
    with store.lock:
        (total,) = store.conn.execute(compiled.count_sql, compiled.count_params).fetchone()
    conn, cursor = _open_cursor(store, compiled.sql, compiled.params)
    rows = cursor.fetchmany(batch_size)
    records = [shape_record(compiled, row, version) for row in rows]
    if len(rows) < batch_size or len(rows) >= total:
        conn.close()
        return _page(records, int(total), None)
    _expire_locators(store)
    locator_id = "01g" + secrets.token_hex(8)[:15]
    with store.lock:
        store.locators[locator_id] = Locator(
            conn=conn,
            cursor=cursor,
            sql=compiled.sql,
            params=compiled.params,
            position=len(rows),
            total=int(total),
            include_deleted=include_deleted,
            compiled=compiled,
        )
    return _page(records, int(total), f"/services/data/v{version}/query/{locator_id}-{len(rows)}")


def query_more(store: Store, locator_text: str, *, batch_size: int, version: str) -> dict[str, Any]:
    """Answer ``/query/<locator>-<offset>``, continuing from the stored cursor."""
    locator_id, _, offset_text = locator_text.partition("-")
    with store.lock:
        loc = store.locators.get(locator_id)
    if loc is None or not offset_text.isdigit():
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    offset = int(offset_text)
    with loc.lock:
        loc.last_used = time.monotonic()
        if offset != loc.position:
            # A retried or skipped page: reposition by re-running the query from the offset.
            loc.cursor.close()
            loc.cursor = loc.conn.execute(
                f"SELECT * FROM ({loc.sql}) LIMIT -1 OFFSET ?", [*loc.params, offset]
            )
            loc.position = offset
        rows = loc.cursor.fetchmany(batch_size)
        loc.position += len(rows)
        records = [shape_record(loc.compiled, row, version) for row in rows]
        done = len(rows) < batch_size or loc.position >= loc.total
        position = loc.position
    if done:
        with store.lock:
            gone = store.locators.pop(locator_id, None)
        if gone is not None:
            gone.conn.close()
        return _page(records, loc.total, None)
    return _page(records, loc.total, f"/services/data/v{version}/query/{locator_id}-{position}")

"""Bulk API 2.0 query jobs: create, status, CSV results with locators, abort, delete."""

from __future__ import annotations

import base64
import csv
import io
import secrets
from typing import Any

from starlette.responses import JSONResponse, Response

from veeva_marketo_sync.emulators.veeva.errors import ApiError, not_found
from veeva_marketo_sync.emulators.veeva.queries import compile_soql
from veeva_marketo_sync.emulators.veeva.soql import parse
from veeva_marketo_sync.emulators.veeva.sqlgen import CompiledQuery, format_datetime
from veeva_marketo_sync.emulators.veeva.store import Store, utc_now
from veeva_marketo_sync.emulators.veeva.web import Call

DEFAULT_MAX_RECORDS = 50_000
_DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
_COLUMNS = "id, operation, query, object, state, created_by, created_date, api_version, records"


def _load(store: Store, job_id: str) -> dict[str, Any]:
    with store.lock:
        row = store.conn.execute(
            f"SELECT {_COLUMNS} FROM _bulk_jobs WHERE id = ?", (job_id,)
        ).fetchone()
    if row is None:
        raise not_found("Job not found")
    return dict(zip([c.strip() for c in _COLUMNS.split(",")], row, strict=True))


def _info(job: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "id": job["id"],
        "operation": job["operation"],
        "object": job["object"],
        "createdById": job["created_by"],
        "createdDate": job["created_date"][:-1] + "+0000",
        "systemModstamp": job["created_date"][:-1] + "+0000",
        "state": job["state"],
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": float(job["api_version"]),
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    if job["state"] == "JobComplete":
        info.update(numberRecordsProcessed=job["records"], retries=0, totalProcessingTime=1)
    return info


def _compile(store: Store, job: dict[str, Any]) -> CompiledQuery:
    return compile_soql(store, job["query"], include_deleted=job["operation"] == "queryAll")


def create_job(call: Call) -> Response:
    """``POST /jobs/query``."""
    body = call.json_object()
    operation = body.get("operation")
    soql = body.get("query")
    if operation not in ("query", "queryAll") or not isinstance(soql, str):
        raise ApiError(400, "INVALIDJOB", "operation must be query or queryAll, with a query")
    if body.get("columnDelimiter", "COMMA") != "COMMA" or body.get("lineEnding", "LF") != "LF":
        raise ApiError(400, "INVALIDJOB", "the emulator supports COMMA and LF only")
    parsed = parse(soql)
    if parsed.is_count or parsed.offset is not None:
        raise ApiError(
            400, "API_ERROR", "Aggregate queries and OFFSET are not supported by Bulk API 2.0 query"
        )
    compile_soql(call.store, soql, include_deleted=operation == "queryAll")
    job = {
        "id": "750" + secrets.token_hex(8)[:15],
        "operation": operation,
        "query": soql,
        "object": parsed.sobject,
        "state": "UploadComplete",
        "created_by": call.user_id,
        "created_date": format_datetime(utc_now()),
        "api_version": call.version,
        "records": 0,
    }
    with call.store.transaction() as conn:
        conn.execute("INSERT INTO _bulk_jobs VALUES (?,?,?,?,?,?,?,?,?)", tuple(job.values()))
    return JSONResponse(_info(job))


def _complete(store: Store, job: dict[str, Any]) -> dict[str, Any]:
    if job["state"] in ("UploadComplete", "InProgress"):
        compiled = _compile(store, job)
        with store.transaction() as conn:
            (count,) = conn.execute(compiled.count_sql, compiled.count_params).fetchone()
            conn.execute(
                "UPDATE _bulk_jobs SET state = 'JobComplete', records = ? WHERE id = ?",
                (int(count), job["id"]),
            )
        job = {**job, "state": "JobComplete", "records": int(count)}
    return job


def job(call: Call) -> Response:
    """``GET`` (status), ``PATCH`` (abort) and ``DELETE /jobs/query/{id}``."""
    store = call.store
    current = _load(store, call.params["job_id"])
    method = call.request.method
    if method == "DELETE":
        with store.transaction() as conn:
            conn.execute("DELETE FROM _bulk_jobs WHERE id = ?", (current["id"],))
        return Response(status_code=204)
    if method == "PATCH":
        state = call.json_object().get("state")
        if state != "Aborted":
            raise ApiError(400, "INVALIDJOBSTATE", "only Aborted can be set on a query job")
        with store.transaction() as conn:
            conn.execute("UPDATE _bulk_jobs SET state = 'Aborted' WHERE id = ?", (current["id"],))
        return JSONResponse(_info({**current, "state": "Aborted"}))
    return JSONResponse(_info(_complete(store, current)))


def _csv_value(value: Any, ftype: str) -> str:
    if value is None:
        return ""
    if ftype == "boolean":
        return "true" if value else "false"
    return str(value)


def _encode_locator(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def _decode_locator(locator: str) -> int:
    try:
        padded = locator + "=" * (-len(locator) % 4)
        return int(base64.urlsafe_b64decode(padded.encode()).decode())
    except ValueError as exc:
        raise ApiError(400, "INVALIDLOCATOR", f"invalid locator: {locator}") from exc


def results(call: Call) -> Response:
    """``GET /jobs/query/{id}/results?maxRecords=&locator=``: CSV with locator headers."""
    store = call.store
    current = _load(store, call.params["job_id"])
    if current["state"] == "Aborted":
        raise ApiError(400, "INVALIDJOBSTATE", "job was aborted")
    current = _complete(store, current)
    if current["api_version"] != call.version:
        raise ApiError(409, "INVALIDJOBSTATE", "results must be read with the job's API version")
    max_text = call.query.get("maxRecords", str(DEFAULT_MAX_RECORDS))
    if not max_text.isdigit() or int(max_text) < 1:
        raise ApiError(400, "INVALIDPARAMETER", "maxRecords must be a positive integer")
    max_records = int(max_text)
    offset = _decode_locator(call.query["locator"]) if call.query.get("locator") else 0
    compiled = _compile(store, current)
    with store.lock:
        rows = store.conn.execute(
            f"SELECT * FROM ({compiled.sql}) LIMIT ? OFFSET ?",
            [*compiled.params, max_records, offset],
        ).fetchall()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow([".".join(c.path) for c in compiled.columns])
    for row in rows:
        writer.writerow([_csv_value(row[c.index], c.fdef.type) for c in compiled.columns])
    next_offset = offset + len(rows)
    more = len(rows) == max_records and next_offset < int(current["records"])
    headers = {
        "Sforce-NumberOfRecords": str(len(rows)),
        "Sforce-Locator": _encode_locator(next_offset) if more else "null",
    }
    return Response(buffer.getvalue(), media_type="text/csv; charset=UTF-8", headers=headers)

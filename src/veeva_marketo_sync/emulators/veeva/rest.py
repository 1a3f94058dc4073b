"""REST resources under ``/services/data/vXX.X/``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import JSONResponse, Response

from veeva_marketo_sync.emulators.veeva.describe import (
    describe_global,
    describe_object,
    object_metadata,
)
from veeva_marketo_sync.emulators.veeva.errors import ApiError, not_found
from veeva_marketo_sync.emulators.veeva.ids import to_18
from veeva_marketo_sync.emulators.veeva.queries import batch_size_from_header, query_more, run_query
from veeva_marketo_sync.emulators.veeva.schema import get_object
from veeva_marketo_sync.emulators.veeva.soql import parse_datetime
from veeva_marketo_sync.emulators.veeva.sqlgen import format_datetime, quote_ident, record_url
from veeva_marketo_sync.emulators.veeva.store import Store, utc_now
from veeva_marketo_sync.emulators.veeva.web import Call

API_VERSIONS = ("57.0", "58.0", "59.0", "60.0", "61.0", "62.0")
UPDATED_WINDOW_DAYS = 30
DELETED_WINDOW_DAYS = 15
MAX_REPLICATION_IDS = 600_000
MAX_COLLECTION = 200
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
    "using AllOrNone header",
    "fields": [],
}


def versions(_call: Call) -> Response:
    """``GET /services/data/``: the API versions this org speaks."""
    return JSONResponse(
        [{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v} for v in API_VERSIONS]
    )


def resources(call: Call) -> Response:
    """``GET /services/data/vXX.X/``: the resource directory."""
    base = f"/services/data/v{call.version}"
    names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
    return JSONResponse({n: f"{base}/{n}" for n in names})


def limits(call: Call) -> Response:
    """``GET /limits/``."""
    store = call.store
    return JSONResponse(
        {
            "DailyApiRequests": {
                "Max": store.api_limit,
                "Remaining": max(0, store.api_limit - store.api_used),
            },
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DataStorageMB": {"Max": 1073741824, "Remaining": 1073741824},
        }
    )


def _query(call: Call, *, include_deleted: bool) -> Response:
    batch = batch_size_from_header(call.request.headers.get("sforce-query-options"))
    locator = call.params.get("locator")
    if locator:
        return JSONResponse(query_more(call.store, locator, batch_size=batch, version=call.version))
    soql = call.query.get("q", "")
    return JSONResponse(
        run_query(
            call.store,
            soql,
            include_deleted=include_deleted,
            batch_size=batch,
            version=call.version,
        )
    )


def query(call: Call) -> Response:
    """``GET /query?q=`` and ``/query/<locator>``."""
    return _query(call, include_deleted=False)


def query_all(call: Call) -> Response:
    """``GET /queryAll?q=`` (includes soft-deleted rows)."""
    return _query(call, include_deleted=True)


def sobjects(call: Call) -> Response:
    """``GET /sobjects``."""
    return JSONResponse(describe_global(call.version))


def describe(call: Call) -> Response:
    """``GET /sobjects/{X}/describe``."""
    obj = call.store.object(call.params["sobject"])
    return JSONResponse(describe_object(call.store, obj, call.version))


def sobject_root(call: Call) -> Response:
    """``GET /sobjects/{X}/`` (metadata) and ``POST`` (create)."""
    store = call.store
    obj = store.object(call.params["sobject"])
    if call.request.method == "GET":
        return JSONResponse(object_metadata(obj, call.version))
    body = call.json_object()
    if any(k.lower() == "id" for k in body):
        raise ApiError(
            400,
            "INVALID_FIELD",
            "Unable to create/update fields: Id. Please check the security settings "
            "of this field and verify that it is read/write for your profile or "
            "permission set.",
            ["Id"],
        )
    record_id = store.create(obj.name, body, call.user_id)
    return JSONResponse({"id": record_id, "success": True, "errors": []}, status_code=201)


def sobject_record(call: Call) -> Response:
    """``GET``/``PATCH``/``DELETE /sobjects/{X}/{id}``."""
    store = call.store
    obj = store.object(call.params["sobject"])
    record_id = call.params["record_id"]
    method = call.request.method
    if method == "GET":
        fields_param = call.query.get("fields")
        fields = [f.strip() for f in fields_param.split(",")] if fields_param else None
        if fields is not None:
            for name in fields:
                fdef = obj.field(name)
                if fdef is None or fdef.name.lower() in store.hidden.get(obj.name.lower(), set()):
                    raise ApiError(
                        400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'."
                    )
        try:
            record = store.get(obj.name, record_id, fields=fields)
        except ApiError as err:
            if err.status == 404:
                raise not_found(
                    f"Provided external ID field does not exist or is not accessible: {record_id}"
                ) from err
            raise
        url = record_url(call.version, obj.name, to_18(record_id))
        return JSONResponse({"attributes": {"type": obj.name, "url": url}, **record})
    if method == "PATCH":
        store.update(obj.name, record_id, call.json_object(), call.user_id)
        return Response(status_code=204)
    store.set_deleted(obj.name, record_id, call.user_id, deleted=True)
    return Response(status_code=204)


def _replication_window(call: Call, days: int) -> tuple[dt.datetime, dt.datetime]:
    try:
        start = parse_datetime(call.query["start"].replace(" ", "+"))
        end = parse_datetime(call.query["end"].replace(" ", "+"))
    except KeyError as exc:
        raise ApiError(400, "MALFORMED_QUERY", f"Missing parameter: {exc.args[0]}") from exc
    except ApiError as exc:
        raise ApiError(400, "INVALID_REPLICATION_DATE", exc.message) from exc
    start = start.replace(second=0, microsecond=0)
    end = end.replace(second=0, microsecond=0)
    if start >= end:
        raise ApiError(
            400,
            "INVALID_REPLICATION_DATE",
            "startDate must chronologically precede endDate by more than one minute",
        )
    now = utc_now()
    if start < now - dt.timedelta(days=days):
        raise ApiError(
            400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than {days} days ago"
        )
    # Rows stamped in the current second may still gain siblings, so coverage stops before it.
    latest = min(end, now)
    return start, latest


def _out(stamp: dt.datetime) -> str:
    return format_datetime(stamp)[:-1] + "+0000"


def updated(call: Call) -> Response:
    """``GET /sobjects/{X}/updated/?start=&end=``."""
    store = call.store
    obj = store.object(call.params["sobject"])
    start, latest = _replication_window(call, UPDATED_WINDOW_DAYS)
    with store.lock:
        rows = store.conn.execute(
            f"SELECT Id FROM {quote_ident(obj.name)} WHERE SystemModstamp >= ? "
            "AND SystemModstamp < ? AND IsDeleted = 0 ORDER BY SystemModstamp, Id LIMIT ?",
            (format_datetime(start), format_datetime(latest), MAX_REPLICATION_IDS + 1),
        ).fetchall()
    if len(rows) > MAX_REPLICATION_IDS:
        raise ApiError(
            400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 600000 ids"
        )
    return JSONResponse({"ids": [r[0] for r in rows], "latestDateCovered": _out(latest)})


def deleted(call: Call) -> Response:
    """``GET /sobjects/{X}/deleted/?start=&end=``."""
    store = call.store
    obj = store.object(call.params["sobject"])
    start, latest = _replication_window(call, DELETED_WINDOW_DAYS)
    with store.lock:
        rows = store.conn.execute(
            f"SELECT Id, SystemModstamp FROM {quote_ident(obj.name)} WHERE IsDeleted = 1 "
            "AND SystemModstamp >= ? AND SystemModstamp < ? ORDER BY SystemModstamp, Id LIMIT ?",
            (format_datetime(start), format_datetime(latest), MAX_REPLICATION_IDS + 1),
        ).fetchall()
    if len(rows) > MAX_REPLICATION_IDS:
        raise ApiError(
            400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 600000 ids"
        )
    earliest = store.meta("created_date") or format_datetime(utc_now())
    return JSONResponse(
        {
            "deletedRecords": [
                {"id": rid, "deletedDate": stamp[:-1] + "+0000"} for rid, stamp in rows
            ],
            "earliestDateAvailable": earliest[:-4] + "000+0000",
            "latestDateCovered": _out(latest),
        }
    )


class _RolledBackError(Exception):
    """Raised inside the collection transaction to undo it (allOrNone)."""


def _record_type(record: dict[str, Any]) -> str:
    attributes = record.get("attributes")
    if not isinstance(attributes, dict) or not attributes.get("type"):
        raise ApiError(400, "INVALID_TYPE", "Must specify a type in attributes")
    name = str(attributes["type"])
    if get_object(name) is None:
        raise ApiError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return name


def _collection_item(store: Store, method: str, item: Any, user_id: str) -> dict[str, Any]:
    result: dict[str, Any] = {"success": True, "errors": []}
    try:
        with store.transaction():
            if method == "DELETE":
                record_id = str(item)
                result["id"] = record_id
                obj = store.object_for_id(record_id)
                if obj is None:
                    raise ApiError(400, "MALFORMED_ID", f"malformed id {record_id}")
                store.set_deleted(obj.name, record_id, user_id, deleted=True)
                return result
            if not isinstance(item, dict):
                raise ApiError(400, "JSON_PARSER_ERROR", "records must be objects")
            sobject = _record_type(item)
            if method == "POST":
                if any(k.lower() == "id" for k in item):
                    raise ApiError(
                        400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"]
                    )
                result["id"] = store.create(sobject, item, user_id)
                return result
            record_id = str(item.get("Id") or item.get("id") or "")
            if not record_id:
                raise ApiError(
                    400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"]
                )
            result["id"] = record_id
            store.update(
                sobject, record_id, {k: v for k, v in item.items() if k.lower() != "id"}, user_id
            )
    except ApiError as err:
        result["success"] = False
        result["errors"] = [err.record_error()]
    return result


def _collection_op(
    store: Store, method: str, items: list[Any], user_id: str, all_or_none: bool
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    written_before = store.records_written.copy()
    try:
        with store.transaction():
            results = [_collection_item(store, method, item, user_id) for item in items]
            if all_or_none and not all(r["success"] for r in results):
                raise _RolledBackError
    except _RolledBackError:
        store.records_written.clear()
        store.records_written.update(written_before)
        for result in results:
            if result["success"]:
                result["success"] = False
                result["errors"] = [dict(ROLLED_BACK)]
                if method == "POST":
                    result.pop("id", None)
    return results


def _flag(value: Any) -> bool:
    return str(value).lower() == "true" if not isinstance(value, bool) else value


def collections(call: Call) -> Response:
    """``/composite/sobjects``: POST create, PATCH update, DELETE ``?ids=`` (200 max)."""
    method = call.request.method
    if method == "DELETE":
        ids = [i for i in call.query.get("ids", "").split(",") if i]
        all_or_none = _flag(call.query.get("allOrNone", "false"))
        items: list[Any] = ids
    else:
        body = call.json_object()
        records = body.get("records")
        if not isinstance(records, list):
            raise ApiError(400, "JSON_PARSER_ERROR", "records must be a list")
        items = records
        all_or_none = _flag(body.get("allOrNone", False))
    if not items:
        raise ApiError(400, "INVALID_FIELD", "No records to process")
    if len(items) > MAX_COLLECTION:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
    return JSONResponse(_collection_op(call.store, method, items, call.user_id, all_or_none))


def not_found_route(_call: Call) -> Response:
    """Any other path under ``/services/data``."""
    raise not_found()

"""The loopback-only ``/__admin/`` API tests and demos use to drive the emulated org."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from veeva_marketo_sync.emulators.veeva.errors import ApiError
from veeva_marketo_sync.emulators.veeva.faults import Fault, Latency
from veeva_marketo_sync.emulators.veeva.seed import seed_connection
from veeva_marketo_sync.emulators.veeva.store import ValidationRule
from veeva_marketo_sync.emulators.veeva.web import Call


def _actor(call: Call, body: dict[str, Any] | None = None) -> str:
    name = (body or {}).get("as_user") or call.query.get("as_user")
    return call.store.user_id_for(str(name)) if name else call.store.person_user_id


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ApiError(400, "INVALID_PARAMETER", f"{name} must be a non-negative integer")
    return int(value)


def health(_call: Call) -> Response:
    """``GET /__admin/health``."""
    return JSONResponse({"ok": True})


def seed_data(call: Call) -> Response:
    """``POST /__admin/seed`` ``{"person_accounts": N, "seed": 7, ...}``."""
    body = call.json_object()
    options = {
        k: body[k]
        for k in (
            "business_accounts",
            "users",
            "calls_per_account",
            "key_messages",
            "inquiries_per_account",
        )
        if k in body
    }
    store = call.store
    with store.lock:
        report = seed_connection(
            store.conn,
            _int(body.get("person_accounts", 100), "person_accounts"),
            _int(body.get("seed", 7), "seed"),
            **options,
        )
    return JSONResponse(report.as_dict())


def records(call: Call) -> Response:
    """``GET /__admin/records/{X}`` (rows incl. deleted) and ``POST`` (create as a person)."""
    store = call.store
    sobject = call.params["sobject"]
    if call.request.method == "POST":
        body = call.json_object()
        fields = body.get("fields", body)
        record_id = store.create(
            sobject,
            {k: v for k, v in fields.items() if k != "as_user"},
            _actor(call, body),
            as_api=False,
            validate=bool(body.get("validate", False)),
        )
        return JSONResponse({"id": record_id}, status_code=201)
    limit = _int(call.query.get("limit", "1000"), "limit")
    offset = _int(call.query.get("offset", "0"), "offset")
    return JSONResponse(
        {**store.count(sobject), "records": store.dump(sobject, limit=limit, offset=offset)}
    )


def record(call: Call) -> Response:
    """``GET``/``PATCH``/``DELETE /__admin/records/{X}/{id}`` as a named person."""
    store = call.store
    sobject, record_id = call.params["sobject"], call.params["record_id"]
    method = call.request.method
    if method == "GET":
        return JSONResponse(store.get(sobject, record_id, as_api=False, include_deleted=True))
    if method == "PATCH":
        body = call.json_object()
        fields = body.get("fields", body)
        store.update(
            sobject,
            record_id,
            {k: v for k, v in fields.items() if k != "as_user"},
            _actor(call, body),
            as_api=False,
            validate=bool(body.get("validate", False)),
        )
        return JSONResponse(store.get(sobject, record_id, as_api=False))
    store.set_deleted(sobject, record_id, _actor(call), deleted=True)
    return Response(status_code=204)


def undelete(call: Call) -> Response:
    """``POST /__admin/records/{X}/{id}/undelete``."""
    store = call.store
    body = call.json() or {}
    store.set_deleted(
        call.params["sobject"], call.params["record_id"], _actor(call, body), deleted=False
    )
    return JSONResponse(store.get(call.params["sobject"], call.params["record_id"], as_api=False))


def counters(call: Call) -> Response:
    """``GET /__admin/counters``; ``DELETE`` resets them."""
    store = call.store
    if call.request.method == "DELETE":
        store.call_counts.clear()
        store.records_written.clear()
        return Response(status_code=204)
    return JSONResponse(
        {
            "calls": dict(store.call_counts),
            "records_written": dict(store.records_written),
            "api_usage": {"used": store.api_used, "limit": store.api_limit},
            "open_query_locators": len(store.locators),
        }
    )


def faults(call: Call) -> Response:
    """``POST /__admin/faults`` (add), ``GET`` (list), ``DELETE`` (clear faults and latency)."""
    book = call.emulator.faults
    method = call.request.method
    if method == "DELETE":
        book.clear()
        return Response(status_code=204)
    if method == "POST":
        body = call.json_object()
        book.add_fault(
            Fault(
                pattern=str(body.get("path", ".*")),
                status=_int(body.get("status", 503), "status"),
                error_code=str(body.get("error_code", "SERVER_UNAVAILABLE")),
                message=str(body.get("message", "Injected fault")),
                remaining=_int(body.get("count", 1), "count"),
                method=body.get("method"),
            )
        )
    return JSONResponse(
        {
            "faults": [vars(f) for f in book.faults],
            "latencies": [vars(lat) for lat in book.latencies],
        }
    )


def latency(call: Call) -> Response:
    """``POST /__admin/latency`` ``{"path": regex, "ms": 250}``."""
    body = call.json_object()
    call.emulator.faults.add_latency(
        Latency(str(body.get("path", ".*")), _int(body.get("ms", 0), "ms") / 1000.0)
    )
    return JSONResponse({"latencies": [vars(lat) for lat in call.emulator.faults.latencies]})


def sessions(call: Call) -> Response:
    """``POST /__admin/sessions/expire`` (all); ``PUT /__admin/sessions`` ``{"lifetime": s}``."""
    store = call.store
    if call.request.method == "PUT":
        store.session_lifetime = float(_int(call.json_object().get("lifetime"), "lifetime"))
        return JSONResponse({"lifetime": store.session_lifetime})
    return JSONResponse({"expired": store.expire_sessions()})


def hidden_fields(call: Call) -> Response:
    """``PUT /__admin/hidden-fields/{X}`` ``{"fields": [...]}``; ``GET /__admin/hidden-fields``."""
    store = call.store
    if call.request.method == "PUT":
        fields = call.json_object().get("fields", [])
        if not isinstance(fields, list):
            raise ApiError(400, "INVALID_PARAMETER", "fields must be a list")
        store.set_hidden_fields(call.params["sobject"], [str(f) for f in fields])
    return JSONResponse({k: sorted(v) for k, v in store.hidden.items()})


def validation_rules(call: Call) -> Response:
    """``POST /__admin/validation-rules`` (add), ``GET`` (list), ``DELETE`` (clear)."""
    store = call.store
    method = call.request.method
    if method == "DELETE":
        store.clear_validation_rules()
        return Response(status_code=204)
    if method == "POST":
        body = call.json_object()
        try:
            rule = ValidationRule(
                name=str(body.get("name", "Rule")),
                object=str(body["object"]),
                field=str(body["field"]),
                pattern=str(body["pattern"]),
                message=str(body.get("message", "Validation failed")),
            )
        except KeyError as exc:
            raise ApiError(400, "INVALID_PARAMETER", f"missing {exc.args[0]}") from exc
        store.add_validation_rule(rule)
    return JSONResponse([vars(r) for r in store.validation_rules()])


def api_limit(call: Call) -> Response:
    """``PUT /__admin/api-limit`` ``{"limit": N, "used": M}``."""
    body = call.json_object()
    used = body.get("used")
    call.store.set_api_limit(
        _int(body.get("limit"), "limit"), None if used is None else _int(used, "used")
    )
    return JSONResponse({"used": call.store.api_used, "limit": call.store.api_limit})


def credentials(call: Call) -> Response:
    """``PUT /__admin/credentials`` ``{"username", "password", "security_token"}``."""
    body = call.json_object()
    try:
        user_id = call.store.set_credentials(
            str(body["username"]), str(body["password"]), str(body.get("security_token", ""))
        )
    except KeyError as exc:
        raise ApiError(400, "INVALID_PARAMETER", f"missing {exc.args[0]}") from exc
    return JSONResponse({"user_id": user_id})


def oauth_clients(call: Call) -> Response:
    """``PUT /__admin/oauth-clients`` ``{"client_id", "client_secret", "username"?}``."""
    body = call.json_object()
    try:
        call.store.set_client(
            str(body["client_id"]), str(body["client_secret"]), body.get("username")
        )
    except KeyError as exc:
        raise ApiError(400, "INVALID_PARAMETER", f"missing {exc.args[0]}") from exc
    return JSONResponse({"client_id": body["client_id"]})


def info(call: Call) -> Response:
    """``GET /__admin/info``: ids of the integration and person users and record types."""
    store = call.store
    with store.lock:
        rts = dict(store.conn.execute('SELECT DeveloperName, Id FROM "RecordType"').fetchall())
    return JSONResponse(
        {
            "integration_user_id": store.integration_user_id,
            "person_user_id": store.person_user_id,
            "record_types": rts,
            "state_dir": str(store.state_dir),
        }
    )

"""Admin API under /__admin/ (loopback only, no auth): schema, people's edits, counters, faults."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veeva_marketo_sync.emulators.marketo import activity_log, custom_objects
from veeva_marketo_sync.emulators.marketo.activity_log import API_SOURCE, ChangeSource
from veeva_marketo_sync.emulators.marketo.errors import RecordError
from veeva_marketo_sync.emulators.marketo.fields import (
    DATA_TYPES,
    SYSTEM_LEAD_FIELDS,
    FieldDef,
    validate_name,
)
from veeva_marketo_sync.emulators.marketo.lead_writes import LeadWriter, coerce_record
from veeva_marketo_sync.emulators.marketo.state import EmulatorState

DEFAULT_LIST_LIMIT = 1000


class AdminError(Exception):
    """A bad admin request (HTTP 400/404 with `{"error": ...}`)."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.message = message
        self.status = status
        super().__init__(message)


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise AdminError(f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise AdminError("the body must be a JSON object")
    return body


def _limit(request: Request) -> int:
    try:
        return int(request.query_params.get("limit", DEFAULT_LIST_LIMIT))
    except ValueError as exc:
        raise AdminError("limit must be an integer") from exc


async def health(request: Request) -> Response:
    """`GET /__admin/health`: liveness plus the number of API calls in flight."""
    state = _state(request)
    return JSONResponse({"status": "ok", "service": "marketo", "in_flight": state.in_flight})


async def limits(request: Request) -> Response:
    """`GET|POST /__admin/limits`: read or change thresholds (rate, concurrency, quota, token)."""
    state = _state(request)
    if request.method == "POST":
        try:
            state.update_limits(await _body(request))
        except ValueError as exc:
            raise AdminError(str(exc)) from exc
    return JSONResponse(state.limits.as_json())


async def credentials(request: Request) -> Response:
    """`POST /__admin/credentials` `{client_id, client_secret, scope?}`."""
    body = await _body(request)
    client_id, secret = body.get("client_id"), body.get("client_secret")
    if not isinstance(client_id, str) or not isinstance(secret, str) or not client_id or not secret:
        raise AdminError("client_id and client_secret are required strings")
    scope = str(body.get("scope") or "apis@vmsync.example.com")
    _state(request).store.set_credentials(client_id, secret, scope)
    return JSONResponse({"client_id": client_id, "scope": scope})


async def remove_credentials(request: Request) -> Response:
    """`DELETE /__admin/credentials/{client_id}`."""
    _state(request).store.remove_credentials(request.path_params["client_id"])
    return JSONResponse({"removed": request.path_params["client_id"]})


async def expire_tokens(request: Request) -> Response:
    """`POST /__admin/tokens/expire`: every live token is expired now (next call gets 602)."""
    state = _state(request)
    return JSONResponse({"expired": state.store.expire_tokens(state.clock.timestamp())})


async def clock(request: Request) -> Response:
    """`GET|POST /__admin/clock` `{advance_seconds}`: move the emulated wall clock."""
    state = _state(request)
    if request.method == "POST":
        seconds = (await _body(request)).get("advance_seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise AdminError("advance_seconds must be a number")
        state.clock.advance(float(seconds))
    return JSONResponse({"now": state.now_text()})


async def lead_fields(request: Request) -> Response:
    """`GET|POST /__admin/lead-fields` `{name, dataType, length?, displayName?}`."""
    store = _state(request).store
    if request.method == "POST":
        body = await _body(request)
        try:
            name = validate_name(body.get("name"))
        except ValueError as exc:
            raise AdminError(str(exc)) from exc
        data_type = body.get("dataType", "string")
        if data_type not in DATA_TYPES:
            raise AdminError(f"dataType must be one of {sorted(DATA_TYPES)}")
        if name in SYSTEM_LEAD_FIELDS:
            raise AdminError(f"{name} is a system field")
        length = body.get("length")
        if length is not None and (not isinstance(length, int) or length < 1):
            raise AdminError("length must be a positive integer")
        store.add_lead_field(
            FieldDef(
                name=name,
                data_type=data_type,
                display_name=str(body.get("displayName") or name),
                length=length,
                custom=bool(body.get("custom", True)),
            )
        )
    return JSONResponse([f.as_json() for f in store.lead_fields().values()])


async def remove_lead_field(request: Request) -> Response:
    """`DELETE /__admin/lead-fields/{name}` (values stay stored but become invisible)."""
    name = request.path_params["name"]
    if name in SYSTEM_LEAD_FIELDS:
        raise AdminError(f"{name} is a system field")
    if not _state(request).store.remove_lead_field(name):
        raise AdminError(f"no lead field {name}", 404)
    return JSONResponse({"removed": name})


async def object_types(request: Request) -> Response:
    """`GET|POST /__admin/custom-objects` (see `custom_objects.define_type` for the spec)."""
    state = _state(request)
    if request.method == "POST":
        try:
            definition = custom_objects.define_type(await _body(request), state.now_text())
        except (ValueError, AttributeError, TypeError) as exc:
            raise AdminError(str(exc)) from exc
        state.store.put_co_type(definition["name"], definition)
    return JSONResponse(list(state.store.co_types().values()))


async def remove_object_type(request: Request) -> Response:
    """`DELETE /__admin/custom-objects/{name}` (its records go too)."""
    name = request.path_params["name"]
    if not _state(request).store.remove_co_type(name):
        raise AdminError(f"no custom object {name}", 404)
    return JSONResponse({"removed": name})


async def object_records(request: Request) -> Response:
    """`GET /__admin/custom-objects/{name}/records[?field=&value=]`."""
    state = _state(request)
    name = request.path_params["name"]
    if name not in state.store.co_types():
        raise AdminError(f"no custom object {name}", 404)
    field = request.query_params.get("field")
    value = request.query_params.get("value")
    if field == custom_objects.ID_FIELD and value is not None:
        guids = [value]
    elif field and value is not None:
        guids = state.store.co_search(name, field, value)
    else:
        guids = state.store.co_guids(name, _limit(request))
    records = []
    for guid in guids:
        found = state.store.co_get(name, guid)
        if found:
            records.append(
                {
                    **found[0],
                    custom_objects.ID_FIELD: guid,
                    "createdAt": found[1],
                    "updatedAt": found[2],
                }
            )
    return JSONResponse(records)


def _lead(state: EmulatorState, lead_id: int) -> dict[str, Any] | None:
    found = state.store.lead_data(lead_id)
    if found is None:
        return None
    visible = state.store.lead_fields()
    data = {k: v for k, v in found[0].items() if k in visible}
    return {**data, "id": lead_id, "createdAt": found[1], "updatedAt": found[2]}


async def leads(request: Request) -> Response:
    """`GET /__admin/leads[?field=&value=]` or `POST /__admin/leads` (create as person/form)."""
    state = _state(request)
    if request.method == "POST":
        body = await _body(request)
        writer = LeadWriter(state, _source(body))
        values = body.get("values")
        if not isinstance(values, dict) or not values:
            raise AdminError("values must be a non-empty object")
        try:
            lead_id = writer.create(coerce_record(values, writer.fields))
        except RecordError as exc:
            raise AdminError(f"{exc.code}: {exc.message}") from exc
        return JSONResponse(_lead(state, lead_id), status_code=201)
    field = request.query_params.get("field")
    value = request.query_params.get("value")
    if field and value is not None:
        if field == "id" and not value.isdigit():
            raise AdminError("id must be an integer")
        ids = state.store.find_leads(field, int(value) if field == "id" else value)
    else:
        ids = state.store.lead_ids(_limit(request))
    return JSONResponse([lead for i in ids if (lead := _lead(state, i))])


async def lead(request: Request) -> Response:
    """`GET /__admin/leads/{id}`."""
    found = _lead(_state(request), int(request.path_params["lead_id"]))
    if found is None:
        raise AdminError("no such lead", 404)
    return JSONResponse(found)


def _source(body: dict[str, Any]) -> ChangeSource:
    kind = body.get("as", "person")
    if kind == "person":
        source = activity_log.person_edit(str(body.get("user") or "marketing.user@example.com"))
    elif kind == "form":
        source = activity_log.form_fill(str(body.get("form") or "Contact Us"))
    elif kind == "api":
        source = API_SOURCE
    else:
        raise AdminError("'as' must be person, form or api")
    return ChangeSource(
        str(body.get("source") or source.source), str(body.get("reason") or source.reason)
    )


async def edit_lead(request: Request) -> Response:
    """`POST /__admin/leads/{id}/edit` `{changes, as, user?, form?, source?, reason?}`.

    `as` is `person` (Source "Marketo UI"), `form` ("Web form fillout") or `api`.

    Each changed field produces a Change Data Value activity with the chosen Source/Reason.
    """
    state = _state(request)
    body = await _body(request)
    writer = LeadWriter(state, _source(body))
    changes = body.get("changes")
    if not isinstance(changes, dict) or not changes:
        raise AdminError("changes must be a non-empty object")
    lead_id = int(request.path_params["lead_id"])
    try:
        changed = writer.update(lead_id, coerce_record(changes, writer.fields))
    except RecordError as exc:
        status = 404 if exc.code == "1004" else 400
        raise AdminError(f"{exc.code}: {exc.message}", status) from exc
    return JSONResponse({"id": lead_id, "changed": changed, "lead": _lead(state, lead_id)})


async def counters(request: Request) -> Response:
    """`GET /__admin/counters`: calls per endpoint, records written/deleted per target, usage."""
    return JSONResponse(_state(request).store.counters())


async def reset_counters(request: Request) -> Response:
    """`POST /__admin/counters/reset` (also clears the rate window)."""
    state = _state(request)
    state.store.reset_counters()
    state.rate.clear()
    return JSONResponse({"reset": True})


async def faults(request: Request) -> Response:
    """`GET|POST|DELETE /__admin/faults`.

    POST `{path_pattern, count?, code?, http_status?, hang_seconds?, method?, message?}`: the next
    `count` calls whose path matches the regex fail with `code` (HTTP `http_status`), or hang
    `hang_seconds` first (then fail if a code is given, else proceed normally).
    """
    injector = _state(request).faults
    if request.method == "POST":
        try:
            injector.add(await _body(request))
        except (ValueError, TypeError) as exc:
            raise AdminError(str(exc)) from exc
    elif request.method == "DELETE":
        injector.clear()
    return JSONResponse(injector.pending())


async def reset(request: Request) -> Response:
    """`POST /__admin/reset`: delete all data, counters, faults; schema and limits stay."""
    state = _state(request)
    state.store.wipe()
    state.faults.clear()
    state.rate.clear()
    return JSONResponse({"reset": True})


def routes() -> list[Route]:
    """Return the admin routes."""
    return [
        Route("/__admin/health", health, methods=["GET"]),
        Route("/__admin/limits", limits, methods=["GET", "POST"]),
        Route("/__admin/credentials", credentials, methods=["POST"]),
        Route("/__admin/credentials/{client_id}", remove_credentials, methods=["DELETE"]),
        Route("/__admin/tokens/expire", expire_tokens, methods=["POST"]),
        Route("/__admin/clock", clock, methods=["GET", "POST"]),
        Route("/__admin/lead-fields", lead_fields, methods=["GET", "POST"]),
        Route("/__admin/lead-fields/{name}", remove_lead_field, methods=["DELETE"]),
        Route("/__admin/custom-objects", object_types, methods=["GET", "POST"]),
        Route("/__admin/custom-objects/{name}", remove_object_type, methods=["DELETE"]),
        Route("/__admin/custom-objects/{name}/records", object_records, methods=["GET"]),
        Route("/__admin/leads", leads, methods=["GET", "POST"]),
        Route("/__admin/leads/{lead_id:int}", lead, methods=["GET"]),
        Route("/__admin/leads/{lead_id:int}/edit", edit_lead, methods=["POST"]),
        Route("/__admin/counters", counters, methods=["GET"]),
        Route("/__admin/counters/reset", reset_counters, methods=["POST"]),
        Route("/__admin/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/__admin/reset", reset, methods=["POST"]),
    ]

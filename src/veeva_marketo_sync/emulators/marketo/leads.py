"""Lead endpoints: describe, get by id / filter, sync, delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from veeva_marketo_sync.emulators.marketo import lead_writes, paging
from veeva_marketo_sync.emulators.marketo.envelope import ok
from veeva_marketo_sync.emulators.marketo.errors import MarketoApiError
from veeva_marketo_sync.emulators.marketo.fields import DEFAULT_LEAD_FIELDS, FieldDef
from veeva_marketo_sync.emulators.marketo.params import (
    Params,
    batch_size,
    query_pairs,
    read_form,
    read_json,
    single,
    split_values,
)
from veeva_marketo_sync.emulators.marketo.state import EmulatorState
from veeva_marketo_sync.emulators.marketo.store import Store

MAX_FILTER_MATCHES = 1000


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def lead_row(store: Store, lead_id: int, names: list[str]) -> dict[str, Any] | None:
    """Return a lead as the API shows it, limited to `names` (absent values are omitted)."""
    found = store.lead_data(lead_id)
    if found is None:
        return None
    data, created_at, updated_at = found
    full = {**data, "id": lead_id, "createdAt": created_at, "updatedAt": updated_at}
    row: dict[str, Any] = {"id": lead_id}
    for name in names:
        if full.get(name) is not None:
            row[name] = full[name]
    return row


def requested_fields(params: Params, schema: dict[str, FieldDef]) -> list[str]:
    """Return the `fields` parameter (default set when absent), checked against the schema.

    Raises:
        MarketoApiError: 1006 for an unknown field.
    """
    names = split_values(params, "fields") or [n for n in DEFAULT_LEAD_FIELDS if n in schema]
    for name in names:
        if name not in schema:
            raise MarketoApiError("1006", f"Field '{name}' not found")
    return names


async def describe(request: Request) -> Response:
    """`GET /rest/v1/leads/describe.json`."""
    fields = _state(request).store.lead_fields()
    result = []
    for field in fields.values():
        entry: dict[str, Any] = {
            "id": field.field_id,
            "displayName": field.display_name,
            "dataType": field.data_type,
            "rest": {"name": field.name, "readOnly": field.read_only},
            "soap": {"name": field.name[:1].upper() + field.name[1:], "readOnly": field.read_only},
        }
        if field.max_length() is not None:
            entry["length"] = field.max_length()
        result.append(entry)
    return ok(result)


async def describe2(request: Request) -> Response:
    """`GET /rest/v1/leads/describe2.json`."""
    fields = _state(request).store.lead_fields()
    described = []
    for field in fields.values():
        entry: dict[str, Any] = {
            "name": field.name,
            "displayName": field.display_name,
            "dataType": field.data_type,
            "updateable": not field.read_only,
            "crmManaged": False,
        }
        if field.max_length() is not None:
            entry["length"] = field.max_length()
        described.append(entry)
    searchable = [[name] for name in lead_writes.searchable_fields(fields)]
    return ok([{"name": "API Lead", "searchableFields": searchable, "fields": described}])


async def get_by_id(request: Request) -> Response:
    """`GET /rest/v1/lead/{id}.json?fields=`."""
    store = _state(request).store
    names = requested_fields(query_pairs(request), store.lead_fields())
    try:
        lead_id = int(request.path_params["lead_id"])
    except ValueError as exc:
        raise MarketoApiError("1003", "Invalid lead id") from exc
    row = lead_row(store, lead_id, names)
    return ok([row] if row else [])


def _filter(state: EmulatorState, params: Params) -> Response:
    store = state.store
    schema = store.lead_fields()
    filter_type = single(params, "filterType")
    values = split_values(params, "filterValues")
    if not filter_type:
        raise MarketoApiError("701", "'filterType' cannot be blank")
    if not values:
        raise MarketoApiError("701", "'filterValues' cannot be blank")
    if filter_type not in schema:
        raise MarketoApiError("1006", f"Field '{filter_type}' not found")
    if filter_type not in lead_writes.searchable_fields(schema):
        raise MarketoApiError("1011", f"Field '{filter_type}' not supported for filterType")
    if len(values) > state.limits.max_batch:
        raise MarketoApiError("1003", f"filterValues exceeds the limit of {state.limits.max_batch}")
    names = requested_fields(params, schema)
    size = batch_size(params, state.limits.max_batch)
    token = single(params, "nextPageToken")
    offset = paging.decode("off", token) if token else 0
    ids: set[int] = set()
    for value in values:
        if filter_type == "id":
            if not value.lstrip("-").isdigit():
                raise MarketoApiError("1003", f"Invalid id '{value}'")
            ids.update(store.find_leads("id", int(value)))
        else:
            ids.update(store.find_leads(filter_type, value))
    if len(ids) > MAX_FILTER_MATCHES:
        raise MarketoApiError("1003", "Too many results match the filter")
    ordered = sorted(ids)
    page = ordered[offset : offset + size]
    rows = [row for lead_id in page if (row := lead_row(store, lead_id, names))]
    extra: dict[str, Any] = {}
    if offset + size < len(ordered):
        extra["nextPageToken"] = paging.encode("off", offset + size)
    return ok(rows, **extra)


async def get_by_filter(request: Request) -> Response:
    """`GET /rest/v1/leads.json?filterType=&filterValues=&fields=`."""
    return _filter(_state(request), query_pairs(request))


async def post_leads(request: Request) -> Response:
    """`POST /rest/v1/leads.json`: Sync Leads (JSON) or Get by Filter (`_method=GET`)."""
    state = _state(request)
    query = query_pairs(request)
    content_type = request.headers.get("content-type", "")
    if "form-urlencoded" in content_type:
        form = await read_form(request, state.limits.max_body_bytes)
        if single(query, "_method") == "GET" or single(form, "_method") == "GET":
            return _filter(state, query + form)
        raise MarketoApiError("612", f"Invalid Content Type '{content_type}'")
    if single(query, "_method") == "GET":
        return _filter(state, query)
    body = await read_json(request, state.limits.max_body_bytes)
    return ok(lead_writes.sync_leads(state, body))


async def delete(request: Request) -> Response:
    """`DELETE /rest/v1/leads.json` or `POST /rest/v1/leads/delete.json` (`input` or `?id=`)."""
    state = _state(request)
    ids: list[Any] = list(split_values(query_pairs(request), "id"))
    if not ids:
        body = await read_json(request, state.limits.max_body_bytes)
        records = body.get("input") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise MarketoApiError("701", "'input' cannot be blank")
        ids = [r.get("id") if isinstance(r, dict) else None for r in records]
    return ok(lead_writes.delete_leads(state, ids))

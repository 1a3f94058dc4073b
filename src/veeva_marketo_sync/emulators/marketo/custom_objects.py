"""Custom objects: type definitions (made through the admin API) and the REST endpoints."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from veeva_marketo_sync.emulators.marketo import paging
from veeva_marketo_sync.emulators.marketo.envelope import ok
from veeva_marketo_sync.emulators.marketo.errors import MarketoApiError, RecordError
from veeva_marketo_sync.emulators.marketo.fields import (
    DATA_TYPES,
    FieldDef,
    coerce_value,
    index_key,
    validate_name,
)
from veeva_marketo_sync.emulators.marketo.params import (
    batch_size,
    query_pairs,
    read_json,
    single,
    split_values,
)
from veeva_marketo_sync.emulators.marketo.state import EmulatorState

ID_FIELD: Final = "marketoGUID"
SYSTEM_FIELDS: Final = (ID_FIELD, "createdAt", "updatedAt")
SYNC_ACTIONS: Final = ("createOrUpdate", "createOnly", "updateOnly")
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*_c$")
_DEDUPE_TYPES: Final = frozenset({"string", "email", "integer"})


def define_type(spec: dict[str, Any], now: str) -> dict[str, Any]:
    """Turn an admin spec into a stored custom object type definition.

    Spec: `apiName` (ends in `_c`), `displayName`, `dedupeFields`, `fields` (name, dataType,
    length?, displayName?), and optionally `relationship` `{field, relatedTo: {name: "Lead",
    field}}` (or `{field, leadField}`) and `linkRequired` (default true).

    Raises:
        ValueError: when the spec is inconsistent.
    """
    name = spec.get("apiName") or spec.get("name")
    if not isinstance(name, str) or not _API_NAME.match(name):
        raise ValueError("apiName must be alphanumeric/underscore and end with '_c'")
    fields: list[dict[str, Any]] = []
    for raw in spec.get("fields", []):
        field_name = validate_name(raw.get("name"))
        data_type = raw.get("dataType", "string")
        if data_type not in DATA_TYPES:
            raise ValueError(f"unknown dataType {data_type!r} for {field_name}")
        if field_name in SYSTEM_FIELDS or any(f["name"] == field_name for f in fields):
            raise ValueError(f"duplicate or reserved field {field_name!r}")
        fields.append(
            {
                "name": field_name,
                "displayName": raw.get("displayName", field_name),
                "dataType": data_type,
                "length": raw.get("length"),
            }
        )
    relationships: list[dict[str, Any]] = []
    relationship = spec.get("relationship")
    if relationship:
        link = validate_name(relationship.get("field"))
        related = relationship.get("relatedTo") or {
            "name": "Lead",
            "field": relationship.get("leadField", link),
        }
        if related.get("name") != "Lead":
            raise ValueError("only relationships to Lead are emulated")
        validate_name(related.get("field"))
        if not any(f["name"] == link for f in fields):
            fields.append({"name": link, "displayName": link, "dataType": "string", "length": None})
        relationships.append({"field": link, "type": "child", "relatedTo": dict(related)})
    dedupe = spec.get("dedupeFields") or []
    if not isinstance(dedupe, list) or not dedupe or len(dedupe) > 3:
        raise ValueError("dedupeFields must list 1 to 3 fields")
    by_name = {f["name"]: f for f in fields}
    for field_name in dedupe:
        if field_name not in by_name or by_name[field_name]["dataType"] not in _DEDUPE_TYPES:
            raise ValueError(f"dedupe field {field_name!r} must be a string/email/integer field")
    searchable = [list(dedupe), [ID_FIELD]] + [[r["field"]] for r in relationships]
    return {
        "name": name,
        "displayName": spec.get("displayName", name),
        "pluralName": spec.get("pluralName", spec.get("displayName", name)),
        "description": spec.get("description", ""),
        "createdAt": now,
        "updatedAt": now,
        "idField": ID_FIELD,
        "dedupeFields": list(dedupe),
        "searchableFields": searchable,
        "relationships": relationships,
        "fields": fields,
        "linkRequired": bool(spec.get("linkRequired", True)),
    }


def _field_defs(definition: dict[str, Any]) -> dict[str, FieldDef]:
    return {
        f["name"]: FieldDef(
            name=f["name"],
            data_type=f["dataType"],
            display_name=f["displayName"],
            length=f.get("length"),
            custom=True,
        )
        for f in definition["fields"]
    }


def public_type(definition: dict[str, Any], *, with_fields: bool) -> dict[str, Any]:
    """Return a type as list/describe show it."""
    shown = {k: v for k, v in definition.items() if k not in {"fields", "linkRequired"}}
    if with_fields:
        system = [
            {
                "name": ID_FIELD,
                "displayName": "Marketo GUID",
                "dataType": "string",
                "length": 36,
                "updateable": False,
            },
            {
                "name": "createdAt",
                "displayName": "Created At",
                "dataType": "datetime",
                "updateable": False,
            },
            {
                "name": "updatedAt",
                "displayName": "Updated At",
                "dataType": "datetime",
                "updateable": False,
            },
        ]
        user = []
        for field in _field_defs(definition).values():
            entry: dict[str, Any] = {
                "name": field.name,
                "displayName": field.display_name,
                "dataType": field.data_type,
                "updateable": field.name not in definition["dedupeFields"],
            }
            if field.max_length() is not None:
                entry["length"] = field.max_length()
            user.append(entry)
        shown["fields"] = system + user
    return shown


def _state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


def _type(state: EmulatorState, name: str) -> dict[str, Any]:
    definition = state.store.co_types().get(name)
    if definition is None:
        raise MarketoApiError("1013", f"Custom object '{name}' not found")
    return definition


def _dedupe_key(definition: dict[str, Any], values: dict[str, Any]) -> str:
    return json.dumps([index_key(values[name]) for name in definition["dedupeFields"]])


async def list_types(request: Request) -> Response:
    """`GET /rest/v1/customobjects.json[?names=a,b]`."""
    wanted = set(split_values(query_pairs(request), "names"))
    types = _state(request).store.co_types()
    return ok(
        [
            public_type(d, with_fields=False)
            for name, d in types.items()
            if not wanted or name in wanted
        ]
    )


async def describe(request: Request) -> Response:
    """`GET /rest/v1/customobjects/{name}/describe.json`."""
    definition = _type(_state(request), request.path_params["name"])
    return ok([public_type(definition, with_fields=True)])


class _Sync:
    def __init__(self, state: EmulatorState, definition: dict[str, Any], action: str, by_id: bool):
        self.state = state
        self.definition = definition
        self.fields = _field_defs(definition)
        self.action = action
        self.by_id = by_id
        self.seen: set[str] = set()

    def _values(self, record: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, raw in record.items():
            if name == ID_FIELD and self.by_id:
                continue
            field = self.fields.get(name)
            if field is None:
                raise RecordError("1006", f"Field '{name}' not found")
            values[name] = coerce_value(field, raw)
        return values

    def _check_link(self, values: dict[str, Any]) -> None:
        for relation in self.definition["relationships"]:
            link = values.get(relation["field"])
            if link is None:
                continue
            lead_field = relation["relatedTo"]["field"]
            if self.definition.get("linkRequired", True) and not self.state.store.find_leads(
                lead_field, link
            ):
                raise RecordError("1004", "Lead not found")

    def one(self, seq: int, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise RecordError("1003", "Invalid record: expected an object")
        store = self.state.store
        name = self.definition["name"]
        values = self._values(record)
        if self.by_id:
            guid = record.get(ID_FIELD)
            if not isinstance(guid, str) or not guid:
                raise RecordError("1003", f"Value for '{ID_FIELD}' is required")
            seen_key = guid
            existing: str | None = guid if store.co_get(name, guid) else None
        else:
            for field_name in self.definition["dedupeFields"]:
                if values.get(field_name) in (None, ""):
                    raise RecordError("1003", f"Value for dedupe field '{field_name}' is required")
            seen_key = _dedupe_key(self.definition, values)
            existing = store.co_find(name, seen_key)
        if seen_key in self.seen:
            raise RecordError("1036", "Duplicate object found in input")
        self.seen.add(seen_key)
        if existing is None and self.action == "updateOnly":
            raise RecordError("1013", "Object not found")
        if existing is not None and self.action == "createOnly":
            raise RecordError("1017", "Object already exists")
        self._check_link(values)
        now = self.state.now_text()
        if existing is None:
            data = {k: v for k, v in values.items() if v is not None}
            guid = store.co_save(name, None, _dedupe_key(self.definition, data), data, now)
            status = "created"
        else:
            current = store.co_get(name, existing)
            merged = {**(current[0] if current else {}), **values}
            data = {k: v for k, v in merged.items() if v is not None}
            guid = store.co_save(name, existing, _dedupe_key(self.definition, data), data, now)
            status = "updated"
        store.bump("records", name)
        return {"seq": seq, "status": status, ID_FIELD: guid}


async def post_records(request: Request) -> Response:
    """`POST /rest/v1/customobjects/{name}.json`: sync, or query when `?_method=GET`."""
    state = _state(request)
    definition = _type(state, request.path_params["name"])
    body = await read_json(request, state.limits.max_body_bytes)
    if not isinstance(body, dict):
        raise MarketoApiError("609", "Invalid JSON: the body must be an object")
    if single(query_pairs(request), "_method") == "GET":
        return _query_json(state, definition, body)
    action = body.get("action", "createOrUpdate")
    dedupe_by = body.get("dedupeBy", "dedupeFields")
    if action not in SYNC_ACTIONS:
        raise MarketoApiError("1003", f"Invalid action '{action}'")
    if dedupe_by not in ("dedupeFields", "idField"):
        raise MarketoApiError("1003", f"Invalid dedupeBy '{dedupe_by}'")
    if dedupe_by == "idField" and action != "updateOnly":
        raise MarketoApiError("1003", "dedupeBy 'idField' is only allowed with updateOnly")
    records = body.get("input")
    if not records:
        raise MarketoApiError("701", "'input' cannot be blank")
    if not isinstance(records, list):
        raise MarketoApiError("1003", "'input' must be an array")
    if len(records) > state.limits.max_batch:
        raise MarketoApiError(
            "1003", f"Input exceeds the limit of {state.limits.max_batch} records"
        )
    sync = _Sync(state, definition, action, dedupe_by == "idField")
    results: list[dict[str, Any]] = []
    for seq, record in enumerate(records):
        try:
            results.append(sync.one(seq, record))
        except RecordError as error:
            results.append({"seq": seq, "status": "skipped", "reasons": [error.reason()]})
    return ok(results)


def _row(
    state: EmulatorState, definition: dict[str, Any], guid: str, seq: int, names: list[str]
) -> dict[str, Any] | None:
    found = state.store.co_get(definition["name"], guid)
    if found is None:
        return None
    data, created_at, updated_at = found
    full = {**data, ID_FIELD: guid, "createdAt": created_at, "updatedAt": updated_at}
    row: dict[str, Any] = {"seq": seq, ID_FIELD: guid}
    for name in names:
        if full.get(name) is not None:
            row[name] = full[name]
    return row


def _names(definition: dict[str, Any], requested: list[str]) -> list[str]:
    known = set(SYSTEM_FIELDS) | {f["name"] for f in definition["fields"]}
    for name in requested:
        if name not in known:
            raise MarketoApiError("1006", f"Field '{name}' not found")
    return requested or [*definition["dedupeFields"], "createdAt", "updatedAt"]


def _matches(
    state: EmulatorState, definition: dict[str, Any], filter_type: str, keys: list[Any]
) -> list[tuple[int, str]]:
    """Return (seq, guid) pairs for each filter key, in key order."""
    store = state.store
    name = definition["name"]
    searchable = {tuple(s) for s in definition["searchableFields"]}
    found: list[tuple[int, str]] = []
    for seq, key in enumerate(keys):
        if filter_type in ("idField", ID_FIELD):
            guids = [str(key)] if store.co_get(name, str(key)) else []
        elif filter_type == "dedupeFields":
            values = key if isinstance(key, dict) else {definition["dedupeFields"][0]: key}
            if any(values.get(f) in (None, "") for f in definition["dedupeFields"]):
                raise MarketoApiError("1003", "Each input must give every dedupe field")
            guid = store.co_find(name, _dedupe_key(definition, values))
            guids = [guid] if guid else []
        elif (filter_type,) in searchable:
            value = key.get(filter_type) if isinstance(key, dict) else key
            guids = store.co_search(name, filter_type, value)
        else:
            raise MarketoApiError("1003", f"Invalid filterType '{filter_type}'")
        found.extend((seq, guid) for guid in guids)
    return found


def _respond(
    state: EmulatorState,
    *,
    definition: dict[str, Any],
    filter_type: str | None,
    keys: list[Any],
    names: list[str],
    size: int,
    token: str | None,
) -> Response:
    if not filter_type:
        raise MarketoApiError("701", "'filterType' cannot be blank")
    if not keys:
        raise MarketoApiError("701", "'filterValues' cannot be blank")
    if len(keys) > state.limits.max_batch:
        raise MarketoApiError("1003", f"filter exceeds the limit of {state.limits.max_batch}")
    offset = paging.decode("off", token) if token else 0
    matches = _matches(state, definition, filter_type, keys)
    page = matches[offset : offset + size]
    rows = [r for seq, guid in page if (r := _row(state, definition, guid, seq, names))]
    extra: dict[str, Any] = {}
    if offset + size < len(matches):
        extra["nextPageToken"] = paging.encode("off", offset + size)
    return ok(rows, **extra)


def _query_json(state: EmulatorState, definition: dict[str, Any], body: dict[str, Any]) -> Response:
    requested = body.get("fields") or []
    if not isinstance(requested, list):
        requested = [str(requested)]
    raw_size = body.get("batchSize")
    size = batch_size(
        [] if raw_size is None else [("batchSize", str(raw_size))], state.limits.max_batch
    )
    keys = body.get("input") or []
    if not isinstance(keys, list):
        raise MarketoApiError("1003", "'input' must be an array")
    return _respond(
        state,
        definition=definition,
        filter_type=body.get("filterType"),
        keys=keys,
        names=_names(definition, requested),
        size=size,
        token=body.get("nextPageToken"),
    )


async def get_records(request: Request) -> Response:
    """`GET /rest/v1/customobjects/{name}.json?filterType=&filterValues=&fields=`."""
    state = _state(request)
    definition = _type(state, request.path_params["name"])
    params = query_pairs(request)
    names = _names(definition, split_values(params, "fields"))
    size = batch_size(params, state.limits.max_batch)
    return _respond(
        state,
        definition=definition,
        filter_type=single(params, "filterType"),
        keys=list(split_values(params, "filterValues")),
        names=names,
        size=size,
        token=single(params, "nextPageToken"),
    )


async def delete_records(request: Request) -> Response:
    """`POST /rest/v1/customobjects/{name}/delete.json` `{deleteBy, input}`."""
    state = _state(request)
    definition = _type(state, request.path_params["name"])
    body = await read_json(request, state.limits.max_body_bytes)
    if not isinstance(body, dict):
        raise MarketoApiError("609", "Invalid JSON: the body must be an object")
    delete_by = body.get("deleteBy", "dedupeFields")
    if delete_by not in ("dedupeFields", "idField"):
        raise MarketoApiError("1003", f"Invalid deleteBy '{delete_by}'")
    records = body.get("input")
    if not records:
        raise MarketoApiError("701", "'input' cannot be blank")
    if not isinstance(records, list):
        raise MarketoApiError("1003", "'input' must be an array")
    if len(records) > state.limits.max_batch:
        raise MarketoApiError(
            "1003", f"Input exceeds the limit of {state.limits.max_batch} records"
        )
    name = definition["name"]
    results: list[dict[str, Any]] = []
    for seq, record in enumerate(records):
        guid: str | None = None
        if isinstance(record, dict):
            if delete_by == "idField":
                guid = str(record.get(ID_FIELD) or "") or None
            elif all(record.get(f) not in (None, "") for f in definition["dedupeFields"]):
                guid = state.store.co_find(name, _dedupe_key(definition, record))
        if guid and state.store.co_delete(name, guid):
            state.store.bump("deleted", name)
            results.append({"seq": seq, ID_FIELD: guid, "status": "deleted"})
        else:
            results.append(
                {
                    "seq": seq,
                    "status": "skipped",
                    "reasons": [{"code": "1013", "message": "Object not found"}],
                }
            )
    return ok(results)

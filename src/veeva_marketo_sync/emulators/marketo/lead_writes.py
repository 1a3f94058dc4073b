"""Writing leads: Sync Leads semantics, deletes, and edits made by people or forms."""

from __future__ import annotations

from typing import Any, Final

from veeva_marketo_sync.emulators.marketo import activity_log
from veeva_marketo_sync.emulators.marketo.activity_log import API_SOURCE, ChangeSource
from veeva_marketo_sync.emulators.marketo.errors import MarketoApiError, RecordError
from veeva_marketo_sync.emulators.marketo.fields import (
    SEARCHABLE_TYPES,
    STANDARD_SEARCHABLE,
    FieldDef,
    coerce_value,
    index_key,
)
from veeva_marketo_sync.emulators.marketo.state import EmulatorState

ACTIONS: Final = ("createOrUpdate", "createOnly", "updateOnly", "createDuplicate")
RECORDS: Final = "records"
LEAD_TARGET: Final = "lead"


def searchable_fields(fields: dict[str, FieldDef]) -> list[str]:
    """Return lead fields usable as filterType / lookupField."""
    names: list[str] = [name for name in STANDARD_SEARCHABLE if name in fields]
    names += [f.name for f in fields.values() if f.custom and f.data_type in SEARCHABLE_TYPES]
    return names


def coerce_record(
    record: dict[str, Any], fields: dict[str, FieldDef], *, allow: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Validate every key of an input record against the lead schema.

    Raises:
        RecordError: 1006 for an unknown field, 1003 for a read-only field or a bad value.
    """
    values: dict[str, Any] = {}
    for name, raw in record.items():
        if name in allow:
            continue
        field = fields.get(name)
        if field is None:
            raise RecordError("1006", f"Field '{name}' not found")
        if field.read_only:
            raise RecordError("1003", f"Field '{name}' is not updateable")
        values[name] = coerce_value(field, raw)
    return values


class LeadWriter:
    """Applies lead writes for one call and records the activities they cause."""

    def __init__(self, state: EmulatorState, source: ChangeSource = API_SOURCE) -> None:
        self.state = state
        self.store = state.store
        self.source = source
        self.fields = state.store.lead_fields()

    def create(self, values: dict[str, Any]) -> int:
        """Create a lead with validated values; return its id."""
        now = self.state.now_text()
        data = {k: v for k, v in values.items() if v is not None}
        lead_id = self.store.insert_lead(data, now)
        activity_log.record_new_lead(self.store, lead_id, data, now, self.source)
        return lead_id

    def update(self, lead_id: int, values: dict[str, Any]) -> list[str]:
        """Apply validated values to a lead; return the names of fields that changed."""
        current = self.store.lead_data(lead_id)
        if current is None:
            raise RecordError("1004", "Lead not found")
        data = dict(current[0])
        changed = [name for name, value in values.items() if data.get(name) != value]
        if changed:
            now = self.state.now_text()
            for name in changed:
                activity_log.record_change(
                    self.store,
                    lead_id=lead_id,
                    field=self.fields[name],
                    old=data.get(name),
                    new=values[name],
                    when=now,
                    source=self.source,
                )
                data[name] = values[name]
            self.store.update_lead(lead_id, {k: v for k, v in data.items() if v is not None}, now)
        return changed

    def delete(self, lead_id: int) -> None:
        """Delete a lead and log a Delete Lead activity."""
        current = self.store.lead_data(lead_id)
        if current is None or not self.store.delete_lead(lead_id):
            raise RecordError("1004", "Lead not found")
        activity_log.record_delete(self.store, lead_id, current[0], self.state.now_text())
        self.store.bump("deleted", LEAD_TARGET)


def _check_request(
    body: dict[str, Any], fields: dict[str, FieldDef], max_batch: int
) -> tuple[str, str, list[Any]]:
    action = body.get("action", "createOrUpdate")
    if action not in ACTIONS:
        raise MarketoApiError("1003", f"Invalid action '{action}'")
    lookup = body.get("lookupField") or "email"
    if not isinstance(lookup, str):
        raise MarketoApiError("1003", "lookupField must be a string")
    records = body.get("input")
    if not records:
        raise MarketoApiError("701", "'input' cannot be blank")
    if not isinstance(records, list):
        raise MarketoApiError("1003", "'input' must be an array")
    if len(records) > max_batch:
        raise MarketoApiError("1003", f"Input exceeds the limit of {max_batch} records")
    if action != "createDuplicate":
        if lookup not in fields:
            raise MarketoApiError("1006", f"Field '{lookup}' not found")
        if lookup not in searchable_fields(fields):
            raise MarketoApiError("1011", f"Field '{lookup}' not supported as lookupField")
        if lookup == "id" and action != "updateOnly":
            raise MarketoApiError("1003", "lookupField 'id' is only allowed with updateOnly")
    return action, lookup, records


def sync_leads(state: EmulatorState, body: Any) -> list[dict[str, Any]]:
    """Apply a Sync Leads request; return the per-record results in input order.

    Raises:
        MarketoApiError: for a request-level problem (action, lookupField, input size).
    """
    if not isinstance(body, dict):
        raise MarketoApiError("609", "Invalid JSON: the body must be an object")
    writer = LeadWriter(state)
    action, lookup, records = _check_request(body, writer.fields, state.limits.max_batch)
    seen: set[str] = set()
    results: list[dict[str, Any]] = []
    for record in records:
        try:
            results.append(_sync_one(writer, action, lookup, record, seen))
        except RecordError as error:
            results.append({"status": "skipped", "reasons": [error.reason()]})
    written = sum(1 for r in results if r["status"] != "skipped")
    if written:
        state.store.bump(RECORDS, LEAD_TARGET, written)
    return results


def _sync_one(
    writer: LeadWriter, action: str, lookup: str, record: Any, seen: set[str]
) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordError("1003", "Invalid record: expected an object")
    if action == "createDuplicate":
        return {"id": writer.create(coerce_record(record, writer.fields)), "status": "created"}
    raw_key = record.get(lookup)
    if raw_key in (None, ""):
        raise RecordError("1003", f"Value for lookup field '{lookup}' is required")
    key = coerce_value(writer.fields[lookup], raw_key)
    if index_key(key) in seen:
        raise RecordError("1036", "Duplicate lead in input")
    seen.add(index_key(key))
    values = coerce_record(record, writer.fields, allow=frozenset({"id"} if lookup == "id" else ()))
    matches = writer.store.find_leads(lookup, key)
    if len(matches) > 1:
        raise RecordError("1007", "Multiple lead match lookup criteria")
    if matches:
        if action == "createOnly":
            raise RecordError("1005", "Lead already exists")
        writer.update(matches[0], values)
        return {"id": matches[0], "status": "updated"}
    if action == "updateOnly":
        raise RecordError("1004", "Lead not found")
    return {"id": writer.create(values), "status": "created"}


def delete_leads(state: EmulatorState, ids: list[Any]) -> list[dict[str, Any]]:
    """Delete leads by id; return per-record results.

    Raises:
        MarketoApiError: 701 for no ids, 1003 for more than the batch limit.
    """
    if not ids:
        raise MarketoApiError("701", "'input' cannot be blank")
    if len(ids) > state.limits.max_batch:
        raise MarketoApiError(
            "1003", f"Input exceeds the limit of {state.limits.max_batch} records"
        )
    writer = LeadWriter(state)
    results: list[dict[str, Any]] = []
    for raw in ids:
        try:
            lead_id = int(raw)
            writer.delete(lead_id)
            results.append({"id": lead_id, "status": "deleted"})
        except (TypeError, ValueError):
            results.append(
                {"status": "skipped", "reasons": [{"code": "1003", "message": "Invalid id"}]}
            )
        except RecordError as error:
            results.append({"id": raw, "status": "skipped", "reasons": [error.reason()]})
    return results

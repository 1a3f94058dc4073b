"""Activities the emulator records (New Lead, Change Data Value, Delete Lead) and their feeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from veeva_marketo_sync.emulators.marketo import paging
from veeva_marketo_sync.emulators.marketo.fields import FieldDef
from veeva_marketo_sync.emulators.marketo.store import Store

NEW_LEAD: Final = 12
CHANGE_DATA_VALUE: Final = 13
DELETE_LEAD: Final = 37
TOKEN_KIND: Final = "act"  # noqa: S105 - a paging-token prefix, not a secret

ACTIVITY_TYPES: Final[list[dict[str, Any]]] = [
    {
        "id": 1,
        "name": "Visit Webpage",
        "description": "User visits a web page",
        "primaryAttribute": {"name": "Webpage ID", "dataType": "integer"},
        "attributes": [{"name": "Query Parameters", "dataType": "string"}],
    },
    {
        "id": 2,
        "name": "Fill Out Form",
        "description": "User fills out and submits a form on web page",
        "primaryAttribute": {"name": "Webform ID", "dataType": "integer"},
        "attributes": [{"name": "Form Fields", "dataType": "text"}],
    },
    {
        "id": NEW_LEAD,
        "name": "New Lead",
        "description": "New person",
        "primaryAttribute": {"name": "Lead ID", "dataType": "integer"},
        "attributes": [
            {"name": "Source Type", "dataType": "string"},
            {"name": "Form Name", "dataType": "string"},
        ],
    },
    {
        "id": CHANGE_DATA_VALUE,
        "name": "Change Data Value",
        "description": "Changed attribute value for a person",
        "primaryAttribute": {"name": "Attribute Name", "dataType": "integer"},
        "attributes": [
            {"name": "New Value", "dataType": "text"},
            {"name": "Old Value", "dataType": "text"},
            {"name": "Reason", "dataType": "text"},
            {"name": "Source", "dataType": "string"},
        ],
    },
    {
        "id": DELETE_LEAD,
        "name": "Delete Lead",
        "description": "Delete a person",
        "primaryAttribute": {"name": "Lead ID", "dataType": "integer"},
        "attributes": [{"name": "Remove from CRM", "dataType": "boolean"}],
    },
]


@dataclass(frozen=True)
class ChangeSource:
    """Who changed a lead, as shown in the activity's Source and Reason attributes."""

    source: str
    reason: str


API_SOURCE: Final = ChangeSource("Web service API", "Web service API")


def person_edit(user: str = "marketing.user@example.com") -> ChangeSource:
    """Return the source of an edit made by a person in the Marketo UI (Person Details)."""
    return ChangeSource("Marketo UI", f"Person Details: changed by {user}")


def form_fill(form: str = "Contact Us") -> ChangeSource:
    """Return the source of a change made by a web form fill-out."""
    return ChangeSource("Web form fillout", f"Form fill-out: {form}")


def activity_text(value: Any) -> str | None:
    """Render a value as Marketo shows it in activities (strings; booleans lower-case)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def lead_name(data: dict[str, Any]) -> str:
    """Return the display name of a lead (what Delete/New Lead show as primary value)."""
    name = " ".join(str(data[k]) for k in ("firstName", "lastName") if data.get(k))
    return name or str(data.get("email") or "")


def record_new_lead(
    store: Store, lead_id: int, data: dict[str, Any], when: str, source: ChangeSource
) -> None:
    """Append a New Lead activity."""
    attributes = [{"name": "Source Type", "value": source.source}]
    if source.source == "Web form fillout":
        attributes.append({"name": "Form Name", "value": source.reason})
    body = {
        "primaryAttributeValueId": lead_id,
        "primaryAttributeValue": lead_name(data),
        "fields": [],
        "attributes": attributes,
    }
    store.add_activity(NEW_LEAD, lead_id, when, body)


def record_change(
    store: Store,
    *,
    lead_id: int,
    field: FieldDef,
    old: Any,
    new: Any,
    when: str,
    source: ChangeSource,
) -> None:
    """Append one Change Data Value activity (Marketo logs one per changed field)."""
    body = {
        "primaryAttributeValueId": field.field_id,
        "primaryAttributeValue": field.display_name,
        "fields": [
            {
                "id": field.field_id,
                "name": field.name,
                "newValue": activity_text(new),
                "oldValue": activity_text(old),
            }
        ],
        "attributes": [
            {"name": "Reason", "value": source.reason},
            {"name": "Source", "value": source.source},
            {"name": "Lead ID", "value": lead_id},
        ],
    }
    store.add_activity(CHANGE_DATA_VALUE, lead_id, when, body)


def record_delete(store: Store, lead_id: int, data: dict[str, Any], when: str) -> None:
    """Append a Delete Lead activity."""
    body = {
        "primaryAttributeValueId": lead_id,
        "primaryAttributeValue": lead_name(data),
        "fields": [],
        "attributes": [],
    }
    store.add_activity(DELETE_LEAD, lead_id, when, body)


@dataclass(frozen=True)
class FeedFilter:
    """Which activities a feed returns."""

    type_ids: frozenset[int]
    lead_ids: frozenset[int] = frozenset()
    change_fields: frozenset[str] | None = None

    def accepts(self, type_id: int, lead_id: int, body: dict[str, Any]) -> bool:
        """Return whether an activity belongs on this feed."""
        if type_id not in self.type_ids:
            return False
        if self.lead_ids and lead_id not in self.lead_ids:
            return False
        if type_id == CHANGE_DATA_VALUE and self.change_fields is not None:
            return any(f["name"] in self.change_fields for f in body.get("fields", []))
        return True


@dataclass(frozen=True)
class FeedPage:
    """One page of an activity feed."""

    rows: list[dict[str, Any]]
    next_page_token: str
    more_result: bool


def read_feed(
    store: Store, token: str, batch: int, feed: FeedFilter, *, lead_changes: bool
) -> FeedPage:
    """Scan the next `batch` activities after the token's position and keep those that match.

    A page can be empty while `more_result` is true, as on the real feeds.

    Raises:
        MarketoApiError: 1003 for a token the emulator did not issue.
    """
    position = paging.decode(TOKEN_KIND, token)
    scanned = store.activities_after(position, batch)
    rows: list[dict[str, Any]] = []
    for activity_id, type_id, lead_id, when, body in scanned:
        if not feed.accepts(type_id, lead_id, body):
            continue
        row: dict[str, Any] = {
            "id": activity_id,
            "marketoGUID": str(activity_id),
            "leadId": lead_id,
            "activityDate": when,
            "activityTypeId": type_id,
        }
        if lead_changes:
            row["fields"] = body.get("fields", [])
            row["attributes"] = body.get("attributes", [])
        else:
            row["primaryAttributeValueId"] = body.get("primaryAttributeValueId")
            row["primaryAttributeValue"] = body.get("primaryAttributeValue")
            attributes = list(body.get("attributes", []))
            for change in body.get("fields", []):
                attributes[:0] = [
                    {"name": "New Value", "value": change["newValue"]},
                    {"name": "Old Value", "value": change["oldValue"]},
                ]
            row["attributes"] = attributes
        rows.append(row)
    new_position = scanned[-1][0] if scanned else position
    return FeedPage(
        rows=rows,
        next_page_token=paging.encode(TOKEN_KIND, new_position),
        more_result=store.has_activity_after(new_position),
    )


def token_since(store: Store, since: str) -> str:
    """Return a paging token positioned just before the first activity at or after `since`."""
    return paging.encode(TOKEN_KIND, store.last_activity_before(since))

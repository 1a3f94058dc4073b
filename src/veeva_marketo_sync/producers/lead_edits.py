"""Lead changes from Marketo's feed as ``LeadEdit`` events: pure rules, no I/O.

A change becomes an event only when it is on a bidirectional field and its lead is linked to a
Veeva Person Account (the lead's lookup field, ``veevaAccountId`` by default, holds the
Account Id). The event is keyed by that Account Id, so it lands in the partition of
``veeva.Account`` that holds the same person.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ..clients.ports import LeadChange
from .watermark import parse_sf_datetime, to_millis


@dataclass(frozen=True)
class LeadEditEvent:
    """One field edit of a linked lead, as published on ``marketo.lead-edits``."""

    lead_id: int
    veeva_account_id: str
    field: str
    old_value: str | None
    new_value: str | None
    activity_id: int
    activity_time: datetime
    attributes: Mapping[str, str | None] = dataclasses.field(default_factory=dict)
    reason: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))

    @property
    def key(self) -> bytes:
        """The Kafka key: the Veeva Account Id, UTF-8."""
        return self.veeva_account_id.encode("utf-8")

    def to_record(self) -> dict[str, Any]:
        """The value of the ``LeadEdit`` Avro contract."""
        return {
            "lead_id": self.lead_id,
            "veeva_account_id": self.veeva_account_id,
            "field": self.field,
            "old_value": self.old_value,
            "new_value": self.new_value,
            "activity_id": self.activity_id,
            "activity_time": self.activity_time,
            "attributes": dict(self.attributes),
            "reason": self.reason,
        }


def relevant_changes(changes: Iterable[LeadChange], fields: frozenset[str]) -> list[LeadChange]:
    """The changes on ``fields`` (an activity can carry other fields too), in feed order."""
    return [change for change in changes if change.field in fields]


def lead_ids_to_resolve(
    changes: Iterable[LeadChange], known: Mapping[int, str | None]
) -> list[int]:
    """Lead ids of ``changes`` whose link is not known yet, each once, in feed order."""
    ids: dict[int, None] = {}
    for change in changes:
        if change.lead_id not in known:
            ids[change.lead_id] = None
    return list(ids)


def links_from_leads(
    leads: Iterable[Mapping[str, Any]], lookup_field: str, asked: Iterable[int]
) -> dict[int, str | None]:
    """The Veeva Account Id of each lead in ``asked``, None where the lead is not linked.

    Args:
        leads: Rows of a Get Leads call (``id`` plus ``lookup_field``).
        lookup_field: The lead field holding the Veeva Account Id.
        asked: Every lead id that was asked about; those missing from ``leads`` (deleted,
            merged away) count as not linked.
    """
    links: dict[int, str | None] = dict.fromkeys(asked)
    for lead in leads:
        raw_id = lead.get("id")
        if raw_id is None:
            continue
        value = lead.get(lookup_field)
        text = str(value).strip() if value is not None else ""
        links[int(raw_id)] = text or None
    return links


def lead_links_from_id_map(id_map: Mapping[str, str]) -> dict[int, str]:
    """Marketo lead id -> Veeva Id from the id map (Veeva Id -> Marketo id).

    Custom-object entries (``marketoGUID`` values, not integers) are left out.
    """
    return {int(marketo): veeva for veeva, marketo in id_map.items() if marketo.isdigit()}


def lead_edit_events(
    changes: Iterable[LeadChange], links: Mapping[int, str | None]
) -> list[LeadEditEvent]:
    """The events of ``changes`` whose lead is linked to a Veeva Account, in feed order.

    Changes of leads with no link (or an unknown one) are ignored: those persons exist only in
    Marketo and nothing of theirs goes to Veeva.

    Raises:
        ValueError: A change's activity date is not a datetime.
    """
    events: list[LeadEditEvent] = []
    for change in changes:
        account_id = links.get(change.lead_id)
        if not account_id:
            continue
        events.append(
            LeadEditEvent(
                lead_id=change.lead_id,
                veeva_account_id=account_id,
                field=change.field,
                old_value=change.old_value,
                new_value=change.new_value,
                activity_id=change.activity_id,
                activity_time=to_millis(parse_sf_datetime(change.activity_date)),
                attributes=dict(change.attributes),
                reason=change.reason,
            )
        )
    return events

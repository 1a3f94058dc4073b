"""Lead changes -> LeadEdit events: linked leads and captured fields only, keyed by Account."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from veeva_marketo_sync.clients.ports import LeadChange
from veeva_marketo_sync.producers.lead_edits import (
    lead_edit_events,
    lead_ids_to_resolve,
    lead_links_from_id_map,
    links_from_leads,
    relevant_changes,
)
from veeva_marketo_sync.schemas.codec import AvroCodec
from veeva_marketo_sync.schemas.contracts import LEAD_EDIT, load_contract


def change(
    lead_id: int = 7,
    field: str = "email",
    activity_id: int = 100,
    *,
    new: str | None = "new@example.com",
    source: str | None = "Marketo UI",
) -> LeadChange:
    attributes = {"Source": source, "Reason": "Person Details"} if source else {}
    return LeadChange(
        activity_id=activity_id,
        lead_id=lead_id,
        activity_date="2026-05-01T10:00:00Z",
        field=field,
        old_value="old@example.com",
        new_value=new,
        source=source,
        reason="Person Details" if source else None,
        attributes=attributes,
    )


def test_a_change_of_a_linked_lead_becomes_an_event_keyed_by_the_account_id() -> None:
    [event] = lead_edit_events([change()], {7: "001A"})

    assert event.key == b"001A"
    assert event.veeva_account_id == "001A"
    assert event.lead_id == 7
    assert event.field == "email"
    assert (event.old_value, event.new_value) == ("old@example.com", "new@example.com")
    assert event.activity_id == 100
    assert event.activity_time == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    assert event.attributes["Source"] == "Marketo UI"
    assert event.reason == "Person Details"


def test_changes_of_leads_not_linked_to_a_veeva_account_are_ignored() -> None:
    changes = [change(lead_id=7), change(lead_id=8, activity_id=101), change(lead_id=9)]

    events = lead_edit_events(changes, {7: "001A", 8: None})

    assert [e.lead_id for e in events] == [7]


def test_the_event_fits_the_lead_edit_contract() -> None:
    [event] = lead_edit_events([change(new=None, source=None)], {7: "001A"})
    codec = AvroCodec()
    schema = load_contract(LEAD_EDIT)

    decoded = codec.decode(codec.encode("t", schema, event.to_record()), schema)

    assert decoded["veeva_account_id"] == "001A"
    assert decoded["new_value"] is None
    assert decoded["activity_time"] == event.activity_time
    assert decoded["attributes"] == {}


def test_only_changes_of_the_captured_fields_are_relevant() -> None:
    changes = [change(field="email"), change(field="leadScore"), change(field="firstName")]

    kept = relevant_changes(changes, frozenset({"email", "firstName"}))

    assert [c.field for c in kept] == ["email", "firstName"]


def test_each_unknown_lead_is_looked_up_once_in_feed_order() -> None:
    changes = [change(lead_id=i) for i in (5, 3, 5, 9, 3, 1)]

    assert lead_ids_to_resolve(changes, {9: "001B", 1: None}) == [5, 3]


def test_leads_missing_from_the_lookup_or_without_an_account_id_are_unlinked() -> None:
    rows = [
        {"id": 5, "veevaAccountId": "001A"},
        {"id": 3, "veevaAccountId": None},
        {"id": 4, "veevaAccountId": "  "},
    ]

    links = links_from_leads(rows, "veevaAccountId", [5, 3, 4, 2])

    assert links == {5: "001A", 3: None, 4: None, 2: None}


def test_the_id_map_is_inverted_for_leads_only() -> None:
    id_map = {"001A": "5", "001B": "12", "a0C1": "6f1b4a3c-guid"}

    assert lead_links_from_id_map(id_map) == {5: "001A", 12: "001B"}


@given(
    st.lists(st.tuples(st.integers(1, 20), st.sampled_from(["email", "firstName"])), max_size=40),
    st.dictionaries(st.integers(1, 20), st.one_of(st.none(), st.just("001X")), max_size=20),
)
def test_every_linked_change_is_published_once_and_no_unlinked_one(
    rows: list[tuple[int, str]], links: dict[int, str | None]
) -> None:
    changes = [change(lead_id=lead, field=f, activity_id=i) for i, (lead, f) in enumerate(rows)]

    events = lead_edit_events(changes, links)

    expected = [c.activity_id for c in changes if links.get(c.lead_id)]
    assert [e.activity_id for e in events] == expected
    assert all(e.veeva_account_id == links[e.lead_id] for e in events)

"""Contract tests: the real marketorestpython client against the Marketo emulator over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from marketo_fixtures import (  # noqa: F401 - fixtures are found by name
    RunningMarketo,
    marketo_fixture,
    mc_fixture,
    run_marketo,
)
from marketorestpython.client import MarketoClient

pytestmark = pytest.mark.integration


def _leads(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"veevaAccountId": f"001A{i:05d}", "email": f"hcp{i}@example.com", "firstName": f"F{i}"}
        for i in range(start, start + count)
    ]


def _code(excinfo: pytest.ExceptionInfo[Exception]) -> str:
    return str(excinfo.value.args[0]["code"])


def test_identity_returns_the_same_token_counting_down(marketo: RunningMarketo) -> None:
    params = {
        "grant_type": "client_credentials",
        "client_id": "contract-client",
        "client_secret": "contract-secret",
    }
    first = marketo.http.get("/identity/oauth/token", params=params).json()
    marketo.admin("POST", "clock", {"advance_seconds": 100})
    second = marketo.http.get("/identity/oauth/token", params=params).json()

    assert first["expires_in"] == 3599
    assert first["token_type"] == "bearer"
    assert first["scope"]
    assert second["access_token"] == first["access_token"]
    assert 3495 <= second["expires_in"] <= 3499


def test_identity_rejects_bad_secret(marketo: RunningMarketo) -> None:
    response = marketo.http.get(
        "/identity/oauth/token",
        params={
            "grant_type": "client_credentials",
            "client_id": "contract-client",
            "client_secret": "wrong",
        },
    )
    assert response.status_code == 401
    assert response.json()["error"] in {"invalid_client", "unauthorized"}
    bad = marketo.client()
    bad.client_secret = "wrong"
    with pytest.raises(Exception, match="Bad client credentials"):
        bad.execute(method="describe")


def test_expired_token_is_refused_with_602_until_the_client_forgets_it(
    marketo: RunningMarketo, mc: MarketoClient
) -> None:
    # marketorestpython's 601/602 retry calls authenticate(), which is a no-op while its own
    # clock says the token has > 60 s left: a token that expires early is retried 10 times
    # and execute() returns None. Our own client must drop its token on 601/602.
    mc.execute(method="describe")
    first_token = mc.token
    marketo.admin("POST", "clock", {"advance_seconds": 3600})

    silently_failed = mc.execute(method="describe")
    mc.valid_until = None
    fields = mc.execute(method="describe")

    assert silently_failed is None
    assert fields
    assert mc.token != first_token
    counters = marketo.admin("GET", "counters")
    assert counters["rejected"]["602"] == 10
    assert counters["calls"]["GET /identity/oauth/token"] == 2


def test_short_token_lifetime_is_refreshed_by_the_client(
    marketo: RunningMarketo, mc: MarketoClient
) -> None:
    marketo.admin("POST", "limits", {"token_lifetime_seconds": 30})
    mc.execute(method="describe")
    token = mc.token
    assert mc.expires_in == 29
    mc.execute(method="describe2")
    assert mc.token == token  # re-asked because < 60 s remain, and got the same token
    marketo.admin("POST", "clock", {"advance_seconds": 31})

    mc.execute(method="describe")

    assert mc.token != token
    assert marketo.admin("GET", "counters")["calls"]["GET /identity/oauth/token"] == 3


def test_injected_602_is_retried_by_the_client(marketo: RunningMarketo, mc: MarketoClient) -> None:
    marketo.admin("POST", "faults", {"path_pattern": r"describe2\.json$", "code": "602"})

    result = mc.execute(method="describe2")

    assert result[0]["name"] == "API Lead"
    assert marketo.admin("GET", "counters")["rejected"]["602"] == 1
    assert marketo.admin("GET", "faults") == []


def test_describe_and_describe2(marketo: RunningMarketo, mc: MarketoClient) -> None:
    marketo.add_lead_field("veevaAccountId")
    described = {f["rest"]["name"]: f for f in mc.execute(method="describe")}
    described2 = mc.execute(method="describe2")[0]

    assert described["email"]["dataType"] == "email"
    assert described["id"]["rest"]["readOnly"] is True
    assert "veevaAccountId" in described
    assert ["veevaAccountId"] in described2["searchableFields"]
    assert ["firstName"] not in described2["searchableFields"]
    assert {f["name"] for f in described2["fields"]} >= {"email", "firstName", "veevaAccountId"}


def test_sync_300_leads_then_update_them(marketo: RunningMarketo, mc: MarketoClient) -> None:
    marketo.add_lead_field("veevaAccountId")
    leads = _leads(300)

    created = mc.execute(
        method="create_update_leads",
        leads=leads,
        action="createOrUpdate",
        lookupField="veevaAccountId",
    )
    updated = mc.execute(method="create_update_leads", leads=leads, lookupField="veevaAccountId")

    assert [r["status"] for r in created] == ["created"] * 300
    assert [r["status"] for r in updated] == ["updated"] * 300
    assert [r["id"] for r in updated] == [r["id"] for r in created]
    assert marketo.admin("GET", "counters")["records"]["lead"] == 600


def test_sync_of_301_leads_is_refused(marketo: RunningMarketo, mc: MarketoClient) -> None:
    with pytest.raises(Exception) as excinfo:  # noqa: PT011 - the client raises bare Exception
        mc.execute(method="create_update_leads", leads=_leads(301), lookupField="email")

    assert _code(excinfo) == "1003"
    assert marketo.admin("GET", "leads") == []


def test_record_level_errors_come_back_per_record(
    marketo: RunningMarketo, mc: MarketoClient
) -> None:
    marketo.add_lead_field("veevaAccountId")
    marketo.add_lead_field("veevaCreatedDate", "datetime")
    mc.execute(method="create_update_leads", leads=_leads(1), lookupField="veevaAccountId")

    result = mc.execute(
        method="create_update_leads",
        action="createOnly",
        lookupField="veevaAccountId",
        leads=[
            {"veevaAccountId": "001A00000"},
            {"veevaAccountId": "new-1", "email": "not-an-email"},
            {"veevaAccountId": "new-2", "veevaCreatedDate": "yesterday"},
            {"veevaAccountId": "new-3", "noSuchField": "x"},
            {"veevaAccountId": "new-4"},
            {"veevaAccountId": "new-4"},
        ],
    )

    codes = [r["reasons"][0]["code"] if r["status"] == "skipped" else r["status"] for r in result]
    assert codes == ["1005", "1003", "1003", "1006", "created", "1036"]


def test_get_leads_by_filter_pages_through_form_posts(
    marketo: RunningMarketo, mc: MarketoClient
) -> None:
    marketo.add_lead_field("veevaAccountId")
    mc.execute(method="create_update_leads", leads=_leads(5), lookupField="veevaAccountId")
    wanted = [f"001A{i:05d}" for i in range(5)] + ["missing"]

    rows = mc.execute(
        method="get_multiple_leads_by_filter_type",
        filterType="veevaAccountId",
        filterValues=wanted,
        fields=["email", "firstName", "veevaAccountId"],
        batchSize=2,
    )

    assert sorted(r["veevaAccountId"] for r in rows) == wanted[:5]
    assert all(set(r) == {"id", "email", "firstName", "veevaAccountId"} for r in rows)
    calls = marketo.admin("GET", "counters")["calls"]
    assert calls["POST /rest/v1/leads.json"] == 1 + 3  # one sync, three pages


def test_lead_changes_show_who_changed_what_and_resume_from_a_saved_token(
    marketo: RunningMarketo, mc: MarketoClient
) -> None:
    marketo.add_lead_field("veevaAccountId")
    created = mc.execute(
        method="create_update_leads", leads=_leads(2), lookupField="veevaAccountId"
    )
    first, second = created[0]["id"], created[1]["id"]
    token = mc.execute(method="get_paging_token", sinceDatetime="2000-01-01T00:00:00Z")
    mc.execute(
        method="create_update_leads",
        leads=[{"veevaAccountId": "001A00000", "firstName": "ByApi"}],
        lookupField="veevaAccountId",
    )
    marketo.admin("POST", f"leads/{first}/edit", {"changes": {"phone": "555"}, "as": "person"})
    marketo.admin(
        "POST", f"leads/{second}/edit", {"changes": {"firstName": "ByForm"}, "as": "form"}
    )

    pages = list(
        mc.get_lead_changes_yield(
            fields=["firstName", "phone"], nextPageToken=token, return_full_result=True
        )
    )
    rows = [row for page in pages for row in page["result"]]
    changes = [
        (
            r["leadId"],
            r["fields"][0]["name"],
            r["fields"][0]["newValue"],
            {a["name"]: a["value"] for a in r["attributes"]}["Source"],
        )
        for r in rows
        if r["activityTypeId"] == 13
    ]
    assert changes == [
        (first, "firstName", "ByApi", "Web service API"),
        (first, "phone", "555", "Marketo UI"),
        (second, "firstName", "ByForm", "Web form fillout"),
    ]
    assert [r["activityTypeId"] for r in rows].count(12) == 2
    assert all(r["activityDate"].endswith("Z") for r in rows)
    assert pages[-1]["moreResult"] is False

    saved = pages[-1]["nextPageToken"]
    marketo.admin("POST", f"leads/{first}/edit", {"changes": {"firstName": "Later"}})
    resumed = mc.execute(method="get_lead_changes", fields=["firstName"], nextPageToken=saved)

    assert [(r["leadId"], r["fields"][0]["newValue"]) for r in resumed] == [(first, "Later")]


def test_custom_objects_sync_query_and_delete(marketo: RunningMarketo, mc: MarketoClient) -> None:
    marketo.add_lead_field("veevaAccountId")
    mc.execute(method="create_update_leads", leads=_leads(1), lookupField="veevaAccountId")
    marketo.admin(
        "POST",
        "custom-objects",
        {
            "apiName": "veevaCall_c",
            "displayName": "Veeva Call",
            "dedupeFields": ["veevaCallId"],
            "fields": [
                {"name": "veevaCallId", "dataType": "string"},
                {"name": "callDate", "dataType": "date"},
                {"name": "status", "dataType": "string"},
            ],
            "relationship": {
                "field": "veevaAccountId",
                "relatedTo": {"name": "Lead", "field": "veevaAccountId"},
            },
        },
    )
    records = [
        {"veevaCallId": "a0C1", "veevaAccountId": "001A00000", "callDate": "2024-05-01"},
        {"veevaCallId": "a0C2", "veevaAccountId": "001A00000", "status": "Submitted_vod"},
        {"veevaCallId": "a0C3", "veevaAccountId": "001NOBODY"},
    ]

    synced = mc.execute(method="create_update_custom_objects", name="veevaCall_c", input=records)
    again = mc.execute(
        method="create_update_custom_objects",
        name="veevaCall_c",
        input=records[:1],
        action="createOrUpdate",
        dedupeBy="dedupeFields",
    )
    listed = mc.execute(method="get_list_of_custom_objects", names=["veevaCall_c"])
    described = mc.execute(method="describe_custom_object", name="veevaCall_c")
    found = mc.execute(
        method="get_custom_objects",
        name="veevaCall_c",
        filterType="dedupeFields",
        input=[{"veevaCallId": "a0C1"}, {"veevaCallId": "a0C2"}],
        fields=["veevaCallId", "callDate", "veevaAccountId"],
    )
    deleted = mc.execute(
        method="delete_custom_objects",
        name="veevaCall_c",
        input=[{"veevaCallId": "a0C1"}],
        deleteBy="dedupeFields",
    )

    assert [r["status"] for r in synced] == ["created", "created", "skipped"]
    assert synced[2]["reasons"][0]["code"] == "1004"
    assert again[0] == {"seq": 0, "status": "updated", "marketoGUID": synced[0]["marketoGUID"]}
    assert listed[0]["relationships"][0]["relatedTo"] == {"name": "Lead", "field": "veevaAccountId"}
    assert {f["name"] for f in described[0]["fields"]} >= {"marketoGUID", "veevaCallId", "callDate"}
    assert [(r["seq"], r["veevaCallId"]) for r in found] == [(0, "a0C1"), (1, "a0C2")]
    assert found[0]["callDate"] == "2024-05-01"
    assert deleted[0]["status"] == "deleted"
    remaining = marketo.admin("GET", "custom-objects/veevaCall_c/records")
    assert [r["veevaCallId"] for r in remaining] == ["a0C2"]


def test_delete_leads_through_the_client_feeds_deleted_leads(
    marketo: RunningMarketo, mc: MarketoClient
) -> None:
    created = mc.execute(
        method="create_update_leads", leads=[{"email": "gone@example.com"}], lookupField="email"
    )
    lead_id = created[0]["id"]

    result = mc.execute(method="delete_lead", id=[lead_id, 999999])
    deleted = mc.execute(method="get_deleted_leads", sinceDatetime="2000-01-01")

    assert result[0] == {"id": lead_id, "status": "deleted"}
    assert result[1]["reasons"][0]["code"] == "1004"
    assert [d["leadId"] for d in deleted] == [lead_id]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with run_marketo(state_dir) as first:
        first.add_lead_field("veevaAccountId")
        first.client().execute(
            method="create_update_leads", leads=_leads(3), lookupField="veevaAccountId"
        )
        token = first.token()
    with run_marketo(state_dir) as second:
        rows = second.client().execute(
            method="get_multiple_leads_by_filter_type",
            filterType="veevaAccountId",
            filterValues=["001A00002"],
            fields=["firstName"],
        )
        same_token = second.token()

    assert [r["firstName"] for r in rows] == ["F2"]
    assert same_token == token

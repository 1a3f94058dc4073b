"""Marketo emulator request handling, in process (httpx ASGI transport, no network)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from veeva_marketo_sync.emulators.marketo import create_app


class Api:
    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.http.request(method, path, headers=self.headers, **kwargs)
        body: dict[str, Any] = response.json()
        return body

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, f"/__admin/{path}", json=body)
        assert response.status_code < 300, response.text
        return response.json()

    async def sync(self, records: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
        body = await self.call("POST", "/rest/v1/leads.json", json={"input": records, **options})
        assert body["success"], body
        result: list[dict[str, Any]] = body["result"]
        return result


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    app = create_app(tmp_path, client_id="c", client_secret="s")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        app.state.emulator.store.set_credentials("c", "s", "api@x")
        token = (
            await http.get(
                "/identity/oauth/token",
                params={"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"},
            )
        ).json()["access_token"]
        yield Api(http, token)


def _reasons(results: list[dict[str, Any]]) -> list[str]:
    return [r["reasons"][0]["code"] if r["status"] == "skipped" else r["status"] for r in results]


async def test_update_only_create_duplicate_and_multiple_matches(api: Api) -> None:
    assert _reasons(await api.sync([{"email": "a@x.com"}], action="updateOnly")) == ["1004"]
    await api.sync([{"email": "a@x.com"}], action="createDuplicate")
    await api.sync([{"email": "a@x.com"}], action="createDuplicate")

    result = await api.sync([{"email": "A@X.com", "firstName": "A"}])

    assert _reasons(result) == ["1007"]


async def test_id_lookup_needs_update_only(api: Api) -> None:
    created = await api.sync([{"email": "a@x.com"}])
    refused = await api.call(
        "POST", "/rest/v1/leads.json", json={"lookupField": "id", "input": [{"id": 1}]}
    )
    updated = await api.sync(
        [{"id": created[0]["id"], "firstName": "Z"}], lookupField="id", action="updateOnly"
    )

    assert refused["errors"][0]["code"] == "1003"
    assert updated == [{"id": created[0]["id"], "status": "updated"}]


async def test_unchanged_values_log_no_change_activity(api: Api) -> None:
    await api.sync([{"email": "a@x.com", "firstName": "A"}])
    await api.sync([{"email": "a@x.com", "firstName": "A"}])
    token = await api.call("GET", "/rest/v1/activities/pagingtoken.json?sinceDatetime=2000-01-01")
    page = await api.call(
        "GET",
        "/rest/v1/activities/leadchanges.json",
        params={"nextPageToken": token["nextPageToken"], "fields": "firstName"},
    )

    assert [r["activityTypeId"] for r in page["result"]] == [12]


async def test_lead_changes_pages_can_be_empty_while_more_results_remain(api: Api) -> None:
    created = await api.sync([{"email": "a@x.com"}])
    token = await api.call("GET", "/rest/v1/activities/pagingtoken.json?sinceDatetime=2000-01-01")
    lead_id = created[0]["id"]
    await api.admin("POST", f"leads/{lead_id}/edit", {"changes": {"city": "Paris"}})
    await api.admin("POST", f"leads/{lead_id}/edit", {"changes": {"firstName": "Z"}})
    params = {"nextPageToken": token["nextPageToken"], "fields": "firstName", "batchSize": 1}

    pages = []
    while True:
        page = await api.call("GET", "/rest/v1/activities/leadchanges.json", params=params)
        pages.append(page)
        params["nextPageToken"] = page["nextPageToken"]
        if not page["moreResult"]:
            break

    assert [len(p["result"]) for p in pages] == [1, 0, 1]
    assert [p["moreResult"] for p in pages] == [True, True, False]


async def test_custom_object_record_errors(api: Api) -> None:
    await api.admin(
        "POST",
        "custom-objects",
        {
            "apiName": "veevaCall_c",
            "dedupeFields": ["callId"],
            "fields": [{"name": "callId"}, {"name": "n", "dataType": "integer"}],
        },
    )
    path = "/rest/v1/customobjects/veevaCall_c.json"
    await api.call("POST", path, json={"input": [{"callId": "c1"}]})

    body = await api.call(
        "POST",
        path,
        json={
            "action": "createOnly",
            "input": [
                {"callId": "c1"},
                {"callId": "c2", "n": "x"},
                {"callId": "c3", "zz": 1},
                {"callId": "c4"},
                {"callId": "c4"},
                {"n": 1},
            ],
        },
    )
    missing = await api.call("POST", "/rest/v1/customobjects/nope_c.json", json={"input": [{}]})

    assert _reasons(body["result"]) == ["1017", "1003", "1006", "created", "1036", "1003"]
    assert missing["errors"][0]["code"] == "1013"


async def test_removed_lead_field_becomes_unknown(api: Api) -> None:
    await api.admin("POST", "lead-fields", {"name": "veevaNPI"})
    assert _reasons(await api.sync([{"email": "a@x.com", "veevaNPI": "1"}])) == ["created"]
    await api.admin("DELETE", "lead-fields/veevaNPI")

    assert _reasons(await api.sync([{"email": "b@x.com", "veevaNPI": "1"}])) == ["1006"]


async def test_admin_rejects_bad_definitions(api: Api) -> None:
    bad_type = await api.http.post("/__admin/lead-fields", json={"name": "x", "dataType": "blob"})
    bad_object = await api.http.post("/__admin/custom-objects", json={"apiName": "noSuffix"})
    bad_fault = await api.http.post("/__admin/faults", json={"path_pattern": "x"})

    assert [bad_type.status_code, bad_object.status_code, bad_fault.status_code] == [400] * 3

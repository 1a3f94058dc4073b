"""MarketoClient against a Marketo played by httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from marketo_fake import BASE_URL, CLIENT_ID, CLIENT_SECRET, FakeMarketo, error, ok

from veeva_marketo_sync.clients.marketo import MarketoClient
from veeva_marketo_sync.clients.ports import LeadChange
from veeva_marketo_sync.clients.retry import RetryPolicy
from veeva_marketo_sync.errors import (
    Action,
    FatalError,
    QuotaExhaustedError,
    RecordRejectedError,
    TransientError,
)
from veeva_marketo_sync.settings import MarketoSettings

LEADS = "/rest/v1/leads.json"


def settings(**overrides: Any) -> MarketoSettings:
    values: dict[str, Any] = {
        "base_url": BASE_URL,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "calls_per_window": 100,
        "window_seconds": 0.01,
    }
    return MarketoSettings(**(values | overrides))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def fake() -> FakeMarketo:
    return FakeMarketo()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(fake: FakeMarketo, sleeps: Sleeps, clock: Clock) -> AsyncIterator[MarketoClient]:
    async with MarketoClient(
        settings(),
        transport=fake.transport(),
        retry=RetryPolicy(attempts=4, initial_wait_seconds=1, max_wait_seconds=8),
        sleep=sleeps,
        clock=clock,
    ) as marketo:
        yield marketo


def lead(n: int) -> dict[str, Any]:
    return {"email": f"hcp{n}@example.com", "firstName": f"F{n}"}


async def test_token_is_fetched_once_with_client_credentials_and_sent_as_bearer(
    client: MarketoClient, fake: FakeMarketo
) -> None:
    await client.sync_leads([lead(1)], lookup_field="email")
    await client.sync_leads([lead(2)], lookup_field="email")

    assert len(fake.token_requests) == 1
    params = fake.token_requests[0].url.params
    assert params["grant_type"] == "client_credentials"
    assert params["client_id"] == CLIENT_ID
    assert [r.headers["Authorization"] for r in fake.api_requests] == ["Bearer token-1:ab"] * 2
    assert all("access_token" not in r.url.params for r in fake.api_requests)
    assert client.calls_made == 2


async def test_token_is_refreshed_when_less_than_a_minute_remains(
    client: MarketoClient, fake: FakeMarketo, clock: Clock
) -> None:
    await client.sync_leads([lead(1)], lookup_field="email")
    clock.now += 3599 - 61
    await client.sync_leads([lead(2)], lookup_field="email")
    assert len(fake.token_requests) == 1
    clock.now += 2
    await client.sync_leads([lead(3)], lookup_field="email")
    assert len(fake.token_requests) == 2
    assert fake.api_requests[-1].headers["Authorization"] == "Bearer token-2:ab"


async def test_expired_token_602_is_refreshed_and_the_call_repeated_without_backoff(
    client: MarketoClient, fake: FakeMarketo, sleeps: Sleeps
) -> None:
    fake.script(LEADS, error("602", "Access token expired"))
    results = await client.sync_leads([lead(1)], lookup_field="email")

    assert [r.ok for r in results] == [True]
    assert len(fake.token_requests) == 2
    assert len(fake.api_requests) == 2
    assert sleeps.waits == []


async def test_601_with_a_fresh_token_is_fatal(client: MarketoClient, fake: FakeMarketo) -> None:
    fake.script(LEADS, error("601"), error("601"))
    with pytest.raises(FatalError, match="601") as caught:
        await client.sync_leads([lead(1)], lookup_field="email")
    assert caught.value.action is Action.STOP
    assert len(fake.api_requests) == 2


async def test_rate_limit_606_twice_then_success_backs_off_twice(
    client: MarketoClient, fake: FakeMarketo, sleeps: Sleeps
) -> None:
    fake.script(LEADS, error("606", "Max rate limit exceeded"), error("606"))
    results = await client.sync_leads([lead(1), lead(2)], lookup_field="email")

    assert [r.status for r in results] == ["created", "created"]
    assert len(fake.api_requests) == 3
    assert len(sleeps.waits) == 2
    assert sleeps.waits[1] >= 2  # exponential: 1 s then 2 s, plus jitter


async def test_retries_are_bounded(client: MarketoClient, fake: FakeMarketo) -> None:
    fake.script(LEADS, *[error("615")] * 10)
    with pytest.raises(TransientError, match="615"):
        await client.sync_leads([lead(1)], lookup_field="email")
    assert len(fake.api_requests) == 4


async def test_http_5xx_and_timeouts_are_retried(client: MarketoClient, fake: FakeMarketo) -> None:
    fake.script(LEADS, httpx.Response(502, text="bad gateway"), httpx.ReadTimeout("slow"))
    results = await client.sync_leads([lead(1)], lookup_field="email")
    assert results[0].ok
    assert len(fake.api_requests) == 3


async def test_daily_quota_607_pauses_without_retrying(
    client: MarketoClient, fake: FakeMarketo, sleeps: Sleeps
) -> None:
    fake.script(LEADS, error("607", "Daily quota reached"))
    with pytest.raises(QuotaExhaustedError) as caught:
        await client.sync_leads([lead(1)], lookup_field="email")

    assert caught.value.action is Action.PAUSE
    assert caught.value.resets_in_seconds is not None
    assert 0 < caught.value.resets_in_seconds <= 25 * 3600
    assert len(fake.api_requests) == 1
    assert sleeps.waits == []
    assert client.budget_status().paused_until is not None

    with pytest.raises(QuotaExhaustedError):
        await client.sync_leads([lead(2)], lookup_field="email")
    assert len(fake.api_requests) == 1


async def test_record_level_reasons_become_write_results_in_input_order(
    client: MarketoClient, fake: FakeMarketo
) -> None:
    fake.script(
        LEADS,
        ok(
            [
                {"id": 7, "status": "updated"},
                {"status": "skipped", "reasons": [{"code": "1003", "message": "Invalid data"}]},
                {"status": "skipped", "reasons": [{"code": "1037", "message": "Lead was skipped"}]},
                {"status": "skipped", "reasons": [{"code": "1014", "message": "Failed to create"}]},
            ]
        ),
    )
    results = await client.sync_leads([lead(n) for n in range(4)], lookup_field="email")

    assert [r.key for r in results] == [f"hcp{n}@example.com" for n in range(4)]
    assert results[0].ok
    assert results[0].remote_id == "7"
    assert results[0].status == "updated"
    rejected = results[1]
    assert (rejected.ok, rejected.error_code, rejected.retriable) == (False, "1003", False)
    assert rejected.message == "Invalid data"
    assert results[2].ok
    assert results[2].status == "skipped"
    assert (results[3].ok, results[3].retriable) == (False, True)
    body = json.loads(fake.api_requests[0].content)
    assert body["action"] == "createOrUpdate"
    assert body["lookupField"] == "email"


async def test_call_level_record_error_rejects_the_batch(
    client: MarketoClient, fake: FakeMarketo
) -> None:
    fake.script(LEADS, error("1006", "Field 'foo' not found"))
    with pytest.raises(RecordRejectedError) as caught:
        await client.sync_leads([lead(1)], lookup_field="email")
    assert caught.value.code == "1006"


async def test_more_than_300_records_is_refused_before_any_call(
    client: MarketoClient, fake: FakeMarketo
) -> None:
    with pytest.raises(ValueError, match="300"):
        await client.sync_leads([lead(n) for n in range(301)], lookup_field="email")
    with pytest.raises(ValueError, match="300"):
        await client.delete_leads(list(range(301)))
    assert fake.api_requests == []
    assert len(await client.sync_leads([lead(n) for n in range(300)], lookup_field="email")) == 300


async def test_get_leads_switches_to_post_with_method_get_for_long_urls(
    client: MarketoClient, fake: FakeMarketo
) -> None:
    short = await client.get_leads("email", ["a@example.com"], ["id", "email"])
    values = [f"someone.with.a.long.address.{n}@example.com" for n in range(250)]
    long = await client.get_leads("email", values, ["id", "email"])

    first, second = fake.api_requests
    assert first.method == "GET"
    assert first.url.params["fields"] == "id,email"
    assert second.method == "POST"
    assert second.url.path == LEADS
    form = parse_qs(second.content.decode())
    assert form["_method"] == ["GET"]
    assert form["filterType"] == ["email"]
    assert len(short) == 1
    assert len(long) == 250


async def test_get_leads_follows_next_page_token(client: MarketoClient, fake: FakeMarketo) -> None:
    fake.script(
        LEADS,
        ok([{"id": 1}], nextPageToken="P2"),
        ok([{"id": 2}]),
    )
    leads = await client.get_leads("veevaId", ["001A", "001B"], ["id"])
    assert [row["id"] for row in leads] == [1, 2]
    assert fake.api_requests[1].url.params["nextPageToken"] == "P2"


async def test_lead_changes_yield_one_row_per_changed_field(
    client: MarketoClient, fake: FakeMarketo
) -> None:
    fake.script(
        "/rest/v1/activities/leadchanges.json",
        ok(
            [
                {
                    "id": 1078,
                    "leadId": 775,
                    "activityDate": "2024-05-01T10:00:00Z",
                    "activityTypeId": 13,
                    "fields": [
                        {"id": 48, "name": "firstName", "newValue": "Ann", "oldValue": "Anne"},
                        {"id": 51, "name": "email", "newValue": "a@x.com", "oldValue": None},
                    ],
                    "attributes": [
                        {"name": "Source", "value": "Marketo UI"},
                        {"name": "Reason", "value": "Changed by user"},
                        {"name": "Lead ID", "value": 775},
                    ],
                },
                {"id": 1079, "leadId": 776, "activityDate": "2024-05-01T10:01:00Z",
                 "activityTypeId": 12, "attributes": []},
            ],
            nextPageToken="NEXT",
            moreResult=True,
        ),
    )  # fmt: skip
    page = await client.lead_changes("START", ["firstName", "email"], batch_size=100)

    request = fake.api_requests[0]
    assert request.url.params["nextPageToken"] == "START"
    assert request.url.params["fields"] == "firstName,email"
    assert request.url.params["batchSize"] == "100"
    assert (page.next_page_token, page.more_result) == ("NEXT", True)
    assert page.changes == (
        LeadChange(1078, 775, "2024-05-01T10:00:00Z", "firstName", "Anne", "Ann",
                   "Marketo UI", "Changed by user",
                   {"Source": "Marketo UI", "Reason": "Changed by user", "Lead ID": "775"}),
        LeadChange(1078, 775, "2024-05-01T10:00:00Z", "email", None, "a@x.com",
                   "Marketo UI", "Changed by user",
                   {"Source": "Marketo UI", "Reason": "Changed by user", "Lead ID": "775"}),
    )  # fmt: skip


async def test_empty_lead_changes_page_keeps_paging(
    client: MarketoClient, fake: FakeMarketo
) -> None:
    fake.script("/rest/v1/activities/pagingtoken.json", ok(nextPageToken="T0"))
    fake.script("/rest/v1/activities/leadchanges.json", ok(nextPageToken="T1", moreResult=True))
    token = await client.paging_token("2024-05-01T00:00:00Z")
    page = await client.lead_changes(token, ["email"])
    assert fake.api_requests[0].url.params["sinceDatetime"] == "2024-05-01T00:00:00Z"
    assert (page.changes, page.next_page_token, page.more_result) == ((), "T1", True)


async def test_custom_object_results_follow_seq_and_carry_dedupe_keys(
    client: MarketoClient, fake: FakeMarketo
) -> None:
    path = "/rest/v1/customobjects/veeva_call_c.json"
    fake.script(
        path,
        ok(
            [
                {"seq": 1, "status": "skipped", "reasons": [{"code": "1036", "message": "Dup"}]},
                {"seq": 0, "status": "created", "marketoGUID": "g-0"},
            ]
        ),
    )
    records = [{"veevaCallId": "a0X1", "leadId": 5}, {"veevaCallId": "a0X1", "leadId": 5}]
    results = await client.sync_custom_objects("veeva_call_c", records)

    assert [(r.key, r.ok, r.remote_id, r.error_code) for r in results] == [
        ("a0X1", True, "g-0", None),
        ("a0X1", False, None, "1036"),
    ]
    body = json.loads(fake.api_requests[-1].content)
    assert body == {"action": "createOrUpdate", "dedupeBy": "dedupeFields", "input": records}
    await client.sync_custom_objects("veeva_call_c", records[:1])
    lookups = [r for r in fake.api_requests if r.url.path == "/rest/v1/customobjects.json"]
    assert len(lookups) == 1


async def test_delete_leads_maps_each_id(client: MarketoClient, fake: FakeMarketo) -> None:
    fake.script(
        "/rest/v1/leads/delete.json",
        ok(
            [
                {"id": 1, "status": "deleted"},
                {
                    "id": 2,
                    "status": "skipped",
                    "reasons": [{"code": "1004", "message": "not found"}],
                },
            ]
        ),
    )
    results = await client.delete_leads([1, 2])
    assert [(r.key, r.ok, r.error_code) for r in results] == [
        ("1", True, None),
        ("2", False, "1004"),
    ]
    assert json.loads(fake.api_requests[0].content) == {"input": [{"id": 1}, {"id": 2}]}


async def test_result_count_mismatch_is_fatal(client: MarketoClient, fake: FakeMarketo) -> None:
    fake.script(LEADS, ok([{"id": 1, "status": "created"}]))
    with pytest.raises(FatalError, match="1 results for 2 records"):
        await client.sync_leads([lead(1), lead(2)], lookup_field="email")


async def test_bad_client_secret_is_fatal_and_names_the_key(fake: FakeMarketo) -> None:
    async with MarketoClient(
        settings(client_secret="wrong-secret"), transport=fake.transport()
    ) as marketo:
        with pytest.raises(FatalError) as caught:
            await marketo.describe_leads()
    assert "marketo.client_secret" in str(caught.value)
    assert "wrong-secret" not in str(caught.value)
    assert fake.api_requests == []

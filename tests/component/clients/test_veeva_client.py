"""VeevaClient against a Salesforce org played by a requests transport adapter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from salesforce_fake import (
    DATA,
    INSTANCE,
    LOGIN_URL,
    ORG_ID,
    PASSWORD,
    SECURITY_TOKEN,
    USER_ID,
    USERNAME,
    FakeSalesforce,
    Reply,
    query_param,
)

from veeva_marketo_sync.clients.retry import RetryPolicy
from veeva_marketo_sync.clients.veeva import ApiUsage, VeevaClient
from veeva_marketo_sync.errors import Action, FatalError, TransientError
from veeva_marketo_sync.settings import VeevaSettings

SOQL = "SELECT Id, RecordType.DeveloperName, PersonEmail FROM Account"


def settings(**overrides: Any) -> VeevaSettings:
    values: dict[str, Any] = {
        "login_url": LOGIN_URL,
        "username": USERNAME,
        "password": PASSWORD,
        "security_token": SECURITY_TOKEN,
    }
    return VeevaSettings(**(values | overrides))


@pytest.fixture
def org() -> FakeSalesforce:
    return FakeSalesforce()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def veeva(org: FakeSalesforce, sleeps: list[float]) -> Iterator[VeevaClient]:
    session = requests.Session()
    session.mount("https://", org)
    yield VeevaClient(
        settings(), session=session, retry=RetryPolicy(attempts=3), sleep=sleeps.append
    )
    session.close()


def account(n: int, record_type: str | None = "Professional_vod") -> dict[str, Any]:
    rt = None
    if record_type:
        rt = {"attributes": {"type": "RecordType"}, "DeveloperName": record_type}
    return {
        "attributes": {"type": "Account", "url": f"{DATA}sobjects/Account/001{n}"},
        "Id": f"001{n}",
        "RecordType": rt,
        "PersonEmail": f"hcp{n}@example.com",
    }


def test_soap_login_at_the_configured_url_parses_session_user_and_org(
    veeva: VeevaClient, org: FakeSalesforce
) -> None:
    assert (veeva.user_id, veeva.org_id) == (USER_ID, ORG_ID)
    login = org.requests[0]
    assert login.url == f"{LOGIN_URL}/services/Soap/u/59.0"
    assert login.headers["SOAPAction"] == "login"
    assert veeva.calls_made == 0


def test_bad_credentials_are_fatal_with_the_login_fault(org: FakeSalesforce) -> None:
    session = requests.Session()
    session.mount("https://", org)
    veeva = VeevaClient(settings(password="wrong"), session=session)
    with pytest.raises(FatalError, match="INVALID_LOGIN") as caught:
        _ = veeva.user_id
    assert "veeva.password" in str(caught.value)


def test_query_pages_follow_next_records_url_and_flatten_relationships(
    veeva: VeevaClient, org: FakeSalesforce
) -> None:
    def first(_: requests.PreparedRequest) -> Reply:
        return 200, {
            "totalSize": 3,
            "done": False,
            "nextRecordsUrl": f"{DATA}query/01gD0000002HU6KIAW-2",
            "records": [account(1), account(2, None)],
        }

    def second(_: requests.PreparedRequest) -> Reply:
        return 200, {"totalSize": 3, "done": True, "records": [account(3)]}

    org.route("GET", f"{DATA}query/", first)
    org.route("GET", f"{DATA}query/01gD0000002HU6KIAW-2", second)

    pages = list(veeva.query_pages(SOQL, batch_size=500))

    assert pages == [
        [
            {"Id": "0011", "RecordType.DeveloperName": "Professional_vod",
             "PersonEmail": "hcp1@example.com"},
            {"Id": "0012", "RecordType": None, "PersonEmail": "hcp2@example.com"},
        ],
        [{"Id": "0013", "RecordType.DeveloperName": "Professional_vod",
          "PersonEmail": "hcp3@example.com"}],
    ]  # fmt: skip
    api = org.api_requests()
    assert query_param(api[0], "q") == SOQL
    assert [r.headers["Sforce-Query-Options"] for r in api] == ["batchSize=500"] * 2
    assert (api[1].url or "").startswith(INSTANCE)
    assert veeva.calls_made == 2
    assert veeva.api_usage == ApiUsage(used=102, limit=15000)


def test_include_deleted_uses_query_all(veeva: VeevaClient, org: FakeSalesforce) -> None:
    org.route("GET", f"{DATA}queryAll/", lambda _: (200, {"done": True, "records": []}))
    assert list(veeva.query_pages(SOQL, include_deleted=True)) == []
    assert "/queryAll/" in (org.api_requests()[0].url or "")


def test_expired_session_logs_in_again_and_repeats_the_call(
    veeva: VeevaClient, org: FakeSalesforce, sleeps: list[float]
) -> None:
    org.route("GET", f"{DATA}query/", lambda _: (200, {"totalSize": 7, "done": True}))
    assert veeva.count("Account WHERE IsPersonAccount = true") == 7
    org.expire_sessions()

    assert veeva.count("FROM Account") == 7

    assert len(org.sessions) == 2
    last = org.api_requests()[-1]
    assert last.headers["Authorization"] == f"Bearer {org.sessions[1]}"
    assert query_param(last, "q") == "SELECT COUNT() FROM Account"
    assert sleeps == []


def test_transient_errors_back_off_then_give_up(
    veeva: VeevaClient, org: FakeSalesforce, sleeps: list[float]
) -> None:
    busy = [{"errorCode": "SERVER_UNAVAILABLE", "message": "try later"}]
    org.route("GET", f"{DATA}query/", lambda _: (503, busy))
    with pytest.raises(TransientError, match="SERVER_UNAVAILABLE") as caught:
        veeva.count("Account")
    assert caught.value.action is Action.RETRY
    assert len(sleeps) == 2
    assert len(org.api_requests()) == 3


def test_invalid_field_is_fatal_and_names_the_query(
    veeva: VeevaClient, org: FakeSalesforce, sleeps: list[float]
) -> None:
    bad = [{"errorCode": "INVALID_FIELD", "message": "No such column 'Foo__c' on entity 'Account'"}]
    org.route("GET", f"{DATA}query/", lambda _: (400, bad))
    with pytest.raises(FatalError) as caught:
        list(veeva.query_pages("SELECT Foo__c FROM Account"))
    text = str(caught.value)
    assert "Foo__c" in text
    assert "SELECT Foo__c FROM Account" in text
    assert sleeps == []


def test_update_records_classifies_each_record(veeva: VeevaClient, org: FakeSalesforce) -> None:
    def patch(request: requests.PreparedRequest) -> Reply:
        body = json.loads(request.body or b"{}")
        assert body["allOrNone"] is False
        assert {r["attributes"]["type"] for r in body["records"]} == {"Account"}
        return 200, [
            {"id": "0011", "success": True, "errors": []},
            {"success": False, "errors": [{"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                           "message": "Email domain blocked",
                                           "fields": ["PersonEmail"]}]},
            {"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW",
                                           "message": "unable to obtain exclusive access"}]},
        ]  # fmt: skip

    org.route("PATCH", f"{DATA}composite/sobjects", patch)
    records = [{"Id": f"001{n}", "PersonEmail": f"x{n}@example.com"} for n in (1, 2, 3)]

    results = veeva.update_records("Account", records)

    assert [(r.key, r.ok, r.error_code, r.retriable) for r in results] == [
        ("0011", True, None, False),
        ("0012", False, "FIELD_CUSTOM_VALIDATION_EXCEPTION", False),
        ("0013", False, "UNABLE_TO_LOCK_ROW", True),
    ]
    assert results[1].message == "Email domain blocked (fields: PersonEmail)"


def test_update_records_sends_at_most_200_per_call(veeva: VeevaClient, org: FakeSalesforce) -> None:
    sizes: list[int] = []

    def patch(request: requests.PreparedRequest) -> Reply:
        records = json.loads(request.body or b"{}")["records"]
        sizes.append(len(records))
        return 200, [{"id": r["Id"], "success": True, "errors": []} for r in records]

    org.route("PATCH", f"{DATA}composite/sobjects", patch)
    results = veeva.update_records("Account", [{"Id": f"001{n:04}"} for n in range(450)])
    assert sizes == [200, 200, 50]
    assert [r.key for r in results] == [f"001{n:04}" for n in range(450)]
    with pytest.raises(ValueError, match="Id"):
        veeva.update_records("Account", [{"PersonEmail": "x@example.com"}])


def test_bulk_query_reads_every_result_page_and_types_values(
    veeva: VeevaClient, org: FakeSalesforce, sleeps: list[float]
) -> None:
    describe = {
        "name": "Account",
        "fields": [
            {"name": "Id", "type": "id", "length": 18},
            {"name": "PersonHasOptedOutOfEmail", "type": "boolean"},
            {"name": "Calls_vod__c", "type": "double"},
            {"name": "Visits__c", "type": "int"},
            {"name": "PersonEmail", "type": "email", "updateable": True},
        ],
    }
    states = iter(["InProgress", "JobComplete"])
    header = (
        "Id,PersonHasOptedOutOfEmail,Calls_vod__c,Visits__c,PersonEmail,RecordType.DeveloperName\n"
    )
    pages = {
        "": (header + "0011,true,2.5,3,a@x.com,Professional_vod\n0012,false,,,,\n", "LOC2"),
        "LOC2": (header + '0013,false,1,0,"c,d@x.com",Professional_vod\n', "null"),
    }

    def results(request: requests.PreparedRequest) -> Reply:
        assert query_param(request, "maxRecords") == "2"
        locator = query_param(request, "locator") if "locator=" in (request.url or "") else ""
        text, next_locator = pages[locator]
        return 200, text, {"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": "2"}

    org.route("GET", f"{DATA}sobjects/Account/describe", lambda _: (200, describe))
    org.route(
        "POST", f"{DATA}jobs/query", lambda _: (200, {"id": "750X", "state": "UploadComplete"})
    )
    org.route(
        "GET", f"{DATA}jobs/query/750X", lambda _: (200, {"id": "750X", "state": next(states)})
    )
    org.route("GET", f"{DATA}jobs/query/750X/results", results)

    got = list(veeva.bulk_query_pages("SELECT Id FROM Account", max_records=2))

    assert got == [
        [
            {"Id": "0011", "PersonHasOptedOutOfEmail": True, "Calls_vod__c": 2.5, "Visits__c": 3,
             "PersonEmail": "a@x.com", "RecordType.DeveloperName": "Professional_vod"},
            {"Id": "0012", "PersonHasOptedOutOfEmail": False, "Calls_vod__c": None,
             "Visits__c": None, "PersonEmail": None, "RecordType.DeveloperName": None},
        ],
        [
            {"Id": "0013", "PersonHasOptedOutOfEmail": False, "Calls_vod__c": 1.0, "Visits__c": 0,
             "PersonEmail": "c,d@x.com", "RecordType.DeveloperName": "Professional_vod"},
        ],
    ]  # fmt: skip
    create = next(r for r in org.requests if r.method == "POST" and "jobs/query" in (r.url or ""))
    assert json.loads(create.body or b"{}")["operation"] == "query"
    assert sleeps == [0.5]
    assert veeva.calls_made == 6


def test_failed_bulk_job_is_fatal_with_the_reason(veeva: VeevaClient, org: FakeSalesforce) -> None:
    failed = {"id": "750Y", "state": "Failed", "errorMessage": "INVALID_FIELD: Foo__c"}
    org.route("GET", f"{DATA}sobjects/Account/describe", lambda _: (200, {"fields": []}))
    org.route("POST", f"{DATA}jobs/query", lambda _: (200, {"id": "750Y"}))
    org.route("GET", f"{DATA}jobs/query/750Y", lambda _: (200, failed))
    with pytest.raises(FatalError, match=r"750Y failed: INVALID_FIELD: Foo__c \(query: SELECT"):
        list(veeva.bulk_query_pages("SELECT Foo__c FROM Account"))


def test_describe_keeps_what_the_sync_needs(veeva: VeevaClient, org: FakeSalesforce) -> None:
    raw = {
        "name": "Account",
        "fields": [
            {"name": "Specialty_1_vod__c", "type": "picklist", "length": 255, "updateable": True,
             "nillable": True, "picklistValues": [{"value": "Cardiology", "active": True},
                                                  {"value": "Old", "active": False}]},
            {"name": "RecordTypeId", "type": "reference", "referenceTo": ["RecordType"]},
        ],
    }  # fmt: skip
    org.route("GET", f"{DATA}sobjects/Account/describe", lambda _: (200, raw))
    described = veeva.describe("Account")
    specialty, record_type = described.fields
    assert specialty.picklist_values == ("Cardiology",)
    assert specialty.updateable
    assert specialty.length == 255
    assert record_type.reference_to == ("RecordType",)
    assert described.field_names() == {"Specialty_1_vod__c", "RecordTypeId"}


def test_oauth_password_grant_reads_instance_user_and_org(org: FakeSalesforce) -> None:
    seen: list[dict[str, list[str]]] = []

    def token(request: requests.PreparedRequest) -> Reply:
        form = parse_qs(request.body if isinstance(request.body, str) else "")
        seen.append(form)
        org.valid.add("00D!OAUTH")
        return 200, {
            "access_token": "00D!OAUTH",
            "instance_url": INSTANCE,
            "id": f"{LOGIN_URL}/id/{ORG_ID}/{USER_ID}",
            "token_type": "Bearer",
        }

    org.route("POST", "/services/oauth2/token", token)
    org.route("GET", f"{DATA}query/", lambda _: (200, {"totalSize": 1, "done": True}))
    session = requests.Session()
    session.mount("https://", org)
    veeva = VeevaClient(settings(client_id="cid", client_secret="oauth-s3cret"), session=session)

    assert veeva.count("Account") == 1
    assert (veeva.user_id, veeva.org_id) == (USER_ID, ORG_ID)
    assert seen[0]["grant_type"] == ["password"]
    assert seen[0]["password"] == [PASSWORD + SECURITY_TOKEN]


def test_oauth_client_credentials_uses_basic_auth(org: FakeSalesforce) -> None:
    auth: list[str] = []

    def token(request: requests.PreparedRequest) -> Reply:
        auth.append(request.headers["Authorization"])
        return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}

    org.route("POST", "/services/oauth2/token", token)
    session = requests.Session()
    session.mount("https://", org)
    config = VeevaSettings(login_url=LOGIN_URL, client_id="cid", client_secret="oauth-s3cret")
    veeva = VeevaClient(config, session=session)
    with pytest.raises(FatalError, match="invalid client credentials"):
        veeva.count("Account")
    assert auth[0].startswith("Basic ")


def test_low_api_allocation_is_logged_once(
    veeva: VeevaClient, org: FakeSalesforce, caplog: pytest.LogCaptureFixture
) -> None:
    org.route("GET", f"{DATA}query/", lambda _: (200, {"totalSize": 1, "done": True}))
    org.api_used = 13_499
    veeva.count("Account")
    assert "API calls left" not in caplog.text
    veeva.count("Account")
    veeva.count("Account")
    assert caplog.text.count("1499 of 15000 API calls left") == 1
    assert veeva.api_usage == ApiUsage(used=13_502, limit=15_000)

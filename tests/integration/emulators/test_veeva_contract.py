"""Contract tests: the real simple-salesforce client against the Veeva emulator over HTTPS."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from veeva_fixtures import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    SEEDED_PERSON_ACCOUNTS,
    TOKEN,
    USERNAME,
    RunningVeeva,
)

pytestmark = pytest.mark.integration

PROFESSIONALS = (
    "SELECT Id FROM Account WHERE IsPersonAccount = true "
    "AND RecordType.DeveloperName = 'Professional_vod'"
)


def _new_person(sf: Salesforce, last_name: str = "Contract") -> str:
    result = sf.Account.create(
        {"FirstName": "Test", "LastName": last_name, "PersonEmail": "t@example.com"}
    )
    return str(result["id"])


def test_query_shapes_records_and_reports_api_usage(veeva_sf: Salesforce) -> None:
    result = veeva_sf.query(
        "SELECT Id, Name, RecordType.DeveloperName, Owner.Name, SystemModstamp, "
        "PersonHasOptedOutOfEmail FROM Account WHERE IsPersonAccount = true "
        "ORDER BY SystemModstamp, Id LIMIT 5"
    )
    assert result["done"] is True
    assert result["totalSize"] == 5
    record = result["records"][0]
    assert record["attributes"]["type"] == "Account"
    assert record["attributes"]["url"].endswith(record["Id"])
    assert len(record["Id"]) == 18
    assert record["Id"].startswith("001")
    assert record["RecordType"]["DeveloperName"] in ("Professional_vod", "Board_vod")
    assert isinstance(record["Owner"]["Name"], str)
    assert record["SystemModstamp"].endswith(".000+0000")
    assert isinstance(record["PersonHasOptedOutOfEmail"], bool)
    stamps = [r["SystemModstamp"] for r in result["records"]]
    assert stamps == sorted(stamps)
    usage = veeva_sf.api_usage["api-usage"]
    assert usage.used >= 1
    assert usage.total > usage.used


def test_query_all_iter_pages_with_batch_size(
    veeva_sf: Salesforce, veeva_emulator: RunningVeeva
) -> None:
    veeva_emulator.admin("DELETE", "counters")
    ids = [
        r["Id"]
        for r in veeva_sf.query_all_iter(
            "SELECT Id FROM Account WHERE IsPersonAccount = true",
            headers={"Sforce-Query-Options": "batchSize=500"},
        )
    ]
    assert len(ids) == len(set(ids)) == SEEDED_PERSON_ACCOUNTS
    calls = veeva_emulator.admin("GET", "counters")["calls"]
    assert calls["GET query"] == SEEDED_PERSON_ACCOUNTS // 500


def test_default_batch_is_2000_and_next_url_is_a_path(veeva_sf: Salesforce) -> None:
    first = veeva_sf.query("SELECT Id FROM Account")
    assert len(first["records"]) == 2000
    assert first["done"] is False
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    second = veeva_sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert {r["Id"] for r in first["records"]}.isdisjoint(r["Id"] for r in second["records"])


def test_count_query(veeva_sf: Salesforce) -> None:
    result = veeva_sf.query(PROFESSIONALS.replace("SELECT Id", "SELECT COUNT()"))
    assert result["records"] == []
    assert 0.85 * SEEDED_PERSON_ACCOUNTS < result["totalSize"] < SEEDED_PERSON_ACCOUNTS


def test_query_all_includes_deleted_rows(veeva_sf: Salesforce) -> None:
    record_id = _new_person(veeva_sf, "Deleted")
    assert veeva_sf.Account.delete(record_id) == 204
    soql = f"SELECT Id, IsDeleted FROM Account WHERE Id = '{record_id}'"
    assert veeva_sf.query(soql)["totalSize"] == 0
    rows = veeva_sf.query_all(soql, include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(record_id, True)]
    with pytest.raises(SalesforceResourceNotFound):
        veeva_sf.Account.get(record_id)


def test_query_all_locator_keeps_deleted_rows(
    veeva_sf: Salesforce, veeva_emulator: RunningVeeva
) -> None:
    deleted = veeva_sf.query("SELECT COUNT() FROM Call2_vod__c WHERE IsDeleted = true")["totalSize"]
    assert deleted == 0
    everything = list(
        veeva_sf.query_all_iter("SELECT Id, IsDeleted FROM Call2_vod__c", include_deleted=True)
    )
    live = veeva_sf.query("SELECT COUNT() FROM Call2_vod__c")["totalSize"]
    assert len(everything) > 2000
    assert sum(r["IsDeleted"] for r in everything) == len(everything) - live > 0


def test_describe_hides_fields_and_querying_them_fails(
    veeva_sf: Salesforce, veeva_clean: RunningVeeva
) -> None:
    names = {f["name"] for f in veeva_sf.Account.describe()["fields"]}
    assert {"NPI_vod__c", "PersonEmail", "Specialty_1_vod__c"} <= names
    veeva_clean.admin("PUT", "hidden-fields/Account", {"fields": ["NPI_vod__c"]})
    described = veeva_sf.Account.describe()
    assert "NPI_vod__c" not in {f["name"] for f in described["fields"]}
    specialty = next(f for f in described["fields"] if f["name"] == "Specialty_1_vod__c")
    assert specialty["type"] == "picklist"
    assert "Cardiology_vod" in {v["value"] for v in specialty["picklistValues"]}
    owner = next(f for f in described["fields"] if f["name"] == "OwnerId")
    assert owner["referenceTo"] == ["User"]
    assert owner["relationshipName"] == "Owner"
    with pytest.raises(SalesforceMalformedRequest) as info:
        veeva_sf.query("SELECT Id, NPI_vod__c FROM Account LIMIT 1")
    assert info.value.status == 400
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_describe_global_lists_the_objects(veeva_sf: Salesforce) -> None:
    described = veeva_sf.describe()
    assert described is not None
    names = {o["name"]: o["keyPrefix"] for o in described["sobjects"]}
    assert names["Account"] == "001"
    assert names["User"] == "005"
    assert {"Call2_vod__c", "Call2_Key_Message_vod__c", "Medical_Inquiry_vod__c"} <= set(names)


def test_get_updated_and_deleted(veeva_sf: Salesforce) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    record_id = _new_person(veeva_sf, "Replicated")
    gone_id = _new_person(veeva_sf, "Gone")
    veeva_sf.Account.delete(gone_id)
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
    deadline = time.monotonic() + 5
    updated = veeva_sf.Account.updated(start, end)
    while record_id not in updated["ids"] and time.monotonic() < deadline:
        updated = veeva_sf.Account.updated(start, end)
    assert record_id in updated["ids"]
    assert gone_id not in updated["ids"]
    assert updated["latestDateCovered"].endswith(".000+0000")
    deleted = veeva_sf.Account.deleted(start, end)
    assert gone_id in {d["id"] for d in deleted["deletedRecords"]}
    with pytest.raises(SalesforceMalformedRequest) as info:
        veeva_sf.Account.updated(end, start)
    assert info.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceMalformedRequest):
        veeva_sf.Account.updated(start - dt.timedelta(days=31), end)


def _patch(sf: Salesforce, records: list[dict[str, Any]], all_or_none: bool) -> Any:
    return sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"allOrNone": all_or_none, "records": records},
    )


def test_collections_update_with_validation_rule(
    veeva_sf: Salesforce, veeva_clean: RunningVeeva
) -> None:
    veeva_clean.admin(
        "POST",
        "validation-rules",
        {
            "name": "NoTestDomain",
            "object": "Account",
            "field": "PersonEmail",
            "pattern": r"@invalid\.test$",
            "message": "Email domain not allowed",
        },
    )
    good, bad = _new_person(veeva_sf, "Good"), _new_person(veeva_sf, "Bad")
    records = [
        {"attributes": {"type": "Account"}, "id": good, "PersonEmail": "ok@example.com"},
        {"attributes": {"type": "Account"}, "id": bad, "PersonEmail": "x@invalid.test"},
    ]
    results = _patch(veeva_sf, records, all_or_none=False)
    assert results[0] == {"id": good, "success": True, "errors": []}
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert results[1]["errors"][0]["fields"] == ["PersonEmail"]
    assert veeva_sf.Account.get(good)["PersonEmail"] == "ok@example.com"

    records[0]["PersonEmail"] = "changed@example.com"
    results = _patch(veeva_sf, records, all_or_none=True)
    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert veeva_sf.Account.get(good)["PersonEmail"] == "ok@example.com"


def test_collections_limits_and_create_delete(veeva_sf: Salesforce) -> None:
    too_many = [{"attributes": {"type": "Account"}, "LastName": f"N{i}"} for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest):
        veeva_sf.restful(
            "composite/sobjects", method="POST", json={"allOrNone": False, "records": too_many}
        )
    created = veeva_sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": too_many[:3]}
    )
    ids = [r["id"] for r in created]
    assert all(r["success"] for r in created)
    removed = veeva_sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": ",".join(ids), "allOrNone": "false"}
    )
    assert [r["success"] for r in removed] == [True, True, True]


def test_read_only_fields_are_refused(veeva_sf: Salesforce) -> None:
    record_id = _new_person(veeva_sf, "ReadOnly")
    record = veeva_sf.Account.get(record_id)
    assert record["Name"] == "Test ReadOnly"
    assert record["IsPersonAccount"] is True
    assert record["PersonContactId"].startswith("003")
    for field in ("Name", "IsPersonAccount", "SystemModstamp"):
        with pytest.raises(SalesforceMalformedRequest) as info:
            veeva_sf.Account.update(record_id, {field: "x"})
        assert info.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_writes_bump_timestamps_and_record_the_writer(
    veeva_sf: Salesforce, veeva_emulator: RunningVeeva
) -> None:
    info = veeva_emulator.admin("GET", "info")
    record_id = _new_person(veeva_sf, "Stamps")
    before = veeva_sf.Account.get(record_id)
    assert before["LastModifiedById"] == info["integration_user_id"]
    veeva_emulator.admin("PATCH", f"records/Account/{record_id}", {"FirstName": "Edited"})
    after = veeva_sf.Account.get(record_id)
    assert after["FirstName"] == "Edited"
    assert after["Name"] == "Edited Stamps"
    assert after["LastModifiedById"] == info["person_user_id"]
    assert after["SystemModstamp"] >= before["SystemModstamp"]


def test_bulk2_query_returns_csv(veeva_sf: Salesforce) -> None:
    chunks = list(
        veeva_sf.bulk2.Account.query(
            PROFESSIONALS.replace("SELECT Id", "SELECT Id, PersonEmail, RecordType.DeveloperName"),
            max_records=1500,
            wait=0,
        )
    )
    assert len(chunks) > 1
    rows = [row for chunk in chunks for row in csv.DictReader(io.StringIO(chunk))]
    expected = veeva_sf.query(PROFESSIONALS.replace("SELECT Id", "SELECT COUNT()"))["totalSize"]
    assert len(rows) == expected
    assert set(rows[0]) == {"Id", "PersonEmail", "RecordType.DeveloperName"}
    assert {r["RecordType.DeveloperName"] for r in rows} == {"Professional_vod"}


def test_bulk2_rejects_aggregates(veeva_sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest):
        list(veeva_sf.bulk2.Account.query("SELECT COUNT() FROM Account", wait=0))


def test_relogin_after_expired_session(
    veeva_emulator: RunningVeeva, veeva_http: requests.Session
) -> None:
    sf = veeva_emulator.password_client(veeva_http)
    first_session = sf.session_id
    assert sf.query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1
    veeva_emulator.admin("POST", "sessions/expire")
    assert sf.query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1
    assert sf.session_id != first_session


def test_direct_session_raises_expired(
    veeva_sf: Salesforce, veeva_emulator: RunningVeeva, veeva_http: requests.Session
) -> None:
    veeva_emulator.admin("POST", "sessions/expire")
    with pytest.raises(SalesforceExpiredSession) as info:
        veeva_sf.query("SELECT Id FROM User LIMIT 1")
    assert info.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


@pytest.mark.parametrize("grant", ["password", "client_credentials"])
def test_oauth_token_grants(
    veeva_emulator: RunningVeeva, veeva_http: requests.Session, grant: str
) -> None:
    data = {"grant_type": grant, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    if grant == "password":
        data.update(username=USERNAME, password=PASSWORD + TOKEN)
    response = veeva_http.post(f"{veeva_emulator.base_url}/services/oauth2/token", data=data)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    sf = Salesforce(
        session_id=body["access_token"], instance_url=body["instance_url"], session=veeva_http
    )
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] >= 2
    bad = veeva_http.post(
        f"{veeva_emulator.base_url}/services/oauth2/token", data={**data, "client_secret": "wrong"}
    )
    assert bad.status_code == 400
    assert "error" in bad.json()


def test_bad_soap_login_is_a_fault(
    veeva_emulator: RunningVeeva, veeva_http: requests.Session
) -> None:
    response = veeva_http.post(
        f"{veeva_emulator.base_url}/services/Soap/u/59.0",
        data="<login><username>integration@veeva.example</username>"
        "<password>wrong</password></login>",
        headers={"content-type": "text/xml", "SOAPAction": "login"},
    )
    assert response.status_code == 500
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in response.text


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FRM Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE"),
        ("SELECT Nope__c FROM Account", "INVALID_FIELD"),
    ],
)
def test_query_errors(veeva_sf: Salesforce, soql: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        veeva_sf.query(soql)
    assert info.value.content[0]["errorCode"] == code


def test_unknown_record_and_resource_are_not_found(veeva_sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        veeva_sf.Account.get("001000000000000AAA")
    with pytest.raises(SalesforceResourceNotFound):
        veeva_sf.restful("no/such/resource")


def test_injected_faults_then_recovery(veeva_sf: Salesforce, veeva_clean: RunningVeeva) -> None:
    veeva_clean.admin(
        "POST",
        "faults",
        {"path": "/query", "count": 2, "status": 503, "error_code": "SERVER_UNAVAILABLE"},
    )
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as info:
            veeva_sf.query("SELECT Id FROM User LIMIT 1")
        assert info.value.status == 503
    assert veeva_sf.query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1


def test_api_limit_exhaustion(veeva_sf: Salesforce, veeva_emulator: RunningVeeva) -> None:
    usage = veeva_emulator.admin("GET", "counters")["api_usage"]
    veeva_emulator.admin("PUT", "api-limit", {"limit": usage["used"] + 1})
    try:
        veeva_sf.query("SELECT Id FROM User LIMIT 1")
        with pytest.raises(SalesforceRefusedRequest) as info:
            veeva_sf.query("SELECT Id FROM User LIMIT 1")
        assert info.value.status == 403
        assert info.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    finally:
        veeva_emulator.admin("PUT", "api-limit", {"limit": 1_000_000})

"""The Veeva emulator's admin API and its persistence across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from veeva_fixtures import RunningVeeva, _serve

pytestmark = pytest.mark.integration


def test_delete_undelete_and_counters(
    veeva_emulator: RunningVeeva, veeva_http: requests.Session
) -> None:
    sf = veeva_emulator.direct_client(veeva_http)
    veeva_emulator.admin("DELETE", "counters")
    record_id = veeva_emulator.admin(
        "POST",
        "records/Medical_Inquiry_vod__c",
        {"fields": {"Inquiry_Text__c": "Dose?", "Status_vod__c": "New_vod"}},
    )["id"]
    assert record_id.startswith("a0D")
    veeva_emulator.admin("DELETE", f"records/Medical_Inquiry_vod__c/{record_id}")
    assert veeva_emulator.admin("GET", f"records/Medical_Inquiry_vod__c/{record_id}")["IsDeleted"]
    soql = f"SELECT Id, Name FROM Medical_Inquiry_vod__c WHERE Id = '{record_id}'"
    assert sf.query(soql)["totalSize"] == 0
    restored = veeva_emulator.admin("POST", f"records/Medical_Inquiry_vod__c/{record_id}/undelete")
    assert restored["IsDeleted"] is False
    assert sf.query(soql)["records"][0]["Name"].startswith("MI-")
    counters = veeva_emulator.admin("GET", "counters")
    assert counters["records_written"]["Medical_Inquiry_vod__c"] == 3
    assert counters["calls"]["GET query"] == 2


def test_admin_reads_a_whole_object(veeva_emulator: RunningVeeva) -> None:
    dump = veeva_emulator.admin("GET", "records/Key_Message_vod__c", limit=10)
    assert dump["live"] == 48
    assert len(dump["records"]) == 10
    assert all(r["Id"].startswith("a0C") for r in dump["records"])


def test_state_survives_a_restart(tmp_path: Path) -> None:
    servers = _serve(tmp_path)
    first = next(servers)
    record_id = first.admin("POST", "records/Account", {"LastName": "Persisted"})["id"]
    first.admin("PUT", "hidden-fields/Account", {"fields": ["NPI_vod__c"]})
    with first.session() as http:
        token = first.soap_login(http)
    with pytest.raises(StopIteration):
        next(servers)

    servers = _serve(tmp_path)
    second = next(servers)
    try:
        assert second.admin("GET", f"records/Account/{record_id}")["Name"] == "Persisted"
        assert second.admin("GET", "hidden-fields") == {"account": ["npi_vod__c"]}
        with second.session() as http:
            response = http.get(
                f"{second.base_url}/services/data/v59.0/sobjects/Account/{record_id}",
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 200
        assert "NPI_vod__c" not in response.json()
    finally:
        with pytest.raises(StopIteration):
            next(servers)

"""Capture plans: mapped fields ∩ describe, pipeline fields, filters and windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from veeva_marketo_sync.clients.ports import SfDescribe, SfField
from veeva_marketo_sync.errors import ConfigError
from veeva_marketo_sync.processors.mapping import load_mapping
from veeva_marketo_sync.producers.plan import (
    CaptureSource,
    build_plan,
    describe_json,
    sources_from_mapping,
)

ACCOUNT_FIELDS = (
    SfField("Id", "id"),
    SfField("SystemModstamp", "datetime"),
    SfField("CreatedDate", "datetime"),
    SfField("LastModifiedById", "reference", reference_to=("User",)),
    SfField("IsDeleted", "boolean"),
    SfField("OwnerId", "reference", reference_to=("User",)),
    SfField("IsPersonAccount", "boolean"),
    SfField("RecordTypeId", "reference", reference_to=("RecordType",)),
    SfField("PersonEmail", "email"),
    SfField("FirstName", "string"),
    SfField("BillingAddress", "address"),
)
ACCOUNT = SfDescribe("Account", ACCOUNT_FIELDS)
SOURCE = CaptureSource(
    "Account",
    mapped_fields=("FirstName", "PersonEmail", "NPI_vod__c", "OwnerId"),
    where="IsPersonAccount = true",
)


def test_fields_are_mapped_and_visible_plus_system_and_account_extras() -> None:
    plan = build_plan(SOURCE, ACCOUNT)
    assert plan.fields[0] == "Id"
    assert set(plan.fields) == {
        "Id",
        "SystemModstamp",
        "CreatedDate",
        "LastModifiedById",
        "IsDeleted",
        "OwnerId",
        "IsPersonAccount",
        "RecordType.DeveloperName",
        "PersonEmail",
        "FirstName",
    }
    assert plan.has_is_deleted
    assert plan.payload_schema["fields"][0]["name"] == "Id"


def test_a_mapped_field_the_user_cannot_see_is_named_once_and_skipped() -> None:
    plan = build_plan(SOURCE, ACCOUNT)
    assert plan.invisible == ("NPI_vod__c",)
    assert "NPI_vod__c" not in plan.fields


def test_absent_optional_system_fields_are_left_out_quietly() -> None:
    describe = SfDescribe("User", (SfField("Id", "id"), SfField("SystemModstamp", "datetime")))
    plan = build_plan(CaptureSource("User", ("Name",)), describe)
    assert plan.fields == ("Id", "SystemModstamp")
    assert plan.invisible == ("Name",)
    assert not plan.has_is_deleted


@pytest.mark.parametrize("hidden", ["Id", "SystemModstamp"])
def test_capture_needs_id_and_modstamp(hidden: str) -> None:
    describe = SfDescribe("User", tuple(f for f in ACCOUNT_FIELDS[:2] if f.name != hidden))
    with pytest.raises(ConfigError, match=hidden):
        build_plan(CaptureSource("User", ()), describe)


def test_rebuilt_describe_names_relationships_by_convention() -> None:
    raw = describe_json(
        SfDescribe("Call2_vod__c", (SfField("Account_vod__c", "reference"), SfField("Id", "id")))
    )
    assert raw["fields"][0]["relationshipName"] == "Account_vod__r"


def test_scope_applies_the_window_from_now() -> None:
    source = CaptureSource("Call2_vod__c", (), window_field="CreatedDate", window_days=183)
    plan = build_plan(source, SfDescribe("Call2_vod__c", ACCOUNT_FIELDS[:5]))
    now = datetime(2024, 5, 1, tzinfo=UTC)
    scope = plan.scope(now)
    assert scope.window_start == now - timedelta(days=183)
    assert scope.conditions() == ["CreatedDate >= 2023-10-31T00:00:00Z"]


def test_seed_defaults_come_from_the_default_mapping() -> None:
    sources = {
        s.object_name: s
        for s in sources_from_mapping(
            load_mapping(), ["Account", "User", "Call2_vod__c", "Call2_Key_Message_vod__c"]
        )
    }
    account = sources["Account"]
    assert account.where == (
        "IsPersonAccount = true AND RecordType.DeveloperName = 'Professional_vod'"
    )
    assert (sources["Call2_vod__c"].window_field, sources["Call2_vod__c"].window_days) == (
        "CreatedDate",
        183,
    )
    assert sources["Call2_Key_Message_vod__c"].window_days == 183
    assert sources["Call2_vod__c"].link_fields == ("Account_vod__c",)
    assert sources["User"].where is None
    assert "PersonEmail" in account.mapped_fields


def test_an_object_missing_from_the_mapping_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Other__c"):
        sources_from_mapping(load_mapping(), ["Other__c"])


def test_owners_are_captured_before_the_persons_they_own() -> None:
    order = [
        s.object_name
        for s in sources_from_mapping(load_mapping(), ["Account", "Call2_vod__c", "User"])
    ]
    assert order == ["User", "Account", "Call2_vod__c"]

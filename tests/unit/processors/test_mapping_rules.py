from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from veeva_marketo_sync.processors.mapping import load_mapping, parse_mapping
from veeva_marketo_sync.processors.mapping_rules import (
    MappingRules,
    MarketoDelete,
    MarketoUpsert,
    RecordError,
    UnmappedObjectError,
    changed_fields,
    field_value,
    has_field,
    needs_write,
)

GOLDEN = Path(__file__).parent / "golden"


def _load(name: str) -> Any:
    return json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rules() -> MappingRules:
    return MappingRules(load_mapping())


@pytest.mark.parametrize(
    ("object_name", "sample"),
    [
        ("Call2_vod__c", "call"),
        ("Call2_Key_Message_vod__c", "call_key_message"),
        ("Medical_Inquiry_vod__c", "medical_inquiry"),
    ],
)
def test_golden_custom_objects(rules: MappingRules, object_name: str, sample: str) -> None:
    upsert = rules.to_upsert(object_name, _load(sample))
    assert dataclasses.asdict(upsert) == _load(f"{sample}.expected")
    assert upsert.topic_target == f"co.{upsert.target}"


def test_golden_person_account_with_its_owner(rules: MappingRules) -> None:
    upsert = rules.to_upsert("Account", _load("person_account"), owner=_load("user"))
    assert dataclasses.asdict(upsert) == _load("person_account.expected")
    assert upsert.topic_target == "leads"


def test_golden_user_refreshes_the_persons_it_owns(rules: MappingRules) -> None:
    updates = rules.owner_updates(
        _load("user"), ["001000000000002AAA", "001000000000001AAA", "001000000000001AAA"]
    )
    assert [dataclasses.asdict(update) for update in updates] == _load("user.expected")


def test_user_records_are_not_upserted(rules: MappingRules) -> None:
    with pytest.raises(ValueError, match="owner_updates"):
        rules.to_upsert("User", _load("user"))


def test_fields_the_user_cannot_see_are_skipped(rules: MappingRules) -> None:
    record = _load("person_account")
    del record["NPI_vod__c"]
    del record["PersonEmail"]
    fields = rules.to_upsert("Account", record).fields
    assert "veevaNPI" not in fields
    assert "email" not in fields
    assert fields["lastName"] == "Lovelace"


def test_owner_fields_only_from_the_actual_owner(rules: MappingRules) -> None:
    person = _load("person_account")
    other_user = {**_load("user"), "Id": "005000000000009AAA"}
    assert rules.person_owner_fields(person, other_user) == {}
    assert rules.person_owner_fields(person, None) == {}
    assert rules.person_owner_fields(person, _load("user")) == {
        "veevaOwnerName": "Grace Hopper",
        "veevaOwnerEmail": "grace.hopper@pharma.example",
        "veevaOwnerTitle": "Key Account Manager",
    }
    assert rules.owner_id_of(person) == "005000000000007AAA"
    assert "veevaOwnerName" not in rules.to_upsert("Account", person, owner=other_user).fields


def test_bidirectional_fields_can_be_left_to_the_conflict_rules(rules: MappingRules) -> None:
    fields = rules.to_upsert("Account", _load("person_account"), bidirectional=False).fields
    assert "email" not in fields
    assert "unsubscribed" not in fields
    assert fields["veevaNPI"] == "1234567893"
    assert fields["veevaAccountId"] == "001000000000001AAA"


def test_a_call_without_a_person_is_a_record_error(rules: MappingRules) -> None:
    call = {**_load("call"), "Account_vod__c": None}
    with pytest.raises(RecordError, match="has no Account_vod__c"):
        rules.to_upsert("Call2_vod__c", call)


def test_a_bad_value_names_the_record_and_field(rules: MappingRules) -> None:
    call = {**_load("call"), "Call_Date_vod__c": "yesterday"}
    with pytest.raises(RecordError, match=r"a04000000000001AAA: field Call_Date_vod__c"):
        rules.to_upsert("Call2_vod__c", call)


def test_a_record_without_id_is_a_record_error(rules: MappingRules) -> None:
    record = _load("call")
    del record["Id"]
    with pytest.raises(RecordError, match="has no Id"):
        rules.to_upsert("Call2_vod__c", record)


def test_unmapped_objects_are_refused(rules: MappingRules) -> None:
    with pytest.raises(UnmappedObjectError):
        rules.to_upsert("Visit__c", {"Id": "x"})


def test_delete_policies(rules: MappingRules) -> None:
    assert rules.on_delete("Account", "001A") == MarketoUpsert(
        "Account",
        "lead",
        "leads",
        "veevaAccountId",
        "001A",
        {"veevaAccountId": "001A", "veevaIsDeleted": True},
        action="updateOnly",
    )
    assert rules.on_delete("Call2_vod__c", "a04A") == MarketoDelete(
        "Call2_vod__c", "custom_object", "veevaCall_c", "veevaCallId", "a04A"
    )
    assert rules.on_delete("User", "005A") is None


def test_ignore_and_delete_policies_on_persons() -> None:
    text = """
objects:
  Account:
    target: { kind: lead, lookup_field: veevaAccountId }
    on_delete: {policy}
    fields: { LastName: { to: lastName } }
"""
    ignore = MappingRules(parse_mapping(text.replace("{policy}", "ignore")))
    assert ignore.on_delete("Account", "001A") is None
    assert "veevaIsDeleted" not in ignore.to_upsert("Account", {"Id": "001A"}).fields
    delete = MappingRules(parse_mapping(text.replace("{policy}", "delete")))
    assert delete.on_delete("Account", "001A") == MarketoDelete(
        "Account", "lead", "leads", "veevaAccountId", "001A"
    )


def test_an_unmapped_field_change_costs_no_call(rules: MappingRules) -> None:
    before = _load("person_account")
    sent = rules.to_upsert("Account", before)
    after = {**before, "SystemModstamp": "2024-06-01T00:00:00.000+0000", "Website": "x"}
    assert not needs_write(sent.fields, rules.to_upsert("Account", after))
    assert changed_fields(sent.fields, rules.to_upsert("Account", after)) == {}


def test_a_mapped_field_change_sends_the_changed_fields(rules: MappingRules) -> None:
    before = _load("person_account")
    sent = rules.to_upsert("Account", before)
    after = {**before, "NPI_vod__c": "9999999999", "FirstName": "Ada"}  # trim: no change
    assert changed_fields(sent.fields, rules.to_upsert("Account", after)) == {
        "veevaNPI": "9999999999",
        "veevaAccountId": "001000000000001AAA",
    }
    assert changed_fields(None, sent) == sent.fields
    assert needs_write(None, sent)


def test_reverse_values_for_veeva(rules: MappingRules) -> None:
    assert rules.reverse_value("PersonEmail", " A@B.COM ") == "a@b.com"
    with pytest.raises(KeyError):
        rules.reverse_value("NPI_vod__c", "1")


def test_relationship_paths() -> None:
    record = _load("person_account")
    assert field_value(record, "RecordType.DeveloperName") == "Professional_vod"
    assert not has_field(record, "RecordType.Name")
    assert field_value({"RecordType": None}, "RecordType.DeveloperName") is None
    assert has_field({"X": None}, "X")

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from veeva_marketo_sync.processors.mapping import (
    CustomObjectTarget,
    LeadTarget,
    MappingError,
    OwnerTarget,
    bidirectional_fields,
    load_mapping,
    parse_mapping,
    reverse_bidirectional_fields,
)

MINIMAL_ACCOUNT = {
    "target": {"kind": "lead", "lookup_field": "veevaAccountId"},
    "on_delete": "flag",
    "deleted_flag_field": "veevaIsDeleted",
    "fields": {"FirstName": {"to": "firstName", "direction": "both"}},
}


def _with_objects(**objects: object) -> str:
    return yaml.safe_dump({"objects": {"Account": MINIMAL_ACCOUNT, **objects}})


def _errors(text: str) -> str:
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, "test.yaml")
    return str(caught.value)


def test_default_mapping_loads_from_the_package() -> None:
    mapping = load_mapping()
    assert set(mapping.objects) == {
        "Account",
        "User",
        "Call2_vod__c",
        "Call2_Key_Message_vod__c",
        "Medical_Inquiry_vod__c",
    }
    assert isinstance(mapping.objects["Account"].target, LeadTarget)
    assert isinstance(mapping.objects["User"].target, OwnerTarget)
    call = mapping.objects["Call2_vod__c"].target
    assert isinstance(call, CustomObjectTarget)
    assert (call.name, call.link_field, call.link_from) == (
        "veevaCall_c",
        "veevaAccountId",
        "Account_vod__c",
    )
    assert mapping.objects["Account"].delete_policy == "flag"
    assert mapping.objects["User"].delete_policy == "ignore"
    assert mapping.reverse_edits.untrusted_sources == {
        "Web form fillout": ("email", "firstName", "lastName")
    }


def test_bidirectional_fields_and_their_reverse() -> None:
    mapping = load_mapping()
    both = bidirectional_fields(mapping)
    assert both["PersonEmail"] == "email"
    assert both["PersonHasOptedOutOfEmail"] == "unsubscribed"
    assert "Specialty_1_vod__c" not in both
    assert "NPI_vod__c" not in both
    assert reverse_bidirectional_fields(mapping) == {m: v for v, m in both.items()}
    assert len(both) == 14


def test_load_mapping_from_a_path(tmp_path: Path) -> None:
    file = tmp_path / "mapping.yaml"
    file.write_text(_with_objects(), encoding="utf-8")
    assert bidirectional_fields(load_mapping(file)) == {"FirstName": "firstName"}


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"cannot read mapping file .*nope\.yaml"):
        load_mapping(tmp_path / "nope.yaml")


def test_broken_yaml_is_reported_with_its_source() -> None:
    assert "test.yaml: not valid YAML" in _errors("objects: [unclosed")


def test_a_document_that_is_not_a_map_is_refused() -> None:
    assert "top level must be a map" in _errors("- just\n- a list\n")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Lead", "HCPs as Person Accounts, not leads"),
        ("Contact", "map Account instead"),
        ("Opportunity", "persons, users, calls, call key messages and custom objects only"),
        ("Campaign", "campaigns belong to Marketo"),
        ("Task", "activities are not synced"),
        ("Event", "activities are not synced"),
        ("Case", "only Account (person accounts), User and custom objects"),
    ],
)
def test_unsupported_objects_are_refused_with_the_reason(name: str, why: str) -> None:
    spec = {
        "target": {
            "kind": "custom_object",
            "name": "x",
            "dedupe_field": "id",
            "link_field": "veevaAccountId",
            "link_from": "AccountId",
        },
        "fields": {"Name": {"to": "name"}},
    }
    message = _errors(_with_objects(**{name: spec}))
    assert f"objects.{name}: {name} is not supported" in message
    assert why in message


@pytest.mark.parametrize(
    "where",
    [
        "IsPersonAccount = false",
        "IsPersonAccount != true AND Name != null",
        "isPersonAccount=FALSE",
    ],
)
def test_business_accounts_are_refused(where: str) -> None:
    message = _errors(_with_objects(Account={**MINIMAL_ACCOUNT, "where": where}))
    assert "objects.Account.where: selects IsPersonAccount = false" in message
    assert "business Accounts are not supported" in message


def test_account_where_must_select_person_accounts() -> None:
    message = _errors(_with_objects(Account={**MINIMAL_ACCOUNT, "where": "Name != null"}))
    assert "objects.Account.where: must contain 'IsPersonAccount = true'" in message


def test_a_top_level_or_could_reach_business_accounts() -> None:
    where = "IsPersonAccount = true OR Name = 'Acme'"
    assert "top-level OR" in _errors(_with_objects(Account={**MINIMAL_ACCOUNT, "where": where}))
    nested = "IsPersonAccount = true AND (Name = 'A' OR Name = 'B OR C')"
    mapping = parse_mapping(_with_objects(Account={**MINIMAL_ACCOUNT, "where": nested}))
    assert mapping.objects["Account"].where == nested


def test_account_without_where_gets_the_person_account_filter() -> None:
    mapping = parse_mapping(_with_objects())
    assert mapping.objects["Account"].where == "IsPersonAccount = true"


@pytest.mark.parametrize(
    ("obj", "field", "spec"),
    [
        ("Account", "Specialty_1_vod__c", {"to": "veevaSpecialty", "direction": "both"}),
        ("Account", "Name", {"to": "company", "direction": "both"}),
        ("Account", "OwnerId", {"to": "veevaOwnerId", "direction": "both"}),
    ],
)
def test_both_directions_only_on_contact_fields(obj: str, field: str, spec: dict[str, str]) -> None:
    account = {**MINIMAL_ACCOUNT, "fields": {**MINIMAL_ACCOUNT["fields"], field: spec}}  # type: ignore[dict-item]
    message = _errors(_with_objects(**{obj: account}))
    assert f"objects.{obj}.fields.{field}.direction: 'both' is allowed only" in message


def test_both_directions_allowed_on_person_custom_fields() -> None:
    fields = {
        "Preferred_Channel__pc": {"to": "preferredChannel", "direction": "both"},
        "PersonBirthdate": {"to": "dateOfBirth", "direction": "both", "transforms": ["date"]},
    }
    account = {**MINIMAL_ACCOUNT, "fields": fields}
    mapping = parse_mapping(_with_objects(Account=account))
    assert bidirectional_fields(mapping) == {
        "Preferred_Channel__pc": "preferredChannel",
        "PersonBirthdate": "dateOfBirth",
    }


def test_both_directions_refused_on_calls() -> None:
    text = Path(__file__).parent.joinpath("golden", "call.mapping.yaml").read_text()
    message = _errors(text)
    assert "objects.Call2_vod__c.fields.Status_vod__c.direction" in message


def test_every_problem_is_listed_with_its_key() -> None:
    account = {
        **MINIMAL_ACCOUNT,
        "fields": {
            "FirstName": {"to": "firstName", "transforms": ["titlecase"]},
            "LastName": {"to": "lastName", "conflict": "veeva_wins"},
            "NPI_vod__c": {"to": "firstName"},
            "Credentials_vod__c": {"to": "veevaAccountId"},
            "PersonDoNotCall": {
                "to": "doNotCall",
                "direction": "both",
                "type": "string",
                "conflict": "sticky_true",
            },
        },
    }
    message = _errors(_with_objects(Account=account))
    assert "objects.Account.fields.FirstName.transforms[0]: unknown transform" in message
    assert "objects.Account.fields.LastName.conflict: a conflict policy applies only" in message
    assert "objects.Account.fields.NPI_vod__c.to: 'firstName' is already the target" in message
    assert "objects.Account.fields.Credentials_vod__c.to: 'veevaAccountId' is written" in message
    assert "objects.Account.fields.PersonDoNotCall.conflict: sticky_true needs a boolean" in (
        message
    )


def test_structural_errors_name_the_key() -> None:
    account = {**MINIMAL_ACCOUNT, "fields": {"FirstName": {"to": "firstName", "directon": "both"}}}
    message = _errors(_with_objects(Account=account))
    assert "objects.Account.fields.FirstName.directon: Extra inputs are not permitted" in message
    account = {**MINIMAL_ACCOUNT, "on_delete": "purge"}
    assert "objects.Account.on_delete" in _errors(_with_objects(Account=account))


@pytest.mark.parametrize(
    ("obj", "kind", "message"),
    [
        (
            "Account",
            "custom_object",
            "objects.Account.target.kind: Account must map to kind 'lead'",
        ),
        ("Visit__c", "lead", "objects.Visit__c.target.kind: Visit__c must map to kind"),
    ],
)
def test_targets_must_fit_the_object(obj: str, kind: str, message: str) -> None:
    target = (
        {"kind": "lead", "lookup_field": "veevaAccountId"}
        if kind == "lead"
        else {
            "kind": "custom_object",
            "name": "x",
            "dedupe_field": "xId",
            "link_field": "veevaAccountId",
            "link_from": "Account_vod__c",
        }
    )
    spec = {"target": target, "on_delete": "ignore", "fields": {"Name": {"to": "n"}}}
    assert message in _errors(_with_objects(**{obj: spec}))


def test_delete_flag_needs_a_flag_field_and_users_are_never_deleted() -> None:
    account = {**MINIMAL_ACCOUNT, "deleted_flag_field": None}
    assert "objects.Account.on_delete: 'flag' needs deleted_flag_field" in _errors(
        _with_objects(Account=account)
    )
    user = {"target": {"kind": "owner"}, "on_delete": "delete", "fields": {"Name": {"to": "o"}}}
    assert "objects.User.on_delete: users are owner fields" in _errors(_with_objects(User=user))


def test_untrusted_sources_must_name_bidirectional_marketo_fields() -> None:
    text = yaml.safe_dump(
        {
            "objects": {"Account": MINIMAL_ACCOUNT},
            "reverse_edits": {"untrusted_sources": {"Web form fillout": ["email"]}},
        }
    )
    assert "reverse_edits.untrusted_sources.Web form fillout: 'email' is not" in _errors(text)

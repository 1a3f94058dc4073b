"""Describe → Avro record schema: determinism, type coverage, names."""

from __future__ import annotations

import random
from typing import Any

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from veeva_marketo_sync.schemas.canonical import canonical_form, fingerprint
from veeva_marketo_sync.schemas.from_describe import (
    AVRO_TYPE_BY_SF_TYPE,
    SKIPPED_SF_TYPES,
    avro_field_name,
    invisible_fields,
    schema_from_describe,
)

ALL_SF_TYPES = sorted([*AVRO_TYPE_BY_SF_TYPE, *SKIPPED_SF_TYPES])

field_names = st.from_regex(r"[A-Z][A-Za-z0-9]{0,10}(_[A-Za-z0-9]{1,6})?(__c)?", fullmatch=True)


@st.composite
def describes(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.sets(field_names, min_size=0, max_size=25))
    fields = [{"name": "Id", "type": "id", "length": 18}]
    fields += [
        {"name": n, "type": draw(st.sampled_from(ALL_SF_TYPES)), "length": 255}
        for n in sorted(names - {"Id"})
    ]
    return {"name": draw(st.sampled_from(["Account", "Call2_vod__c", "User"])), "fields": fields}


def _shuffled(describe: dict[str, Any], seed: int) -> dict[str, Any]:
    fields = list(describe["fields"])
    random.Random(seed).shuffle(fields)
    return {**describe, "fields": fields}


@given(describes(), st.integers())
def test_same_describe_in_any_field_order_gives_the_same_schema(
    describe: dict[str, Any], seed: int
) -> None:
    first = schema_from_describe(describe)
    second = schema_from_describe(_shuffled(describe, seed))

    assert first == second
    assert fingerprint(first) == fingerprint(second)


@given(describes())
def test_every_field_is_nullable_with_default_null_and_id_comes_first(
    describe: dict[str, Any],
) -> None:
    schema = schema_from_describe(describe)
    fastavro.parse_schema(schema, named_schemas={})

    names = [f["name"] for f in schema["fields"]]
    assert names[0] == "Id"
    assert names[1:] == sorted(names[1:])
    for field in schema["fields"]:
        assert field["type"][0] == "null"
        assert field["default"] is None


@given(describes())
def test_every_salesforce_type_is_mapped_or_deliberately_skipped(describe: dict[str, Any]) -> None:
    schema = schema_from_describe(describe)

    kept = {f["sf_name"]: f for f in schema["fields"]}
    for described in describe["fields"]:
        if described["type"] in SKIPPED_SF_TYPES:
            assert described["name"] not in kept
        else:
            assert kept[described["name"]]["sf_type"] == described["type"]


@pytest.mark.parametrize(
    ("sf_type", "avro_type"),
    [
        ("id", "string"),
        ("reference", "string"),
        ("picklist", "string"),
        ("multipicklist", "string"),
        ("encryptedstring", "string"),
        ("anyType", "string"),
        ("base64", "bytes"),
        ("boolean", "boolean"),
        ("int", "int"),
        ("long", "long"),
        ("double", "double"),
        ("currency", "double"),
        ("percent", "double"),
        ("date", {"type": "int", "logicalType": "date"}),
        ("datetime", {"type": "long", "logicalType": "timestamp-millis"}),
        ("time", {"type": "int", "logicalType": "time-millis"}),
        ("some_future_type", "string"),
    ],
)
def test_salesforce_types_map_to_avro_types(sf_type: str, avro_type: object) -> None:
    describe = {"name": "Account", "fields": [{"name": "X__c", "type": sf_type}]}

    (field,) = schema_from_describe(describe)["fields"]

    assert field["type"] == ["null", avro_type]


def test_compound_fields_are_skipped_but_their_components_kept() -> None:
    describe = {
        "name": "Account",
        "fields": [
            {"name": "Id", "type": "id"},
            {"name": "PersonMailingAddress", "type": "address"},
            {
                "name": "PersonMailingCity",
                "type": "string",
                "compoundFieldName": "PersonMailingAddress",
            },
            {"name": "Geo__c", "type": "location"},
        ],
    }

    names = [f["name"] for f in schema_from_describe(describe)["fields"]]

    assert names == ["Id", "PersonMailingCity"]


ACCOUNT = {
    "name": "Account",
    "fields": [
        {"name": "Id", "type": "id"},
        {"name": "PersonEmail", "type": "email"},
        {"name": "NPI_vod__c", "type": "string"},
        {
            "name": "RecordTypeId",
            "type": "reference",
            "relationshipName": "RecordType",
            "referenceTo": ["RecordType"],
        },
    ],
}


def test_wanted_fields_are_intersected_with_the_visible_ones() -> None:
    wanted = ["PersonEmail", "Secret__c", "Id", "RecordType.DeveloperName", "Owner.Name"]

    schema = schema_from_describe(ACCOUNT, wanted)

    assert [f["name"] for f in schema["fields"]] == [
        "Id",
        "PersonEmail",
        "RecordType__DeveloperName",
    ]
    assert invisible_fields(ACCOUNT, wanted) == ["Owner.Name", "Secret__c"]


def test_relationship_paths_keep_their_salesforce_name_and_use_the_related_type() -> None:
    related = {
        "RecordType": {"name": "RecordType", "fields": [{"name": "IsActive", "type": "boolean"}]}
    }

    schema = schema_from_describe(
        ACCOUNT, ["RecordType.DeveloperName", "RecordType.IsActive"], related=related
    )

    by_name = {f["name"]: f for f in schema["fields"]}
    assert by_name["RecordType__IsActive"]["sf_name"] == "RecordType.IsActive"
    assert by_name["RecordType__IsActive"]["type"] == ["null", "boolean"]
    assert by_name["RecordType__DeveloperName"]["type"] == ["null", "string"]


def test_schema_is_named_after_the_object() -> None:
    schema = schema_from_describe(
        {"name": "Call2_vod__c", "fields": [{"name": "Id", "type": "id"}]}
    )

    assert (schema["namespace"], schema["name"]) == ("io.vmsync.veeva.Call2_vod__c", "Value")
    assert schema["sf_object"] == "Call2_vod__c"


def test_sf_attributes_do_not_change_the_canonical_form() -> None:
    schema = schema_from_describe(ACCOUNT)
    stripped = {
        **schema,
        "fields": [
            {k: v for k, v in f.items() if not k.startswith("sf_")} for f in schema["fields"]
        ],
    }

    assert canonical_form(schema) == canonical_form(stripped)


def test_a_describe_without_a_name_is_refused() -> None:
    with pytest.raises(ValueError, match="no object 'name'"):
        schema_from_describe({"fields": []})


def test_invalid_avro_names_are_refused() -> None:
    assert avro_field_name("Owner.Manager.Name") == "Owner__Manager__Name"
    with pytest.raises(ValueError, match="no valid Avro name"):
        avro_field_name("Bad-Name")

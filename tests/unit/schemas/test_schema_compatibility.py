"""BACKWARD compatibility: what a new reader can read of data an old writer wrote."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veeva_marketo_sync.schemas.compatibility import backward_problems, ensure_backward
from veeva_marketo_sync.schemas.contracts import envelope_schema
from veeva_marketo_sync.schemas.errors import IncompatibleSchemaError
from veeva_marketo_sync.schemas.from_describe import AVRO_TYPE_BY_SF_TYPE, schema_from_describe

SF_TYPES = sorted(AVRO_TYPE_BY_SF_TYPE)
names = st.from_regex(r"[A-Z][a-z]{1,8}(__c)?", fullmatch=True)


@st.composite
def describes(draw: st.DrawFn) -> dict[str, Any]:
    fields = [{"name": "Id", "type": "id"}]
    fields += [
        {"name": n, "type": draw(st.sampled_from(SF_TYPES))}
        for n in sorted(draw(st.sets(names, min_size=1, max_size=15)) - {"Id"})
    ]
    return {"name": "Account", "fields": fields}


def _record(*fields: dict[str, Any], name: str = "Value") -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "io.vmsync.test", "fields": list(fields)}


def _nullable(name: str, avro_type: Any) -> dict[str, Any]:
    return {"name": name, "type": ["null", avro_type], "default": None}


@given(describes(), names, st.sampled_from(SF_TYPES))
def test_adding_a_nullable_field_is_compatible(
    describe: dict[str, Any], new_name: str, sf_type: str
) -> None:
    old = schema_from_describe(describe)
    grown = copy.deepcopy(describe)
    grown["fields"].append({"name": f"{new_name}Added__c", "type": sf_type})

    assert backward_problems(schema_from_describe(grown), old) == []
    assert (
        backward_problems(envelope_schema(schema_from_describe(grown)), envelope_schema(old)) == []
    )


@given(describes(), st.data())
def test_removing_a_field_is_compatible(describe: dict[str, Any], data: st.DataObject) -> None:
    old = schema_from_describe(describe)
    shrunk = copy.deepcopy(describe)
    del shrunk["fields"][data.draw(st.integers(1, len(shrunk["fields"]) - 1))]

    assert backward_problems(schema_from_describe(shrunk), old) == []


@given(describes(), st.data())
def test_changing_a_field_type_is_reported_naming_the_field(
    describe: dict[str, Any], data: st.DataObject
) -> None:
    index = data.draw(st.integers(1, len(describe["fields"]) - 1))
    changed = copy.deepcopy(describe)
    field = changed["fields"][index]
    old_avro = AVRO_TYPE_BY_SF_TYPE[field["type"]]
    field["type"] = data.draw(
        st.sampled_from([t for t in SF_TYPES if not _readable(AVRO_TYPE_BY_SF_TYPE[t], old_avro)])
    )

    problems = backward_problems(schema_from_describe(changed), schema_from_describe(describe))

    assert len(problems) == 1
    assert problems[0].startswith(f"field {field['name']!r}: ")
    assert "changed from" in problems[0]


def _readable(new: Any, old: Any) -> bool:
    """The few Salesforce-type changes Avro resolves without loss of meaning."""
    promotions = {("int", "long"), ("int", "double"), ("long", "double")}
    strings = {"string", "bytes"}
    if new == old:
        return True
    if not (isinstance(new, str) and isinstance(old, str)):
        return False  # a logical type on either side: its change is reported
    return (old, new) in promotions or (old in strings and new in strings)


def test_type_change_message_names_both_types() -> None:
    old = _record(_nullable("Phone", "string"))
    new = _record(_nullable("Phone", "long"))

    assert backward_problems(new, old) == [
        "field 'Phone': type changed from [null, string] to [null, long] "
        "(string values can no longer be read)"
    ]


def test_promotions_are_compatible_and_narrowing_is_not() -> None:
    assert (
        backward_problems(
            _record({"name": "n", "type": "long"}), _record({"name": "n", "type": "int"})
        )
        == []
    )
    problems = backward_problems(
        _record({"name": "n", "type": "int"}), _record({"name": "n", "type": "long"})
    )
    assert problems == ["field 'n': type changed from long to int"]


def test_a_required_field_added_without_default_is_reported() -> None:
    old = _record(_nullable("Id", "string"))
    new = _record(_nullable("Id", "string"), {"name": "Rank__c", "type": "int"})

    (problem,) = backward_problems(new, old)

    assert problem.startswith("field 'Rank__c': added without a default")


def test_a_logical_type_change_is_reported() -> None:
    old = _record(_nullable("At", {"type": "int", "logicalType": "date"}))
    new = _record(_nullable("At", {"type": "int", "logicalType": "time-millis"}))

    (problem,) = backward_problems(new, old)

    assert "logical type changed from date to time-millis" in problem


def test_nested_fields_are_named_by_path() -> None:
    old = envelope_schema(_record(_nullable("Email", "string")))
    new = envelope_schema(_record(_nullable("Email", "boolean")))

    (problem,) = backward_problems(new, old)

    assert problem.startswith("field 'after.Email': type changed")


def test_an_enum_losing_a_symbol_is_reported() -> None:
    def op(*symbols: str) -> dict[str, Any]:
        return _record(
            {"name": "op", "type": {"type": "enum", "name": "Op", "symbols": list(symbols)}}
        )

    assert backward_problems(op("a", "b", "c"), op("a", "b")) == []
    assert backward_problems(op("a"), op("a", "b")) == [
        "field 'op': enum io.vmsync.test.Op lost symbol(s) b and has no default"
    ]


def test_a_renamed_record_is_reported_unless_aliased() -> None:
    old = _record(_nullable("Id", "string"), name="Old")

    assert backward_problems(_record(_nullable("Id", "string"), name="New"), old) == [
        "schema: record name changed from io.vmsync.test.Old to io.vmsync.test.New"
    ]
    aliased = {**_record(_nullable("Id", "string"), name="New"), "aliases": ["Old"]}
    assert backward_problems(aliased, old) == []


def test_ensure_backward_raises_with_every_problem() -> None:
    old = _record(_nullable("A", "string"), _nullable("B", "string"))
    new = _record(_nullable("A", "int"), _nullable("B", "boolean"))

    with pytest.raises(IncompatibleSchemaError, match=r"'A'.*'B'") as caught:
        ensure_backward("veeva.Account-value", new, old)

    assert caught.value.subject == "veeva.Account-value"
    assert len(caught.value.problems) == 2

"""The Veeva emulator's SOQL parser and its translation to SQLite."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veeva_marketo_sync.emulators.veeva.errors import ApiError
from veeva_marketo_sync.emulators.veeva.schema import OBJECTS
from veeva_marketo_sync.emulators.veeva.soql import (
    BoolOp,
    Comparison,
    Count,
    FieldRef,
    InList,
    Not,
    parse,
)
from veeva_marketo_sync.emulators.veeva.sqlgen import compile_query, shape_record
from veeva_marketo_sync.emulators.veeva.store import table_sql


def test_field_list_with_relationship_paths() -> None:
    query = parse("SELECT Id, RecordType.DeveloperName, Owner.Name FROM Account")
    assert query.sobject == "Account"
    assert query.select == (
        FieldRef(("Id",)),
        FieldRef(("RecordType", "DeveloperName")),
        FieldRef(("Owner", "Name")),
    )


def test_keywords_are_case_insensitive() -> None:
    query = parse("select Id from Account where IsDeleted = FALSE order by Id desc limit 5")
    assert query.limit == 5
    assert query.order_by[0].descending is True
    assert query.where == Comparison(FieldRef(("IsDeleted",)), "=", query.where.value)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("2024-05-01T00:00:00Z", dt.datetime(2024, 5, 1, tzinfo=dt.UTC)),
        ("2024-05-01T00:00:00+00:00", dt.datetime(2024, 5, 1, tzinfo=dt.UTC)),
        ("2024-05-01T00:00:00.000Z", dt.datetime(2024, 5, 1, tzinfo=dt.UTC)),
        ("2024-05-01T02:00:00+02:00", dt.datetime(2024, 5, 1, tzinfo=dt.UTC)),
        ("2024-04-30T19:00:00-0500", dt.datetime(2024, 5, 1, tzinfo=dt.UTC)),
    ],
)
def test_unquoted_datetime_literals(literal: str, expected: dt.datetime) -> None:
    query = parse(f"SELECT Id FROM Account WHERE SystemModstamp >= {literal}")
    assert isinstance(query.where, Comparison)
    assert query.where.value.kind == "datetime"
    assert query.where.value.value == expected


def test_date_literal() -> None:
    query = parse("SELECT Id FROM Call2_vod__c WHERE Call_Date_vod__c > 2024-05-01")
    assert isinstance(query.where, Comparison)
    assert query.where.value.value == dt.date(2024, 5, 1)


def test_precedence_and_parentheses() -> None:
    query = parse(
        "SELECT Id FROM Account WHERE A__c = 'x' OR B__c = 'y' AND NOT (C__c = 'z' OR D__c = null)"
    )
    assert isinstance(query.where, BoolOp)
    assert query.where.op == "or"
    right = query.where.items[1]
    assert isinstance(right, BoolOp)
    assert right.op == "and"
    assert isinstance(right.items[1], Not)


def test_in_and_not_in() -> None:
    query = parse("SELECT Id FROM Account WHERE Id IN ('a', 'b') AND Name NOT IN ('c')")
    assert isinstance(query.where, BoolOp)
    first, second = query.where.items
    assert isinstance(first, InList)
    assert not first.negated
    assert [v.value for v in first.values] == ["a", "b"]
    assert isinstance(second, InList)
    assert second.negated


def test_order_by_multiple_with_nulls() -> None:
    query = parse("SELECT Id FROM Account ORDER BY LastName DESC NULLS FIRST, Id ASC NULLS LAST")
    assert [(o.field.text, o.descending, o.nulls_last) for o in query.order_by] == [
        ("LastName", True, False),
        ("Id", False, True),
    ]


def test_count() -> None:
    query = parse("SELECT COUNT() FROM Account WHERE IsPersonAccount = true")
    assert query.select == (Count(None),)
    assert query.is_count


def test_string_escapes() -> None:
    query = parse(r"SELECT Id FROM Account WHERE Name = 'O\'Brien \\ x'")
    assert isinstance(query.where, Comparison)
    assert query.where.value.value == "O'Brien \\ x"


@pytest.mark.parametrize(
    "soql",
    [
        "",
        "SELECT FROM Account",
        "SELECT Id Account",
        "SELECT Id FROM Account WHERE",
        "SELECT Id FROM Account WHERE Name = ",
        "SELECT Id FROM Account WHERE Name = 'unterminated",
        "SELECT Id FROM Account LIMIT x",
        "SELECT Id FROM Account WHERE (Name = 'a'",
        "SELECT Id FROM Account ORDER Id",
        "SELECT Id FROM Account WHERE Name ~ 'a'",
        "SELECT Id FROM Account extra",
    ],
)
def test_malformed_queries(soql: str) -> None:
    with pytest.raises(ApiError) as info:
        parse(soql)
    assert info.value.error_code == "MALFORMED_QUERY"
    assert info.value.status == 400


@given(st.text(max_size=60))
def test_parser_never_crashes(text: str) -> None:
    code = "MALFORMED_QUERY"
    try:
        parse(text)
    except ApiError as err:
        code = err.error_code
    assert code == "MALFORMED_QUERY"


_SAFE = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(_SAFE)
def test_string_literals_round_trip(value: str) -> None:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    query = parse(f"SELECT Id FROM Account WHERE Name = '{escaped}'")
    assert isinstance(query.where, Comparison)
    assert query.where.value.value == value


# ---- translation to SQL over a small in-memory table -------------------------------------


@pytest.fixture
def db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    for obj in OBJECTS.values():
        conn.execute(table_sql(obj))
    stamp = "2024-05-01T10:00:00.000Z"
    conn.execute(
        'INSERT INTO "User" (Id, IsDeleted, SystemModstamp, Name) VALUES (?,0,?,?)',
        ("005000000000001AAA", stamp, "Pat Rep"),
    )
    conn.execute(
        'INSERT INTO "RecordType" (Id, IsDeleted, SystemModstamp, DeveloperName) VALUES (?,0,?,?)',
        ("012000000000001AAA", stamp, "Professional_vod"),
    )
    rows = [
        (
            "001000000000001AAA",
            0,
            "2024-05-01T10:00:00.000Z",
            "Ann",
            "Smith",
            1,
            "012000000000001AAA",
            "005000000000001AAA",
        ),
        ("001000000000002AAA", 0, "2024-05-01T10:00:00.000Z", None, "jones", 1, None, None),
        (
            "001000000000003AAA",
            0,
            "2024-05-02T10:00:00.000Z",
            "Bob",
            "Brown",
            0,
            "012000000000001AAA",
            "005000000000001AAA",
        ),
        ("001000000000004AAA", 1, "2024-05-03T10:00:00.000Z", "Cy", "Gone", 1, None, None),
    ]
    conn.executemany(
        'INSERT INTO "Account" (Id, IsDeleted, SystemModstamp, FirstName, LastName, '
        "IsPersonAccount, RecordTypeId, OwnerId) VALUES (?,?,?,?,?,?,?,?)",
        rows,
    )
    return conn


def _ids(db: sqlite3.Connection, soql: str, *, include_deleted: bool = False) -> list[str]:
    compiled = compile_query(parse(soql), {}, include_deleted=include_deleted)
    rows = db.execute(compiled.sql, compiled.params).fetchall()
    return [shape_record(compiled, row, "59.0")["Id"][-6:-3] for row in rows]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("IsPersonAccount = true", ["001", "002"]),
        ("IsPersonAccount = false", ["003"]),
        ("FirstName = null", ["002"]),
        ("FirstName != null", ["001", "003"]),
        ("FirstName != 'Ann'", ["002", "003"]),
        ("LastName = 'JONES'", ["002"]),
        ("LastName LIKE 'b%'", ["003"]),
        ("LastName IN ('smith', 'Brown')", ["001", "003"]),
        ("LastName NOT IN ('smith')", ["002", "003"]),
        ("SystemModstamp > 2024-05-01T10:00:00Z", ["003"]),
        ("SystemModstamp >= 2024-05-01T12:00:00+02:00", ["001", "002", "003"]),
        ("RecordType.DeveloperName = 'Professional_vod'", ["001", "003"]),
        ("NOT (IsPersonAccount = true AND FirstName = 'Ann')", ["002", "003"]),
        ("(LastName = 'Smith' OR LastName = 'Brown') AND IsPersonAccount = true", ["001"]),
    ],
)
def test_where_semantics(db: sqlite3.Connection, where: str, expected: list[str]) -> None:
    assert _ids(db, f"SELECT Id FROM Account WHERE {where} ORDER BY Id") == expected


def test_deleted_rows_only_with_query_all(db: sqlite3.Connection) -> None:
    soql = "SELECT Id FROM Account WHERE IsDeleted = true"
    assert _ids(db, soql) == []
    assert _ids(db, soql, include_deleted=True) == ["004"]


def test_order_by_desc_nulls_first(db: sqlite3.Connection) -> None:
    ids = _ids(db, "SELECT Id FROM Account ORDER BY FirstName DESC NULLS FIRST, Id")
    assert ids == ["002", "003", "001"]


def test_relationship_fields_are_nested_or_null(db: sqlite3.Connection) -> None:
    compiled = compile_query(
        parse("SELECT Id, Owner.Name FROM Account ORDER BY Id LIMIT 2"), {}, include_deleted=False
    )
    rows = db.execute(compiled.sql, compiled.params).fetchall()
    first, second = (shape_record(compiled, row, "59.0") for row in rows)
    assert first["Owner"]["Name"] == "Pat Rep"
    assert first["Owner"]["attributes"]["type"] == "User"
    assert second["Owner"] is None


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Nope__c", "INVALID_TYPE"),
        ("SELECT Bogus__c FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE SystemModstamp > '2024-05-01'", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE IsDeleted = 'true'", "INVALID_FIELD"),
        ("SELECT Nope.Name FROM Account", "INVALID_FIELD"),
    ],
)
def test_translation_errors(soql: str, code: str) -> None:
    with pytest.raises(ApiError) as info:
        compile_query(parse(soql), {}, include_deleted=False)
    assert info.value.error_code == code


def test_hidden_field_is_invalid() -> None:
    with pytest.raises(ApiError) as info:
        compile_query(
            parse("SELECT Id, NPI_vod__c FROM Account"),
            {"account": {"npi_vod__c"}},
            include_deleted=False,
        )
    assert info.value.error_code == "INVALID_FIELD"
    assert "NPI_vod__c" in info.value.message

"""SOQL of change capture: snapshot chunks, keyset pages of changes, literals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from veeva_marketo_sync.emulators.veeva.soql import parse
from veeva_marketo_sync.producers.soql import (
    QueryScope,
    changes_query,
    count_from_where,
    keyset_condition,
    snapshot_query,
    soql_datetime,
    soql_string,
)
from veeva_marketo_sync.producers.watermark import Watermark

ACCOUNT = QueryScope(
    "Account",
    ("Id", "SystemModstamp", "PersonEmail"),
    where="IsPersonAccount = true AND RecordType.DeveloperName = 'Professional_vod'",
)
CALLS = QueryScope(
    "Call2_vod__c",
    ("Id", "SystemModstamp"),
    window_field="CreatedDate",
    window_start=datetime(2023, 11, 1, tzinfo=UTC),
)


@pytest.mark.parametrize(
    ("moment", "literal"),
    [
        (datetime(2024, 5, 1, tzinfo=UTC), "2024-05-01T00:00:00Z"),
        (datetime(2024, 5, 1, 10, 0, 0, 250_999, tzinfo=UTC), "2024-05-01T10:00:00.250Z"),
        (datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T10:00:00Z"),
    ],
)
def test_datetimes_are_unquoted_utc_literals(moment: datetime, literal: str) -> None:
    assert soql_datetime(moment) == literal


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        soql_datetime(datetime(2024, 5, 1))  # noqa: DTZ001


def test_strings_are_quoted_and_escaped() -> None:
    assert soql_string("O'Brien\\x") == "'O\\'Brien\\\\x'"


def test_first_snapshot_chunk_orders_by_id_under_the_filter() -> None:
    soql = snapshot_query(ACCOUNT, after_id=None, limit=20_000)
    assert soql == (
        "SELECT Id, SystemModstamp, PersonEmail FROM Account WHERE (IsPersonAccount = true AND "
        "RecordType.DeveloperName = 'Professional_vod') ORDER BY Id LIMIT 20000"
    )
    parse(soql)


def test_next_snapshot_chunk_continues_after_the_cursor() -> None:
    soql = snapshot_query(CALLS, after_id="a0X000000000042AAA", limit=5)
    assert soql == (
        "SELECT Id, SystemModstamp FROM Call2_vod__c WHERE CreatedDate >= 2023-11-01T00:00:00Z "
        "AND Id > 'a0X000000000042AAA' ORDER BY Id LIMIT 5"
    )
    parse(soql)


def test_a_cycle_starts_with_greater_or_equal_on_the_modstamp() -> None:
    start = Watermark(datetime(2024, 5, 1, 9, 59, tzinfo=UTC))
    soql = changes_query(ACCOUNT, after=start, limit=2000)
    assert "AND SystemModstamp >= 2024-05-01T09:59:00Z ORDER BY SystemModstamp, Id LIMIT 2000" in (
        soql
    )
    parse(soql)


def test_later_pages_use_the_full_keyset_so_equal_timestamps_are_not_skipped() -> None:
    after = Watermark(datetime(2024, 5, 1, 10, 0, 0, 5000, tzinfo=UTC), "001000000000007AAA")
    assert keyset_condition(after) == (
        "(SystemModstamp > 2024-05-01T10:00:00.005Z OR (SystemModstamp = 2024-05-01T10:00:00.005Z"
        " AND Id > '001000000000007AAA'))"
    )
    parse(changes_query(CALLS, after=after, limit=3))


def test_count_uses_the_same_filter_and_window() -> None:
    assert count_from_where(CALLS) == "FROM Call2_vod__c WHERE CreatedDate >= 2023-11-01T00:00:00Z"
    assert count_from_where(QueryScope("User", ("Id",))) == "FROM User"


@pytest.mark.parametrize("limit", [0, -1])
def test_limits_must_be_positive(limit: int) -> None:
    with pytest.raises(ValueError, match="LIMIT"):
        snapshot_query(ACCOUNT, after_id=None, limit=limit)

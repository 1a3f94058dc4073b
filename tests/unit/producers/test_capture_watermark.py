"""Watermarks: parsing Salesforce datetimes, overlap, advancing, dedupe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veeva_marketo_sync.producers.watermark import (
    EPOCH,
    Deduper,
    Watermark,
    advance,
    cycle_start,
    parse_sf_datetime,
    record_position,
    window_start,
)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T10:00:00.000+0000",
        "2024-05-01T10:00:00.000Z",
        "2024-05-01T10:00:00Z",
        "2024-05-01T12:00:00.000+02:00",
        "2024-05-01T10:00:00",
    ],
)
def test_salesforce_datetime_forms_parse_to_utc(text: str) -> None:
    assert parse_sf_datetime(text) == T0
    assert parse_sf_datetime(text).tzinfo is UTC


@pytest.mark.parametrize("value", [None, "", 17, "yesterday"])
def test_non_datetimes_are_refused(value: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        parse_sf_datetime(value)


def test_a_records_position_is_modstamp_then_id_to_the_millisecond() -> None:
    record = {"Id": "a01", "SystemModstamp": "2024-05-01T10:00:00.123+0000"}
    assert record_position(record) == Watermark(T0 + timedelta(milliseconds=123), "a01")
    with pytest.raises(ValueError, match="Id"):
        record_position({"SystemModstamp": "2024-05-01T10:00:00Z"})


def test_a_cycle_starts_one_overlap_before_the_watermark_with_every_id() -> None:
    start = cycle_start(Watermark(T0, "a09"), timedelta(seconds=60))
    assert start == Watermark(T0 - timedelta(seconds=60), "")
    assert cycle_start(Watermark(EPOCH), timedelta(days=1)) == Watermark(EPOCH)


def test_the_watermark_moves_forward_only() -> None:
    mark = Watermark(T0, "a05")
    later = Watermark(T0 + timedelta(seconds=1), "a01")
    earlier = Watermark(T0 - timedelta(seconds=30), "a99")
    assert advance(mark, later) == later
    assert advance(mark, earlier) == mark
    assert advance(mark, None) == mark
    assert advance(mark, Watermark(T0, "a07")) == Watermark(T0, "a07")


@given(
    marks=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=30),
    overlap=st.integers(min_value=0, max_value=120),
)
def test_watermarks_never_go_back_and_a_cycle_always_covers_the_last_one(
    marks: list[int], overlap: int
) -> None:
    mark = Watermark(T0)
    for seconds in marks:
        new = advance(mark, Watermark(T0 + timedelta(seconds=seconds), "x"))
        assert new.modstamp >= mark.modstamp
        mark = new
        assert cycle_start(mark, timedelta(seconds=overlap)).modstamp <= mark.modstamp


def test_window_start_is_days_before_now() -> None:
    assert window_start(T0, 183) == T0 - timedelta(days=183)
    assert window_start(T0, None) is None


def test_dedupe_drops_versions_seen_and_keeps_new_versions_of_the_same_record() -> None:
    deduper = Deduper()
    v1 = {"Id": "a01", "SystemModstamp": "2024-05-01T10:00:00.000+0000"}
    v2 = {"Id": "a01", "SystemModstamp": "2024-05-01T10:05:00.000+0000"}
    other = {"Id": "a02", "SystemModstamp": "2024-05-01T10:00:00.000+0000"}
    assert deduper.fresh([v1, other]) == [v1, other]
    assert deduper.fresh([v1, v2, other]) == [v2]
    assert deduper.fresh([v2]) == []


def test_dedupe_forgets_versions_older_than_the_next_cycle_start() -> None:
    deduper = Deduper()
    old = {"Id": "a01", "SystemModstamp": "2024-05-01T09:00:00Z"}
    recent = {"Id": "a02", "SystemModstamp": "2024-05-01T10:00:00Z"}
    deduper.fresh([old, recent])
    deduper.forget_before(T0 - timedelta(minutes=1))
    assert len(deduper) == 1
    assert deduper.fresh([old, recent]) == [old]

"""Keyset paging never skips a record, whatever the timestamps collide on and the page size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from capture_fakes import FakeVeeva
from hypothesis import given, settings
from hypothesis import strategies as st

from veeva_marketo_sync.producers.soql import QueryScope
from veeva_marketo_sync.producers.sources import ChangeReader, SnapshotReader
from veeva_marketo_sync.producers.watermark import EPOCH, Watermark, record_position

BASE = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
FIELDS = ("Id", "SystemModstamp", "IsDeleted")
SCOPE = QueryScope("Call2_vod__c", FIELDS)


def _stamp(offset_ms: int) -> str:
    moment = BASE + timedelta(milliseconds=offset_ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


# Few distinct timestamps for many records: collisions are the rule, not the exception.
records = st.dictionaries(
    keys=st.from_regex(r"a0[0-9A-Za-z]{3}", fullmatch=True),
    values=st.sampled_from([0, 1, 1000, 1001, 60_000]),
    max_size=40,
)


def _fake(rows: dict[str, int], deleted: frozenset[str] = frozenset()) -> FakeVeeva:
    fake = FakeVeeva()
    fake.define("Call2_vod__c", {})
    for record_id, offset in rows.items():
        fake.put("Call2_vod__c", {"Id": record_id, "SystemModstamp": _stamp(offset)})
        if record_id in deleted:
            fake.delete("Call2_vod__c", record_id, _stamp(offset))
    return fake


@settings(max_examples=150, deadline=None)
@given(rows=records, page_size=st.integers(min_value=1, max_value=7), data=st.data())
def test_change_pages_return_every_record_once_in_keyset_order(
    rows: dict[str, int], page_size: int, data: st.DataObject
) -> None:
    deleted = frozenset(data.draw(st.sets(st.sampled_from(sorted(rows)))) if rows else ())
    fake = _fake(rows, deleted)

    pages = list(ChangeReader(page_size=page_size).pages(fake, SCOPE, Watermark(EPOCH)))

    read = [record for page in pages for record in page]
    assert sorted(r["Id"] for r in read) == sorted(rows)
    positions = [record_position(r) for r in read]
    assert positions == sorted(positions)
    assert all(0 < len(page) <= page_size for page in pages)
    assert {r["Id"] for r in read if r["IsDeleted"]} == deleted


@settings(max_examples=100, deadline=None)
@given(
    rows=records, page_size=st.integers(min_value=1, max_value=7), start_offset=st.integers(0, 2000)
)
def test_change_pages_from_a_watermark_return_every_record_at_or_after_it(
    rows: dict[str, int], page_size: int, start_offset: int
) -> None:
    fake = _fake(rows)
    start = Watermark(BASE + timedelta(milliseconds=start_offset))

    read = [r for page in ChangeReader(page_size=page_size).pages(fake, SCOPE, start) for r in page]

    expected = {i for i, offset in rows.items() if offset >= start_offset}
    assert sorted(r["Id"] for r in read) == sorted(expected)


@settings(max_examples=100, deadline=None)
@given(
    rows=records,
    chunk=st.integers(min_value=1, max_value=9),
    batch=st.integers(min_value=1, max_value=4),
    resume_at=st.integers(min_value=0, max_value=40),
)
def test_snapshot_chunks_resume_after_any_cursor_without_gaps(
    rows: dict[str, int], chunk: int, batch: int, resume_at: int
) -> None:
    fake = _fake(rows)
    reader = SnapshotReader(chunk_size=chunk, batch_size=batch)
    ordered = sorted(rows)
    cursor = ordered[resume_at - 1] if 0 < resume_at <= len(ordered) else None

    read = [r["Id"] for page in reader.pages(fake, SCOPE, cursor) for r in page]

    assert read == [i for i in ordered if cursor is None or i > cursor]

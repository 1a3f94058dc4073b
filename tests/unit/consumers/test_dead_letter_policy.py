"""Dead letters: context headers round trip, the Avro contract, and the rate caps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from veeva_marketo_sync.consumers.dead_letters import (
    DeadLetter,
    DlqLimit,
    DlqPolicy,
    encode_dead_letter,
    parse_dead_letter,
)
from veeva_marketo_sync.dead_letter_headers import (
    H_CLASS,
    H_FAILED_AT,
    H_MESSAGE,
    H_OFFSET,
    H_PARTITION,
    H_STAGE,
    H_TOPIC,
    MAX_MESSAGE_CHARS,
)
from veeva_marketo_sync.errors import Action, FatalError
from veeva_marketo_sync.schemas.codec import AvroCodec

LETTER = DeadLetter(
    key=b"001A",
    value=b"\xc3\x01original-bytes",
    topic="marketo.leads",
    partition=2,
    offset=41,
    stage="write",
    error_class="RecordRejectedError",
    message="1006: Field not found",
    failed_at=datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC),
    headers=(("traceparent", b"00-abc"),),
)


def test_context_headers_follow_kafka_connect() -> None:
    headers = dict(LETTER.context_headers("vmsync-marketo-writer"))
    assert headers[H_TOPIC] == b"marketo.leads"
    assert headers[H_PARTITION] == b"2"
    assert headers[H_OFFSET] == b"41"
    assert headers[H_STAGE] == b"write"
    assert headers[H_CLASS] == b"RecordRejectedError"
    assert headers[H_MESSAGE] == b"1006: Field not found"
    assert headers[H_FAILED_AT] == b"1772366400123"
    assert headers["traceparent"] == b"00-abc", "the original headers stay"


def test_a_letter_survives_the_round_trip_through_headers() -> None:
    headers = LETTER.context_headers("w")
    parsed = parse_dead_letter(LETTER.key, LETTER.value, headers, dlq_partition=0, dlq_offset=9)
    assert parsed == DeadLetter(**{**LETTER.__dict__, "dlq_partition": 0, "dlq_offset": 9})


def test_long_messages_are_cut() -> None:
    long = DeadLetter(**{**LETTER.__dict__, "message": "x" * 10_000})
    assert len(dict(long.context_headers("w"))[H_MESSAGE]) == MAX_MESSAGE_CHARS


def test_records_without_context_are_not_letters() -> None:
    with pytest.raises(ValueError, match="missing header"):
        parse_dead_letter(b"k", b"v", [("other", b"1")])


def test_the_listing_view_fits_the_avro_contract() -> None:
    codec = AvroCodec()
    decoded = codec.decode(encode_dead_letter(codec, "vmsync.dlq", LETTER))
    assert decoded["value"] == LETTER.value
    assert decoded["offset"] == 41
    assert decoded["failed_at"] == LETTER.failed_at


def test_without_a_limit_everything_may_be_dead_lettered() -> None:
    policy = DlqPolicy()
    policy.admit(10_000)


def test_too_many_in_a_row_stops_the_worker() -> None:
    policy = DlqPolicy(DlqLimit(max_consecutive_count=3))
    policy.admit(2)
    policy.record_valid()
    policy.admit(3)
    with pytest.raises(FatalError, match="4 dead letters in a row") as caught:
        policy.admit()
    assert caught.value.action is Action.STOP


def test_the_ratio_applies_after_the_sample() -> None:
    policy = DlqPolicy(DlqLimit(max_invalid_ratio=0.1, min_sample=20))
    policy.admit(5)  # 5 of 5, but below the sample
    policy.record_valid(45)
    policy.admit(0)
    with pytest.raises(FatalError, match="6 of 51"):
        policy.admit()

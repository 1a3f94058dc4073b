"""The Marketo writer against a real Kafka broker and an in-memory MarketoApi."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace

import pytest
from writer_harness import FAST, Deployment, eventually, start, upsert
from writer_marketo_fake import FakeMarketo

from veeva_marketo_sync.consumers.dead_letters import (
    list_dead_letters,
    redrive,
)
from veeva_marketo_sync.consumers.idmap import load_id_map
from veeva_marketo_sync.dead_letter_headers import (
    H_CLASS,
    H_MESSAGE,
    H_OFFSET,
    H_PARTITION,
    H_STAGE,
    H_TOPIC,
)
from veeva_marketo_sync.errors import QuotaExhaustedError, TransientError

pytestmark = pytest.mark.integration

SLOW_RETRY = replace(FAST, backoff_seconds=60.0)


async def test_a_thousand_commands_take_about_n_over_300_calls(deployment: Deployment) -> None:
    n = 1000
    await deployment.produce("leads", [upsert(f"V{i:04d}") for i in range(n)])
    fake = FakeMarketo()
    running = start(deployment.writer(fake))
    try:
        await eventually(lambda: len(fake.leads) == n, what="every lead written")
        await eventually(lambda: _committed(deployment, n), what="all committed")
    finally:
        await running.shutdown()
    assert set(fake.writes.values()) == {1}, "every record written exactly once"
    assert fake.calls_of("sync_leads") <= math.ceil(n / 300) + 2
    assert max(size for _, size in fake.calls) <= 300
    status = running.writer.status()
    assert status.records_written == {"leads": n}
    assert status.calls_made == fake.calls_of("sync_leads")
    assert status.dead_letters == 0
    ids = await load_id_map(deployment.settings, deployment.topics.idmap)
    assert ids == {key: str(lead["id"]) for key, lead in fake.leads.items()}


async def test_repeated_updates_are_merged_and_later_values_win(deployment: Deployment) -> None:
    commands = [
        upsert("V1", {"firstName": "A", "email": "a@x.com"}),
        upsert("V2", {"firstName": "B"}),
        upsert("V1", {"firstName": "C"}),
    ]
    await deployment.produce("leads", commands)
    fake = FakeMarketo()
    running = start(deployment.writer(fake))
    try:
        await eventually(lambda: _committed(deployment, 3), what="all committed")
    finally:
        await running.shutdown()
    assert fake.leads["V1"]["firstName"] == "C"
    assert fake.leads["V1"]["email"] == "a@x.com"
    assert all(len(keys) == len(set(keys)) for keys in fake.keys_per_call)


async def test_a_rejected_record_is_dead_lettered_and_the_rest_committed(
    deployment: Deployment,
) -> None:
    commands = [upsert(f"V{i}") for i in range(10)]
    values = await deployment.produce("leads", [*commands, b"not avro"])
    fake = FakeMarketo(reject={"V3": ("1006", "Field 'email' not found")})
    running = start(deployment.writer(fake))
    try:
        await eventually(lambda: running.writer.status().dead_letters == 2, what="two letters")
        await eventually(lambda: len(fake.leads) == 9)
        await eventually(lambda: _committed(deployment, 11), what="all committed")
    finally:
        await running.shutdown()

    letters = await list_dead_letters(deployment.settings, deployment.topics.dlq)
    by_stage = {letter.stage: letter for letter in letters}
    assert set(by_stage) == {"write", "decode"}
    rejected = by_stage["write"]
    assert rejected.key == b"V3"
    assert rejected.value == values[3], "the original bytes, untouched"
    assert rejected.topic == deployment.topics.marketo("leads")
    assert rejected.error_class == "RecordRejectedError"
    assert "1006" in rejected.message
    assert by_stage["decode"].value == b"not avro"
    assert by_stage["decode"].error_class == "CommandError"


async def test_dead_letters_carry_connect_headers_and_can_be_redriven(
    deployment: Deployment,
) -> None:
    values = await deployment.produce("leads", [upsert("V1"), upsert("V2")])
    fake = FakeMarketo(reject={"V2": ("1003", "Invalid data")})
    running = start(deployment.writer(fake))
    try:
        await eventually(lambda: running.writer.status().dead_letters == 1)
        (letter,) = await list_dead_letters(deployment.settings, deployment.topics.dlq)
        raw = await _raw_dlq_headers(deployment)
        for name in (H_TOPIC, H_PARTITION, H_OFFSET, H_STAGE, H_CLASS, H_MESSAGE):
            assert name in raw
        assert raw[H_TOPIC] == deployment.topics.marketo("leads").encode()
        assert int(raw[H_OFFSET]) == letter.offset
        assert letter.value == values[1]

        fake.reject.clear()  # the mapping was fixed
        sent = await redrive(deployment.settings, [letter], dlq_topic=deployment.topics.dlq)
        assert sent == 1
        await eventually(lambda: "V2" in fake.leads, what="the re-driven record written")
    finally:
        await running.shutdown()
    assert fake.writes["V2"] == 1


async def _raw_dlq_headers(deployment: Deployment) -> dict[str, bytes]:
    from contextlib import aclosing

    from veeva_marketo_sync.consumers.reading import read_to_end

    async with aclosing(read_to_end(deployment.settings, deployment.topics.dlq)) as records:
        async for record in records:
            return dict(record.headers)
    pytest.fail("no dead letter")


async def test_a_writer_killed_mid_batch_loses_and_doubles_nothing(deployment: Deployment) -> None:
    n = 700
    await deployment.produce("leads", [upsert(f"V{i:04d}", {"n": i}) for i in range(n)])
    fake = FakeMarketo(hold_call=2)
    first = start(deployment.writer(fake))
    await eventually(fake.held.is_set, what="the second call to block")
    first.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first.task
    assert await deployment.committed() < n, "the interrupted batch was not committed"

    fake.hold_call = None
    fake.release.set()
    second = start(deployment.writer(fake))
    try:
        await eventually(lambda: len(fake.leads) == n, what="every lead written")
        await eventually(lambda: _committed(deployment, n), what="all committed")
    finally:
        await second.shutdown()
    assert sorted(fake.leads) == [f"V{i:04d}" for i in range(n)]
    assert len({lead["id"] for lead in fake.leads.values()}) == n, "no duplicate leads"
    assert all(lead["n"] == int(key[1:]) for key, lead in fake.leads.items())


async def _committed(deployment: Deployment, n: int) -> bool:
    return await deployment.committed() == n


async def test_quota_exhaustion_pauses_then_resumes(deployment: Deployment) -> None:
    await deployment.produce("leads", [upsert(f"V{i}") for i in range(5)])
    fake = FakeMarketo(failures=[QuotaExhaustedError("daily quota", resets_in_seconds=2.0)])
    running = start(deployment.writer(fake))
    try:
        await eventually(lambda: running.writer.status().paused_until is not None, what="pause")
        status = running.writer.status()
        assert status.pause_reason is not None
        assert "quota" in status.pause_reason
        assert fake.leads == {}
        await eventually(lambda: len(fake.leads) == 5, what="resumed writes")
        await eventually(lambda: running.writer.status().paused_until is None)
        await eventually(lambda: _committed(deployment, 5), what="all committed")
    finally:
        await running.shutdown()
    assert set(fake.writes.values()) == {1}


async def test_transient_errors_retry_the_batch(deployment: Deployment) -> None:
    await deployment.produce("leads", [upsert(f"V{i}") for i in range(5)])
    fake = FakeMarketo(failures=[TransientError("606"), TransientError("timeout")])
    running = start(deployment.writer(fake))
    try:
        await eventually(lambda: _committed(deployment, 5), what="all committed")
    finally:
        await running.shutdown()
    assert fake.calls_of("sync_leads") == 3
    assert set(fake.writes.values()) == {1}


async def test_a_lead_delete_uses_the_id_map_and_leaves_a_tombstone(
    deployment: Deployment,
) -> None:
    await deployment.produce("leads", [upsert("V1"), upsert("V2")])
    fake = FakeMarketo()
    running = start(deployment.writer(fake))
    try:
        await eventually(lambda: len(fake.leads) == 2)
        delete = upsert("V1", {}, target_kind="delete")
        await deployment.produce("leads", [delete])
        await eventually(lambda: "V1" not in fake.leads, what="the delete")
        await eventually(lambda: running.writer.status().records_written.get("leads") == 3)
    finally:
        await running.shutdown()
    assert fake.calls_of("get_leads") == 0, "the id map knew the lead id"
    ids = await load_id_map(deployment.settings, deployment.topics.idmap)
    assert set(ids) == {"V2"}


async def test_stop_during_a_call_finishes_the_round_then_returns(
    deployment: Deployment,
) -> None:
    await deployment.produce("leads", [upsert("V1")])
    fake = FakeMarketo(hold_call=1)
    running = start(deployment.writer(fake))
    await eventually(fake.held.is_set)
    running.stop.set()
    fake.release.set()
    await asyncio.wait_for(running.task, timeout=30)
    assert not running.writer.status().running
    assert await deployment.committed() == 1


async def test_stop_during_a_backoff_abandons_the_round(deployment: Deployment) -> None:
    await deployment.produce("leads", [upsert("V1")])
    fake = FakeMarketo(failures=[TransientError("down")] * 10)
    running = start(deployment.writer(fake, config=SLOW_RETRY))
    await eventually(lambda: fake.calls_of("sync_leads") >= 1)
    running.stop.set()
    await asyncio.wait_for(running.task, timeout=30)
    assert fake.leads == {}
    assert await deployment.committed() == 0

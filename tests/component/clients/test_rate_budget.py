"""RateBudget: calls per window, concurrency and the daily allowance, through MarketoClient."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from marketo_fake import BASE_URL, CLIENT_ID, CLIENT_SECRET, FakeMarketo

from veeva_marketo_sync.clients.marketo import MarketoClient
from veeva_marketo_sync.clients.rate_budget import RateBudget, next_quota_reset
from veeva_marketo_sync.errors import QuotaExhaustedError
from veeva_marketo_sync.settings import MarketoSettings


def settings(**overrides: object) -> MarketoSettings:
    values: dict[str, object] = {
        "base_url": BASE_URL,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    return MarketoSettings(**(values | overrides))  # type: ignore[arg-type]


class Now:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


async def test_calls_beyond_the_window_wait_for_the_next_windows() -> None:
    fake = FakeMarketo()
    config = settings(calls_per_window=5, window_seconds=1.0)
    async with MarketoClient(config, transport=fake.transport()) as marketo:
        started = time.monotonic()
        await asyncio.gather(*(marketo.describe_leads() for _ in range(12)))
        elapsed = time.monotonic() - started

    assert len(fake.api_requests) == 12
    assert elapsed >= 2.0  # 12 calls at 5 per second need more than two windows


async def test_no_window_admits_more_than_calls_per_window() -> None:
    budget = RateBudget(calls_per_window=5, window_seconds=0.25, max_concurrency=10, daily_quota=99)
    starts: list[float] = []

    async def one() -> None:
        async with budget.call():
            starts.append(time.monotonic())

    await asyncio.gather(*(one() for _ in range(11)))
    starts.sort()
    for first, sixth in zip(starts, starts[5:], strict=False):
        assert sixth - first >= 0.25 - 0.01  # loop timer granularity


async def test_concurrency_never_exceeds_max_concurrency() -> None:
    fake = FakeMarketo()
    fake.gate = asyncio.Event()
    fake.expect_in_flight = 3
    config = settings(max_concurrency=3, calls_per_window=100, window_seconds=0.01)
    async with MarketoClient(config, transport=fake.transport()) as marketo:
        calls = asyncio.gather(*(marketo.describe_leads() for _ in range(10)))
        await asyncio.wait_for(fake.all_in.wait(), timeout=5)
        fake.expect_in_flight = 4
        fake.all_in.clear()
        # The limiter would admit all ten within 1 ms; a fourth call must not get in.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(fake.all_in.wait(), timeout=0.2)
        assert marketo.budget_status().in_flight == 3
        fake.gate.set()
        await calls

    assert fake.max_in_flight == 3
    assert len(fake.api_requests) == 10


async def test_daily_reserve_refuses_calls_once_the_allowance_is_spent() -> None:
    fake = FakeMarketo()
    now = Now(datetime(2024, 5, 1, 15, 0, tzinfo=UTC))
    config = settings(daily_quota=10, daily_reserve=7, calls_per_window=100, window_seconds=0.01)
    budget = RateBudget.from_settings(config, now=now)
    async with MarketoClient(config, transport=fake.transport(), budget=budget) as marketo:
        for _ in range(3):
            await marketo.describe_leads()
        with pytest.raises(QuotaExhaustedError) as caught:
            await marketo.describe_leads()

        status = marketo.budget_status()
        assert (status.calls_today, status.allowance, status.remaining) == (3, 3, 0)
        # 15:00 UTC is 10:00 CDT; the quota resets at 05:00 UTC the next day.
        assert status.paused_until == datetime(2024, 5, 2, 5, 0, tzinfo=UTC)
        assert caught.value.resets_in_seconds == 14 * 3600
        assert len(fake.api_requests) == 3

        now.at = datetime(2024, 5, 2, 5, 0, 1, tzinfo=UTC)
        await marketo.describe_leads()
        status = marketo.budget_status()
        assert (status.calls_today, status.paused_until) == (1, None)


@pytest.mark.parametrize(
    ("now", "reset"),
    [
        (datetime(2024, 5, 1, 4, 59, tzinfo=UTC), datetime(2024, 5, 1, 5, 0, tzinfo=UTC)),
        (datetime(2024, 5, 1, 5, 0, tzinfo=UTC), datetime(2024, 5, 2, 5, 0, tzinfo=UTC)),
        (datetime(2024, 1, 15, 12, 0, tzinfo=UTC), datetime(2024, 1, 16, 6, 0, tzinfo=UTC)),
        (datetime(2024, 11, 3, 3, 0, tzinfo=UTC), datetime(2024, 11, 3, 5, 0, tzinfo=UTC)),
        (datetime(2024, 11, 3, 6, 0, tzinfo=UTC), datetime(2024, 11, 4, 6, 0, tzinfo=UTC)),
    ],
)
def test_quota_resets_at_midnight_us_central(now: datetime, reset: datetime) -> None:
    assert next_quota_reset(now) == reset
    assert timedelta(0) < reset - now <= timedelta(hours=25)

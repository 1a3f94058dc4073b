"""The API budget of one Marketo instance: calls per window, concurrent calls, calls per day.

Marketo counts all three per instance, shared by every integration, so one process keeps one
``RateBudget`` per instance and hands it to every ``MarketoClient`` it builds for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiolimiter import AsyncLimiter

from veeva_marketo_sync.errors import QuotaExhaustedError
from veeva_marketo_sync.settings import MarketoSettings

QUOTA_TIMEZONE = ZoneInfo("America/Chicago")
"""Marketo's daily quota resets at midnight US Central time."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def next_quota_reset(now: datetime) -> datetime:
    """The next midnight in US Central time after ``now`` (an aware datetime), in UTC."""
    local_day = now.astimezone(QUOTA_TIMEZONE).date()
    midnight = datetime.combine(local_day + timedelta(days=1), time(0), tzinfo=QUOTA_TIMEZONE)
    return midnight.astimezone(UTC)


def seconds_until_quota_reset(now: datetime) -> float:
    """Seconds from ``now`` until the daily quota resets."""
    return (next_quota_reset(now) - now).total_seconds()


@dataclass(frozen=True)
class BudgetStatus:
    """What the budget has spent today and whether it is paused (for ``vmsync status``)."""

    calls_today: int
    allowance: int
    """``daily_quota - daily_reserve``: what this sync may spend per Marketo day."""
    remaining: int
    paused_until: datetime | None
    in_flight: int


class RateBudget:
    """Admits one Marketo call at a time into the window, the concurrency and the daily budget."""

    def __init__(
        self,
        *,
        calls_per_window: int,
        window_seconds: float,
        max_concurrency: int,
        daily_quota: int,
        daily_reserve: int = 0,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        if min(calls_per_window, max_concurrency, daily_quota) < 1 or window_seconds <= 0:
            msg = "calls_per_window, max_concurrency, daily_quota and window_seconds must be > 0"
            raise ValueError(msg)
        # Capacity 1, not calls_per_window: a leaky bucket that may burst N lets up to 2N calls
        # into one window, and Marketo answers those with 606.
        self._limiter = AsyncLimiter(1, window_seconds / calls_per_window)
        self._slots = asyncio.Semaphore(max_concurrency)
        self._allowance = max(daily_quota - daily_reserve, 0)
        self._now = now
        self._day: date = self._quota_day()
        self._calls_today = 0
        self._in_flight = 0
        self._paused_until: datetime | None = None

    @classmethod
    def from_settings(
        cls, settings: MarketoSettings, *, now: Callable[[], datetime] = _utcnow
    ) -> RateBudget:
        """The budget the settings give this sync on its Marketo instance."""
        return cls(
            calls_per_window=settings.calls_per_window,
            window_seconds=settings.window_seconds,
            max_concurrency=settings.max_concurrency,
            daily_quota=settings.daily_quota,
            daily_reserve=settings.daily_reserve,
            now=now,
        )

    @asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        """Wait for a concurrency slot and the rate window, count the call, then run it.

        Raises:
            QuotaExhaustedError: today's allowance is spent or Marketo said 607; nothing waits.
        """
        self._refuse_when_spent()
        async with self._slots:
            await self._limiter.acquire()
            self._refuse_when_spent()
            self._calls_today += 1
            self._in_flight += 1
            try:
                yield
            finally:
                self._in_flight -= 1

    def pause_until_reset(self) -> float:
        """Stop admitting calls until the next quota reset; return the seconds until then."""
        now = self._now()
        self._paused_until = next_quota_reset(now)
        return (self._paused_until - now).total_seconds()

    def status(self) -> BudgetStatus:
        """Calls spent today, what remains of the allowance, and when a pause ends."""
        self._roll_day()
        return BudgetStatus(
            calls_today=self._calls_today,
            allowance=self._allowance,
            remaining=max(self._allowance - self._calls_today, 0),
            paused_until=self._paused_until,
            in_flight=self._in_flight,
        )

    def _quota_day(self) -> date:
        return self._now().astimezone(QUOTA_TIMEZONE).date()

    def _roll_day(self) -> None:
        today = self._quota_day()
        if today != self._day:
            self._day = today
            self._calls_today = 0
        if self._paused_until is not None and self._now() >= self._paused_until:
            self._paused_until = None

    def _refuse_when_spent(self) -> None:
        self._roll_day()
        if self._paused_until is None and self._calls_today >= self._allowance:
            self.pause_until_reset()
        if self._paused_until is not None:
            seconds = (self._paused_until - self._now()).total_seconds()
            msg = (
                f"Marketo calls paused until {self._paused_until.isoformat()} (quota reset): "
                f"{self._calls_today} calls today, allowance {self._allowance} "
                f"(daily quota minus the reserve kept for other integrations)"
            )
            raise QuotaExhaustedError(msg, resets_in_seconds=seconds)

"""The emulator's wall clock, which tests may move forward to expire tokens without waiting."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

MARKETO_DATETIME = "%Y-%m-%dT%H:%M:%SZ"


class Clock:
    """Wall clock in UTC with an adjustable offset."""

    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the emulated current time (timezone-aware, UTC)."""
        with self._lock:
            return datetime.now(UTC) + self._offset

    def timestamp(self) -> float:
        """Return the emulated current time as POSIX seconds."""
        return self.now().timestamp()

    def advance(self, seconds: float) -> None:
        """Move the emulated clock forward (or back, if negative)."""
        with self._lock:
            self._offset += timedelta(seconds=seconds)


def format_datetime(moment: datetime) -> str:
    """Format a datetime the way Marketo does in lead data and activities (`...Z`)."""
    return moment.astimezone(UTC).strftime(MARKETO_DATETIME)

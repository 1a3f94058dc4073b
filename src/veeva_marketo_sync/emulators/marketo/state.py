"""The running emulator's state: persistent store plus in-memory limiters and faults."""

from __future__ import annotations

from typing import Any

from veeva_marketo_sync.emulators.marketo.clock import Clock, format_datetime
from veeva_marketo_sync.emulators.marketo.limits import FaultInjector, Limits, RateWindow, quota_day
from veeva_marketo_sync.emulators.marketo.store import Store

_LIMITS_KEY = "limits"


class EmulatorState:
    """Everything a request handler needs; one per app."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.rate = RateWindow()
        self.faults = FaultInjector()
        self.in_flight = 0
        saved = store.get_setting(_LIMITS_KEY)
        self._limits = Limits().updated(saved) if isinstance(saved, dict) else Limits()

    @property
    def limits(self) -> Limits:
        """Return the current thresholds."""
        return self._limits

    def update_limits(self, changes: dict[str, Any]) -> Limits:
        """Apply and persist new thresholds.

        Raises:
            ValueError: on an unknown or invalid threshold.
        """
        self._limits = self._limits.updated(changes)
        self.store.set_setting(_LIMITS_KEY, self._limits.as_json())
        return self._limits

    def now_text(self) -> str:
        """Return the emulated current time formatted as Marketo does."""
        return format_datetime(self.clock.now())

    def quota_key(self) -> str:
        """Return today's quota day (US Central)."""
        return quota_day(self.clock.now())

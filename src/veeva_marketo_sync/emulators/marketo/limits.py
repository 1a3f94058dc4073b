"""Instance-wide limits (rate, concurrency, daily quota) and fault injection."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta, timezone
from typing import Any

# Marketo resets the daily quota at midnight US Central Standard Time.
CST = timezone(timedelta(hours=-6))


@dataclass(frozen=True)
class Limits:
    """Thresholds of the emulated subscription; all adjustable through the admin API."""

    rate_calls: int = 100
    rate_window_seconds: float = 20.0
    max_concurrency: int = 10
    daily_quota: int = 50_000
    token_lifetime_seconds: int = 3600
    max_batch: int = 300
    max_body_bytes: int = 1_048_576
    max_uri_bytes: int = 8192

    def updated(self, changes: dict[str, Any]) -> Limits:
        """Return a copy with `changes` applied.

        Raises:
            ValueError: on an unknown name or a non-positive value.
        """
        known = {f.name: f.type for f in fields(self)}
        clean: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown limit {name!r}; known: {sorted(known)}")
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"limit {name!r} must be a positive number")
            clean[name] = float(value) if name == "rate_window_seconds" else int(value)
        return replace(self, **clean)

    def as_json(self) -> dict[str, Any]:
        """Return the thresholds as a JSON object."""
        return asdict(self)


def quota_day(moment: datetime) -> str:
    """Return the quota day (CST date) of a moment."""
    return moment.astimezone(CST).date().isoformat()


class RateWindow:
    """Sliding window of accepted calls (monotonic time)."""

    def __init__(self) -> None:
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def try_acquire(self, limit: int, window: float) -> bool:
        """Record a call unless `limit` calls already happened inside `window` seconds."""
        now = time.monotonic()
        with self._lock:
            while self._calls and self._calls[0] <= now - window:
                self._calls.popleft()
            if len(self._calls) >= limit:
                return False
            self._calls.append(now)
            return True

    def clear(self) -> None:
        """Forget every recorded call."""
        with self._lock:
            self._calls.clear()


@dataclass
class Fault:
    """The next `remaining` calls whose path matches `pattern` misbehave."""

    pattern: str
    remaining: int
    code: str | None = None
    http_status: int = 200
    hang_seconds: float = 0.0
    method: str | None = None
    message: str | None = None

    def matches(self, method: str, path: str) -> bool:
        """Return whether this fault applies to a call."""
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.pattern, path) is not None

    def as_json(self) -> dict[str, Any]:
        """Return the fault as a JSON object."""
        return asdict(self)


class FaultInjector:
    """Holds pending faults and hands out the one that applies to each call."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, spec: dict[str, Any]) -> Fault:
        """Register a fault from its admin JSON.

        Raises:
            ValueError: if the spec is invalid.
        """
        pattern = spec.get("path_pattern") or spec.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise ValueError("path_pattern (a regular expression) is required")
        re.compile(pattern)
        count = spec.get("count", 1)
        hang = spec.get("hang_seconds", 0)
        status = spec.get("http_status", 200)
        code = spec.get("code")
        if not isinstance(count, int) or count < 1:
            raise ValueError("count must be a positive integer")
        if not isinstance(hang, int | float) or hang < 0:
            raise ValueError("hang_seconds must be >= 0")
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError("http_status must be an HTTP status code")
        if code is None and status == 200 and not hang:
            raise ValueError("a fault needs code, http_status != 200 or hang_seconds")
        fault = Fault(
            pattern=pattern,
            remaining=count,
            code=None if code is None else str(code),
            http_status=status,
            hang_seconds=float(hang),
            method=spec.get("method"),
            message=spec.get("message"),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching this call."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        """Return the faults still waiting to fire."""
        with self._lock:
            return [fault.as_json() for fault in self._faults]

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()

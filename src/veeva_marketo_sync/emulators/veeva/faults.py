"""Fault injection and added latency, configured through the admin API."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass


@dataclass
class Fault:
    """The next ``remaining`` calls whose path matches ``pattern`` fail with this error."""

    pattern: str
    status: int
    error_code: str
    message: str
    remaining: int
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.pattern, path) is not None


@dataclass
class Latency:
    """Calls whose path matches ``pattern`` are delayed by ``seconds``."""

    pattern: str
    seconds: float


class FaultBook:
    """The active faults and latencies (in memory; they do not survive a restart)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.faults: list[Fault] = []
        self.latencies: list[Latency] = []

    def add_fault(self, fault: Fault) -> None:
        """Register a fault (the pattern is checked to be a valid regex)."""
        re.compile(fault.pattern)
        with self._lock:
            self.faults.append(fault)

    def add_latency(self, latency: Latency) -> None:
        """Register an added latency."""
        re.compile(latency.pattern)
        with self._lock:
            self.latencies.append(latency)

    def clear(self) -> None:
        """Remove every fault and latency."""
        with self._lock:
            self.faults.clear()
            self.latencies.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching a request."""
        with self._lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
            self.faults = [f for f in self.faults if f.remaining > 0]
        return None

    def delay(self, path: str) -> float:
        """Total added latency for a path, in seconds."""
        with self._lock:
            return sum(lat.seconds for lat in self.latencies if re.search(lat.pattern, path))

"""Snapshot progress: count, rate and ETA (pure maths), shown with rich or as log lines."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

log = logging.getLogger(__name__)


def rate_per_second(done: int, elapsed_seconds: float) -> float | None:
    """Records per second, or None before any time or record has passed."""
    if elapsed_seconds <= 0 or done <= 0:
        return None
    return done / elapsed_seconds


def eta_seconds(total: int, done: int, rate: float | None) -> float | None:
    """Seconds until `total` at `rate`; 0 when done, None when the rate is unknown."""
    remaining = total - done
    if remaining <= 0:
        return 0.0
    if rate is None or rate <= 0:
        return None
    return remaining / rate


def format_duration(seconds: float | None) -> str:
    """`1h02m03s`-style duration, `?` when unknown."""
    if seconds is None:
        return "?"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


@dataclass
class ProgressState:
    """Progress of one snapshot; records resumed from a checkpoint do not count in the rate."""

    object_name: str
    total: int
    done: int
    started_at: float
    resumed_from: int = 0

    def rate(self, now: float) -> float | None:
        """Records per second in this run."""
        return rate_per_second(self.done - self.resumed_from, now - self.started_at)

    def eta(self, now: float) -> float | None:
        """Seconds left at this run's rate."""
        return eta_seconds(self.total, self.done, self.rate(now))

    def line(self, now: float) -> str:
        """One human line: `Account: 1,200/5,000 (24%) 310/s ETA 12s`."""
        percent = f" ({self.done * 100 // self.total}%)" if self.total > 0 else ""
        rate = self.rate(now)
        shown_rate = f"{rate:,.0f}/s" if rate is not None else "?/s"
        return (
            f"{self.object_name}: {self.done:,}/{self.total:,}{percent} {shown_rate} "
            f"ETA {format_duration(self.eta(now))}"
        )


class ProgressReporter(Protocol):
    """Receives snapshot progress of one object at a time."""

    def start(self, object_name: str, total: int, done: int) -> None:
        """A snapshot of `total` records begins (or resumes with `done` already published)."""
        ...

    def advance(self, records: int) -> None:
        """`records` more were published and acknowledged."""
        ...

    def finish(self) -> None:
        """The snapshot ended (completed or stopped)."""
        ...


@dataclass
class LogProgress:
    """Progress as INFO log lines, at most one per `interval_seconds` (for non-terminals)."""

    interval_seconds: float = 10.0
    clock: Callable[[], float] = time.monotonic
    state: ProgressState | None = None
    _last_logged: float = field(default=0.0, repr=False)

    def start(self, object_name: str, total: int, done: int) -> None:
        """See `ProgressReporter.start`."""
        now = self.clock()
        self.state = ProgressState(object_name, total, done, now, resumed_from=done)
        self._last_logged = now
        verb = "resuming" if done else "starting"
        log.info("snapshot %s: %s", verb, self.state.line(now))

    def advance(self, records: int) -> None:
        """See `ProgressReporter.advance`."""
        if self.state is None:
            return
        self.state.done += records
        now = self.clock()
        if now - self._last_logged >= self.interval_seconds:
            self._last_logged = now
            log.info("snapshot %s", self.state.line(now))

    def finish(self) -> None:
        """See `ProgressReporter.finish`."""
        if self.state is not None:
            log.info("snapshot done: %s", self.state.line(self.clock()))
        self.state = None


class RichProgress:
    """A rich progress bar with count, rate and ETA (for terminals)."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self.state: ProgressState | None = None

    def start(self, object_name: str, total: int, done: int) -> None:
        """See `ProgressReporter.start`."""
        self.state = ProgressState(object_name, total, done, time.monotonic(), resumed_from=done)
        self._progress.start()
        self._task = self._progress.add_task(
            f"snapshot {object_name}", total=total, completed=done, rate=""
        )

    def advance(self, records: int) -> None:
        """See `ProgressReporter.advance`."""
        if self.state is None or self._task is None:
            return
        self.state.done += records
        rate = self.state.rate(time.monotonic())
        self._progress.update(
            self._task,
            completed=self.state.done,
            rate=f"{rate:,.0f}/s" if rate is not None else "",
        )

    def finish(self) -> None:
        """See `ProgressReporter.finish`."""
        self._progress.stop()
        self._task = None
        self.state = None


def default_progress(console: Console | None = None) -> ProgressReporter:
    """Rich bars on a terminal, log lines elsewhere (containers, CI, files)."""
    console = console or Console(stderr=True)
    if console.is_terminal:
        return RichProgress(console)
    return LogProgress()

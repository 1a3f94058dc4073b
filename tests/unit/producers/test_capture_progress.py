"""Progress maths: rate and ETA; log lines."""

from __future__ import annotations

import logging

import pytest

from veeva_marketo_sync.producers.progress import (
    LogProgress,
    ProgressState,
    eta_seconds,
    format_duration,
    rate_per_second,
)


@pytest.mark.parametrize(
    ("done", "elapsed", "rate"),
    [(100, 10.0, 10.0), (0, 10.0, None), (5, 0.0, None), (1, 4.0, 0.25)],
)
def test_rate(done: int, elapsed: float, rate: float | None) -> None:
    assert rate_per_second(done, elapsed) == rate


@pytest.mark.parametrize(
    ("total", "done", "rate", "eta"),
    [(1000, 100, 10.0, 90.0), (1000, 1000, 10.0, 0.0), (10, 20, None, 0.0), (10, 5, None, None)],
)
def test_eta(total: int, done: int, rate: float | None, eta: float | None) -> None:
    assert eta_seconds(total, done, rate) == eta


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "?"), (5.4, "5s"), (65, "1m05s"), (3723, "1h02m03s")]
)
def test_durations(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_resumed_snapshot_rates_only_what_this_run_did() -> None:
    state = ProgressState("Account", total=1000, done=600, started_at=0.0, resumed_from=500)
    assert state.rate(10.0) == 10.0
    assert state.eta(10.0) == 40.0
    assert state.line(10.0) == "Account: 600/1,000 (60%) 10/s ETA 40s"


def test_log_progress_logs_at_most_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    progress = LogProgress(interval_seconds=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="veeva_marketo_sync.producers.progress"):
        progress.start("User", total=300, done=0)
        for _ in range(3):
            now[0] += 4.0
            progress.advance(100)
        progress.finish()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "snapshot starting: User: 0/300 (0%) ?/s ETA ?",
        "snapshot User: 300/300 (100%) 25/s ETA 0s",
        "snapshot done: User: 300/300 (100%) 25/s ETA 0s",
    ]

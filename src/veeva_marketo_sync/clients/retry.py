"""Bounded exponential backoff with jitter, shared by both clients (tenacity underneath)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from veeva_marketo_sync.errors import Action, VmsyncError


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a client retries an error whose action is ``retry``."""

    attempts: int = 5
    initial_wait_seconds: float = 1.0
    max_wait_seconds: float = 60.0
    jitter_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            msg = f"attempts must be at least 1, got {self.attempts}"
            raise ValueError(msg)

    def stop(self) -> stop_base:
        """Tenacity stop condition: give up after ``attempts`` tries."""
        return stop_after_attempt(self.attempts)

    def wait(self) -> wait_base:
        """Tenacity wait: exponential from ``initial_wait_seconds``, capped, plus jitter."""
        return wait_exponential_jitter(
            initial=self.initial_wait_seconds,
            max=self.max_wait_seconds,
            jitter=self.jitter_seconds,
        )


def is_transient(exc: BaseException) -> bool:
    """True for our errors whose action is to retry; everything else propagates at once."""
    return isinstance(exc, VmsyncError) and exc.action is Action.RETRY


def retry_transient() -> retry_base:
    """Tenacity retry predicate for :func:`is_transient`."""
    return retry_if_exception(is_transient)


def log_before_sleep(logger: logging.Logger, what: str) -> Callable[[RetryCallState], None]:
    """A tenacity ``before_sleep`` hook that logs the error (never the request) and the wait."""

    def _log(state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning(
            "%s failed (attempt %d): %s; retrying in %.1fs", what, state.attempt_number, error, wait
        )

    return _log

"""Error classes, each carrying the action it demands of the caller.

Classify errors by what must happen next (retry, dead-letter, pause or stop), not by where
they came from: workers read ``error.action`` instead of chaining ``except`` clauses.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What a worker must do when it meets an error."""

    RETRY = "retry"
    """Transient: back off and try the same thing again."""
    DEAD_LETTER = "dead_letter"
    """The record is bad: park it in the DLQ with the reason and move on."""
    PAUSE = "pause"
    """A quota is spent: stop calling until it resets, then go on."""
    STOP = "stop"
    """Configuration or programming error: stop the worker and tell the operator."""


class VmsyncError(Exception):
    """Base of every error this project raises on purpose."""

    action: Action = Action.STOP

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(VmsyncError):
    """The configuration is wrong; the message names the key and what to change."""

    action = Action.STOP


class TransientError(VmsyncError):
    """A temporary failure (rate limit, timeout, 5xx, expired session, row lock)."""

    action = Action.RETRY


class RecordRejectedError(VmsyncError):
    """The far side refused one record for a reason that retrying will not fix."""

    action = Action.DEAD_LETTER

    def __init__(self, message: str, *, record_key: str | None = None, code: str | None = None):
        super().__init__(message)
        self.record_key = record_key
        self.code = code


class QuotaExhaustedError(VmsyncError):
    """A daily API quota is spent; calls must wait until it resets."""

    action = Action.PAUSE

    def __init__(self, message: str, *, resets_in_seconds: float | None = None) -> None:
        super().__init__(message)
        self.resets_in_seconds = resets_in_seconds


class FatalError(VmsyncError):
    """Something is wrong that a retry cannot fix (bad credentials, incompatible schema)."""

    action = Action.STOP

"""Schema errors, each carrying the action it demands (see `veeva_marketo_sync.errors`)."""

from __future__ import annotations

from collections.abc import Iterable

from veeva_marketo_sync.errors import Action, FatalError, VmsyncError


class SchemaError(VmsyncError):
    """Base of every error raised by `veeva_marketo_sync.schemas`."""

    action = Action.STOP


class IncompatibleSchemaError(SchemaError, FatalError):
    """A new schema cannot read data written with the previous one: stop the producer.

    Attributes:
        subject: What the schema is for (a registry subject or an object name).
        problems: One human-readable line per incompatibility, naming the field and why.
    """

    action = Action.STOP

    def __init__(self, subject: str, problems: Iterable[str]) -> None:
        self.subject = subject
        self.problems: tuple[str, ...] = tuple(problems)
        listing = "; ".join(self.problems) or "the registry refused it without details"
        super().__init__(
            f"schema for {subject!r} is not BACKWARD compatible with the previous version: "
            f"{listing}",
            hint="fix the mapping or revert the Veeva field change, or register the schema "
            "under a new subject",
        )


class SchemaDecodeError(SchemaError):
    """Bytes that cannot be decoded (unknown framing, unknown schema, corrupt body)."""

    action = Action.DEAD_LETTER


class SchemaEncodeError(SchemaError):
    """A record does not fit its schema: dead-letter the source record and fix the mapping."""

    action = Action.DEAD_LETTER


class SchemaRegistryError(SchemaError):
    """The Schema Registry answered with an error or could not be reached.

    Attributes:
        status_code: The HTTP status, or None when no answer came.
        retriable: True when retrying later may help (5xx, 429, timeouts, connection errors);
            `action` is then RETRY, else STOP.
    """

    def __init__(self, message: str, *, status_code: int | None, retriable: bool) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retriable = retriable
        self.action = Action.RETRY if retriable else Action.STOP

"""What each record of a Marketo call came to: written, rejected, or to be tried again.

Pure rules over the ``WriteResult`` list a call returns (one per input, in input order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from ..clients.ports import WriteResult
from ..errors import FatalError
from .batching import Op, OpKind

ALREADY_DONE: Final = frozenset({"1037"})
"""Codes that mean the record is already as asked ("Lead was skipped": already in that status)."""

ALREADY_GONE: Final = frozenset({"1004", "1013"})
"""Codes that, answering a delete, mean there is nothing left to delete."""


@dataclass(frozen=True)
class Written:
    """An operation Marketo accepted."""

    op: Op
    remote_id: str | None
    status: str | None


@dataclass(frozen=True)
class Rejected:
    """An operation Marketo refused for a reason that retrying will not fix."""

    op: Op
    code: str | None
    message: str

    def reason(self) -> str:
        """``code: message`` as shown in the dead letter."""
        return f"{self.code}: {self.message}" if self.code else self.message


@dataclass(frozen=True)
class CallOutcome:
    """The sorted answers of one call."""

    written: tuple[Written, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    retry: tuple[Op, ...] = field(default=())


def classify(ops: Sequence[Op], results: Sequence[WriteResult]) -> CallOutcome:
    """Pair each operation with its result and sort them by what must happen next.

    Raises:
        FatalError: The answer does not hold one result per record; the client is broken.
    """
    if len(ops) != len(results):
        msg = f"Marketo answered {len(results)} results for {len(ops)} records"
        raise FatalError(msg, hint="the client must return one result per input, in order")
    written: list[Written] = []
    rejected: list[Rejected] = []
    retry: list[Op] = []
    for op, result in zip(ops, results, strict=True):
        code = result.error_code
        # Deleting, or updating only, a record that is not there leaves nothing to do.
        gone = op.kind in (OpKind.DELETE, OpKind.UPDATE) and code in ALREADY_GONE
        if result.ok or code in ALREADY_DONE or gone:
            written.append(Written(op, result.remote_id, result.status))
        elif result.retriable:
            retry.append(op)
        else:
            message = result.message or f"rejected with status {result.status or 'skipped'}"
            rejected.append(Rejected(op, code, message))
    return CallOutcome(tuple(written), tuple(rejected), tuple(retry))

"""The Marketo paging token as a checkpoint on the compacted ``vmsync.checkpoints`` topic.

Same topic, codec and write path as Veeva capture (``CheckpointStore``); the key is
``marketo-edits/<feed>``. The ``paging_token`` field of ``checkpoint.avsc`` carries the
position in the feed; the watermark records the last published activity (time and id), for
``vmsync status`` and for a human reading the topic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from .checkpoints import Checkpoint, CheckpointStore

COMPONENT: Final = "marketo-edits"
LEAD_CHANGES_FEED: Final = "leadchanges"


@dataclasses.dataclass(frozen=True)
class PagingCheckpoint(Checkpoint):
    """A checkpoint that also holds a Marketo paging token."""

    paging_token: str | None = None

    def to_record(self) -> dict[str, Any]:
        """The Avro record (``checkpoint.avsc``) with the paging token."""
        record = super().to_record()
        record["paging_token"] = self.paging_token
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PagingCheckpoint:
        """Read back a decoded Avro record.

        Raises:
            ValueError: The record has no watermark (not written by this component).
        """
        base = Checkpoint.from_record(record)
        values = {f.name: getattr(base, f.name) for f in dataclasses.fields(Checkpoint)}
        return cls(**values, paging_token=record.get("paging_token"))


class PagingTokenStore(CheckpointStore):
    """``CheckpointStore`` whose checkpoints keep their paging token when read back."""

    def load(self) -> dict[str, Checkpoint]:
        """Read the topic to its end; return the latest checkpoint per feed.

        Raises:
            ConfigError: The topic does not exist (run ``vmsync topics create``).
            TransientError: The end was not reached in time.
        """
        latest: dict[str, Checkpoint] = {}
        prefix = f"{self.component}/"
        for key, value in self._read_to_end().items():
            if key.startswith(prefix) and value is not None:
                checkpoint = PagingCheckpoint.from_record(self._codec.decode(value))
                latest[checkpoint.object_name] = checkpoint
        self._latest = latest
        self._loaded = True
        return dict(latest)

    def paging_token(self, feed: str = LEAD_CHANGES_FEED) -> str | None:
        """The saved paging token of ``feed`` (loading the topic on first use)."""
        checkpoint = self.get(feed)
        return checkpoint.paging_token if isinstance(checkpoint, PagingCheckpoint) else None

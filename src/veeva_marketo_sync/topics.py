"""Every topic the sync uses, spelled once: name, key, value and cleanup policy.

Names take an optional prefix so several Veeva orgs can share one cluster
(``acme.veeva.Account``). Creating them is ``clients.kafka_admin``'s job; this module is pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

_WEEK_MS = 7 * 24 * 3600 * 1000


class Cleanup(StrEnum):
    """Kafka ``cleanup.policy`` values."""

    COMPACT = "compact"
    DELETE = "delete"


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its full name, what its key and value are, and how Kafka keeps it."""

    name: str
    key: str
    value: str
    cleanup: Cleanup
    retention_ms: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def configs(self) -> dict[str, str]:
        """The topic-level configs passed to ``CreateTopics``."""
        configs = {"cleanup.policy": str(self.cleanup)}
        if self.retention_ms is not None:
            configs["retention.ms"] = str(self.retention_ms)
        if self.cleanup is Cleanup.COMPACT:
            # Keep tombstones long enough for every consumer to see a delete before it goes.
            configs["delete.retention.ms"] = str(_WEEK_MS)
        configs.update(self.extra)
        return configs


@dataclass(frozen=True)
class Topics:
    """Topic names for one deployment (one prefix)."""

    prefix: str = ""

    def _name(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def veeva(self, object_name: str) -> str:
        """Change events of one Veeva object, keyed by record Id (compacted)."""
        return self._name(f"veeva.{object_name}")

    def marketo(self, target: str) -> str:
        """Upsert commands for one Marketo target (``leads`` or ``co.<custom object>``)."""
        return self._name(f"marketo.{target}")

    @property
    def lead_edits(self) -> str:
        """Edits made in Marketo to bidirectional lead fields."""
        return self._name("marketo.lead-edits")

    @property
    def contact_edits(self) -> str:
        """Accepted edits to apply to Veeva Person Accounts (the reverse topic)."""
        return self._name("veeva.Account.contact-edits")

    @property
    def checkpoints(self) -> str:
        """Watermarks, snapshot cursors and paging tokens per component and object."""
        return self._name("vmsync.checkpoints")

    @property
    def idmap(self) -> str:
        """Veeva Id -> Marketo id."""
        return self._name("vmsync.idmap")

    @property
    def dlq(self) -> str:
        """Dead letters: the original key and value plus error context headers."""
        return self._name("vmsync.dlq")

    @property
    def decisions(self) -> str:
        """Every conflict decision with its reason, keyed by Veeva Account Id."""
        return self._name("vmsync.decisions")

    def specs(self, objects: tuple[str, ...], marketo_targets: tuple[str, ...]) -> list[TopicSpec]:
        """Every topic of a deployment syncing ``objects`` into ``marketo_targets``."""
        specs = [
            TopicSpec(self.veeva(obj), "record Id", "change event", Cleanup.COMPACT)
            for obj in objects
        ]
        specs += [
            TopicSpec(self.marketo(t), "Veeva Id", "upsert command", Cleanup.DELETE, _WEEK_MS)
            for t in marketo_targets
        ]
        specs += [
            TopicSpec(self.lead_edits, "Veeva Account Id", "edit event", Cleanup.DELETE, _WEEK_MS),
            TopicSpec(
                self.contact_edits, "Veeva Account Id", "accepted edit", Cleanup.DELETE, _WEEK_MS
            ),
            TopicSpec(self.checkpoints, "component/object", "checkpoint", Cleanup.COMPACT),
            TopicSpec(self.idmap, "Veeva Id", "Marketo id", Cleanup.COMPACT),
            TopicSpec(self.dlq, "original key", "dead letter", Cleanup.DELETE, 4 * _WEEK_MS),
            TopicSpec(self.decisions, "Veeva Account Id", "decision", Cleanup.DELETE, 4 * _WEEK_MS),
        ]
        return specs

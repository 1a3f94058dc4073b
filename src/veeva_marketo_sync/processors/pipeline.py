"""The processors' per-batch handlers: events and table state in, records out (pure).

The faust agents only turn Kafka events into :class:`Incoming`, call :meth:`Pipeline.handle`
with a :class:`StateView` over their tables, produce what it returns and then apply the
view's writes. Bad input never raises out of :meth:`Pipeline.handle`: it becomes a dead
letter with its original bytes and the reason, and the batch goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

from veeva_marketo_sync.errors import Action, VmsyncError
from veeva_marketo_sync.processors.conflicts import field_rules
from veeva_marketo_sync.processors.contact_fields import PERSON_ACCOUNT_OBJECT
from veeva_marketo_sync.processors.edit_validation import untrusted_reason
from veeva_marketo_sync.processors.encoding import OutputEncoder
from veeva_marketo_sync.processors.events import (
    LeadEditEvent,
    VeevaEvent,
    decode_change_event,
    decode_lead_edit,
)
from veeva_marketo_sync.processors.mapping import USER_OBJECT, CustomObjectTarget, Mapping
from veeva_marketo_sync.processors.mapping_rules import (
    MappingRules,
    MarketoUpsert,
    UnmappedObjectError,
    needs_write,
)
from veeva_marketo_sync.processors.messages import (
    Incoming,
    Outgoing,
    Stage,
    dead_letter,
    hold,
    release,
)
from veeva_marketo_sync.processors.persons import PersonRules, held_record
from veeva_marketo_sync.processors.records import relationship_paths
from veeva_marketo_sync.processors.state import OWNED, OWNERS, SENT, WAITING, StateView

P = ParamSpec("P")
T = TypeVar("T")


class UntrustedEditError(ValueError):
    """A Marketo edit from a source the mapping does not trust for the field: held."""


def _now() -> datetime:
    return datetime.now(tz=UTC)


def _is_bad_input(exc: Exception) -> bool:
    """Errors that condemn one event, not the worker (everything else propagates)."""
    if isinstance(exc, VmsyncError):
        return exc.action is Action.DEAD_LETTER
    return isinstance(exc, ValueError | UnmappedObjectError)


@dataclass
class BatchResult:
    """What a batch comes to: records to produce and how many events each way went."""

    outputs: list[Outgoing] = field(default_factory=list)
    dead_letters: int = 0
    skipped: int = 0


@dataclass
class Pipeline:
    """Every rule of the processors, compiled once from the mapping.

    Args:
        mapping: The validated mapping.
        encoder: Encodes the outputs (commands, contact edits, decisions).
        clock: The wall clock (injectable for tests).
    """

    mapping: Mapping
    encoder: OutputEncoder
    clock: Callable[[], datetime] = _now
    rules: MappingRules = field(init=False)
    persons: PersonRules = field(init=False)
    _objects_by_topic: dict[str, str] = field(init=False)
    _paths: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.rules = MappingRules(self.mapping)
        self.persons = PersonRules(self.rules, field_rules(self.mapping))
        topics = self.encoder.topics
        self._objects_by_topic = {topics.veeva(name): name for name in self.mapping.objects}
        self._paths = relationship_paths(self.mapping)

    @property
    def lead_edits_topic(self) -> str:
        """The topic of Marketo lead edits."""
        return self.encoder.topics.lead_edits

    def object_topics(self, objects: Iterable[str]) -> dict[str, str]:
        """Topic → object for the configured objects that the mapping covers.

        Args:
            objects: The configured objects (``sync.objects`` + ``sync.custom_objects``).

        Returns:
            The topics to subscribe to.
        """
        wanted = set(objects)
        return {t: o for t, o in self._objects_by_topic.items() if o in wanted}

    def handle(self, events: Sequence[Incoming], state: StateView) -> BatchResult:
        """Handle one batch of events (from any of :attr:`topics`), in order per key.

        Args:
            events: The batch.
            state: The tables, seen through this batch's overlay; receives its writes.

        Returns:
            The records to produce (commands, contact edits, decisions, dead letters).
        """
        result = BatchResult()
        persons: dict[str, list[VeevaEvent | LeadEditEvent]] = {}
        for incoming in events:
            if incoming.is_tombstone:
                result.skipped += 1
                continue
            decoded = self._guard(result, incoming, Stage.DECODE, self._decode, incoming)
            if decoded is None:
                continue
            if isinstance(decoded, LeadEditEvent) or decoded.object_name == PERSON_ACCOUNT_OBJECT:
                persons.setdefault(decoded_key(decoded), []).append(decoded)
                continue
            self._in_transaction(result, decoded.incoming, state, self._record, decoded)
        for account_id, items in persons.items():
            self._person(result, account_id, items, state)
        return result

    def _decode(self, incoming: Incoming) -> VeevaEvent | LeadEditEvent:
        if incoming.topic == self.encoder.topics.lead_edits:
            return decode_lead_edit(self.encoder.codec, incoming)
        object_name = self._objects_by_topic.get(incoming.topic)
        if object_name is None:
            msg = f"topic {incoming.topic} carries no mapped object"
            raise UnmappedObjectError(msg)
        return decode_change_event(self.encoder.codec, incoming, object_name, self._paths)

    def _guard(
        self,
        result: BatchResult,
        incoming: Incoming,
        stage: str,
        step: Callable[P, T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T | None:
        try:
            return step(*args, **kwargs)
        except Exception as exc:
            if not _is_bad_input(exc):
                raise
            self._dead(result, incoming, stage, exc)
            return None

    def _dead(self, result: BatchResult, incoming: Incoming, stage: str, exc: Exception) -> None:
        letter = dead_letter(
            incoming,
            self.encoder.topics.dlq,
            stage=stage,
            error_class=type(exc).__name__,
            message=str(exc),
            failed_at=self.clock(),
        )
        result.outputs.append(letter)
        result.dead_letters += 1

    def _in_transaction(
        self,
        result: BatchResult,
        incoming: Incoming,
        state: StateView,
        step: Callable[[VeevaEvent, StateView], list[Outgoing]],
        event: VeevaEvent,
    ) -> None:
        tx = state.begin()
        outputs = self._guard(result, incoming, Stage.MAP, step, event, tx)
        if outputs is not None:
            tx.commit_to(state)
            result.outputs += outputs

    def _record(self, event: VeevaEvent, state: StateView) -> list[Outgoing]:
        if event.object_name == USER_OBJECT:
            return self._user(event, state)
        source = [event.incoming.ref]
        if event.deleted:
            state.put(SENT, event.record_id, None)
            command = self.rules.on_delete(event.object_name, event.record_id)
            return [] if command is None else [self.encoder.command(command, source)]
        upsert = self.rules.to_upsert(event.object_name, event.record or {})
        previous = state.get(SENT, event.record_id)
        if not needs_write(previous.get("fields") if previous else None, upsert):
            return []
        state.put(SENT, event.record_id, {"fields": upsert.fields})
        message = self.encoder.command(upsert, source)
        person = self._linked_person(upsert)
        if person is not None and state.get(SENT, person) is None:
            # Marketo refuses a record linked to a lead it does not have yet: hold it until
            # the person's own command goes out (records of never-synced accounts stay held).
            held = state.get(WAITING, person) or []
            state.put(WAITING, person, [*held, hold(message)])
            return []
        return [message]

    def _linked_person(self, upsert: MarketoUpsert) -> str | None:
        target = self.mapping.objects[upsert.object_name].target
        if upsert.kind != "custom_object" or not isinstance(target, CustomObjectTarget):
            return None
        link = upsert.fields.get(target.link_field)
        return str(link) if link else None

    def _user(self, event: VeevaEvent, state: StateView) -> list[Outgoing]:
        if event.deleted or event.record is None:
            return []  # a deleted user's persons keep their owner fields until reassigned
        fields = self.rules.owner_fields(event.record)
        previous = state.get(OWNERS, event.record_id)
        if previous is not None and previous.get("fields") == fields:
            return []
        state.put(OWNERS, event.record_id, {"fields": fields})
        persons = state.get(OWNED, event.record_id) or []
        updates = self.rules.owner_updates(event.record, persons)
        return [self.encoder.command(update, [event.incoming.ref]) for update in updates]

    def _person(
        self,
        result: BatchResult,
        account_id: str,
        items: list[VeevaEvent | LeadEditEvent],
        state: StateView,
    ) -> None:
        now = self.clock()
        veeva = [item for item in items if isinstance(item, VeevaEvent)]
        last = veeva[-1] if veeva else None
        upsert = None
        delete = None
        tx = state.begin()
        if last is not None and last.deleted:
            delete = self.persons.delete(last, tx)
        elif last is not None:
            upsert = self._guard(result, last.incoming, Stage.MAP, self.persons.upsert, last, tx)
            if upsert is None:
                last, tx = None, state.begin()
        edits, held = self._trusted(result, items)
        fields = self._guard(
            result,
            (last or items[-1]).incoming,
            Stage.MAP,
            self.persons.decide_fields,
            account_id,
            last,
            edits,
            tx,
            now,
        )
        if fields is None:
            return
        outcome = self._guard(
            result, items[-1].incoming, Stage.MAP, self.persons.outcome, account_id, upsert, fields
        )
        if outcome is None:
            return
        tx.commit_to(state)
        sources = [item.incoming.ref for item in items]
        command = delete or outcome.command
        outputs = []
        if command is not None:
            outputs.append(self.encoder.command(command, sources))
            if delete is None:
                outputs += [release(held) for held in state.get(WAITING, account_id) or []]
                state.put(WAITING, account_id, None)
        if outcome.veeva_writes:
            outputs.append(
                self.encoder.contact_edit(
                    account_id,
                    outcome.veeva_writes,
                    origin=outcome.origin,
                    decided_at=now,
                    reasons=outcome.veeva_reasons,
                    source_event_ids=sources,
                )
            )
        decisions = [*held, *outcome.decisions]
        if decisions:
            outputs.append(
                self.encoder.decisions(
                    account_id, decisions, decided_at=now, source_event_ids=sources
                )
            )
        result.outputs += outputs

    def _trusted(
        self, result: BatchResult, items: Sequence[VeevaEvent | LeadEditEvent]
    ) -> tuple[list[LeadEditEvent], list[dict[str, object]]]:
        """Lead edits to decide; untrusted ones go to the DLQ and are recorded as held."""
        by_marketo = {rule.marketo_field: rule for rule in self.persons.field_rules.values()}
        trust = self.mapping.reverse_edits
        accepted: list[LeadEditEvent] = []
        held: list[dict[str, object]] = []
        for edit in items:
            if not isinstance(edit, LeadEditEvent):
                continue
            rule = by_marketo.get(edit.marketo_field)
            if rule is None:
                result.skipped += 1  # not a bidirectional field: Marketo keeps it to itself
                continue
            reason = untrusted_reason(trust, edit.change.source, edit.marketo_field)
            if reason is None:
                accepted.append(edit)
                continue
            self._dead(result, edit.incoming, Stage.TRUST, UntrustedEditError(reason))
            held.append(held_record(rule, reason))
        return accepted, held


def decoded_key(event: VeevaEvent | LeadEditEvent) -> str:
    """The Veeva Id an event is about."""
    return event.account_id if isinstance(event, LeadEditEvent) else event.record_id

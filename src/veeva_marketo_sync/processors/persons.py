"""Person Accounts: the mapped upsert, owners, and the conflict rules of the contact fields.

All events of one Account in one batch (its change events and its Marketo lead edits) are
handled together: the last change event is the record's current state (each carries every
visible field), bidirectional fields go through :func:`decide`, or :func:`resolve` when both
sides changed a field in the batch, and the account gets at most one Marketo command, one
contact edit and one decisions record.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from veeva_marketo_sync.processors.conflicts import (
    Decision,
    FieldChange,
    FieldRule,
    FieldState,
    decide,
    resolve,
)
from veeva_marketo_sync.processors.contact_fields import PERSON_ACCOUNT_OBJECT, guard_veeva_write
from veeva_marketo_sync.processors.edit_events import changes_from_veeva_record, contact_edit_value
from veeva_marketo_sync.processors.encoding import UPDATE_ONLY
from veeva_marketo_sync.processors.events import LeadEditEvent, VeevaEvent
from veeva_marketo_sync.processors.mapping_rules import (
    LEADS_TARGET,
    MappingRules,
    MarketoDelete,
    MarketoUpsert,
    needs_write,
)
from veeva_marketo_sync.processors.state import CONFLICTS, OWNED, OWNERS, SENT, StateView

ORIGIN_MARKETO = "marketo"
ORIGIN_CORRECTION = "vmsync-correction"


@dataclass(frozen=True)
class FieldOutcome:
    """One decision about one field, and which side's change it decided."""

    rule: FieldRule
    trigger: str
    decision: Decision
    first_seen: bool

    @property
    def worth_recording(self) -> bool:
        """Veeva echoes and first values of a snapshot are not worth a decision record."""
        return not (
            self.trigger == "veeva" and (self.decision.outcome == "echo" or self.first_seen)
        )

    def to_record(self) -> dict[str, object]:
        """The ``FieldDecision`` record (``decision.avsc``)."""
        return {
            "veeva_field": self.rule.veeva_field,
            "marketo_field": self.rule.marketo_field,
            "trigger": self.trigger,
            "outcome": self.decision.outcome,
            "winner": self.decision.winner,
            "value": contact_edit_value(self.decision.state.value),
            "written_to": [write.side for write in self.decision.writes],
            "reason": self.decision.reason,
        }


@dataclass
class PersonOutcome:
    """What one account's events of a batch come to."""

    command: MarketoUpsert | MarketoDelete | None = None
    command_sources: list[str] = field(default_factory=list)
    veeva_writes: dict[str, str | None] = field(default_factory=dict)
    veeva_reasons: list[str] = field(default_factory=list)
    origin: str = ORIGIN_CORRECTION
    decisions: list[dict[str, object]] = field(default_factory=list)


def held_record(rule: FieldRule, reason: str) -> dict[str, object]:
    """The ``FieldDecision`` record of a Marketo edit held back as untrusted.

    Args:
        rule: The field's rule.
        reason: Why the source is not trusted for the field.

    Returns:
        The record: outcome ``held``, Veeva keeps its value.
    """
    return {
        "veeva_field": rule.veeva_field,
        "marketo_field": rule.marketo_field,
        "trigger": "marketo",
        "outcome": "held",
        "winner": "veeva",
        "value": None,
        "written_to": [],
        "reason": reason,
    }


def _move_owner(state: StateView, person_id: str, old: str | None, new: str | None) -> None:
    if old == new:
        return
    if old is not None:
        persons = list(state.get(OWNED, old) or [])
        index = bisect_left(persons, person_id)
        if index < len(persons) and persons[index] == person_id:
            del persons[index]
            state.put(OWNED, old, persons or None)
    if new is not None:
        persons = list(state.get(OWNED, new) or [])
        index = bisect_left(persons, person_id)
        if index == len(persons) or persons[index] != person_id:
            insort(persons, person_id)
            state.put(OWNED, new, persons)


@dataclass
class PersonRules:
    """The Person Account part of the pipeline.

    Args:
        rules: The compiled mapping.
        field_rules: Veeva field → rule of every bidirectional field.
    """

    rules: MappingRules
    field_rules: dict[str, FieldRule]

    @property
    def lookup_field(self) -> str:
        """The Marketo lead field holding the Veeva Account Id."""
        person = self.rules.mapping.person
        target = person.target if person is not None else None
        return getattr(target, "lookup_field", "veevaAccountId")

    def upsert(self, event: VeevaEvent, state: StateView) -> tuple[MarketoUpsert, bool]:
        """The account's upsert (owner fields in, bidirectional fields out) and whether to send it.

        Raises:
            RecordError: The record cannot be mapped.
        """
        record = event.record or {}
        upsert = self.rules.to_upsert(PERSON_ACCOUNT_OBJECT, record, bidirectional=False)
        owner_id = self.rules.owner_id_of(record)
        previous = state.get(SENT, event.record_id)
        previous_owner = previous.get("owner") if previous else None
        # Owner fields are compared per User (a User change refreshes its persons), so a
        # person is re-sent only when its own fields or its owner changed.
        changed = (
            needs_write(previous.get("fields") if previous else None, upsert)
            or previous_owner != owner_id
        )
        _move_owner(state, event.record_id, previous_owner, owner_id)
        if changed:
            state.put(SENT, event.record_id, {"fields": upsert.fields, "owner": owner_id})
        owner = state.get(OWNERS, owner_id) if owner_id is not None else None
        if owner:
            upsert = replace(upsert, fields={**upsert.fields, **owner["fields"]})
        return upsert, changed

    def delete(self, event: VeevaEvent, state: StateView) -> MarketoUpsert | MarketoDelete | None:
        """Apply the delete policy and forget what was sent for the account."""
        previous = state.get(SENT, event.record_id)
        _move_owner(state, event.record_id, previous.get("owner") if previous else None, None)
        state.put(SENT, event.record_id, None)
        return self.rules.on_delete(PERSON_ACCOUNT_OBJECT, event.record_id)

    def decide_fields(
        self,
        account_id: str,
        veeva: VeevaEvent | None,
        edits: Sequence[LeadEditEvent],
        state: StateView,
        now: datetime,
    ) -> list[FieldOutcome]:
        """Decide every bidirectional field the account's events of the batch touch."""
        stored = state.get(CONFLICTS, account_id) or {}
        states = {
            name: FieldState.from_dict(data)
            for name, data in stored.items()
            if name in self.field_rules
        }
        veeva_changes: dict[str, FieldChange] = {}
        if veeva is not None and veeva.record is not None:
            veeva_changes = changes_from_veeva_record(
                veeva.record, self.field_rules, at=veeva.modstamp
            )
        by_marketo = {rule.marketo_field: name for name, rule in self.field_rules.items()}
        marketo_changes: dict[str, list[FieldChange]] = {}
        for edit in edits:
            marketo_changes.setdefault(by_marketo[edit.marketo_field], []).append(edit.change)
        outcomes: list[FieldOutcome] = []
        for name, rule in self.field_rules.items():
            mine = veeva_changes.get(name)
            theirs = marketo_changes.get(name, [])
            if mine is not None and theirs:
                for change in theirs[:-1]:
                    outcomes.append(self._one(rule, "marketo", states, change, now))
                before = states.get(name)
                decision = resolve(before, mine, theirs[-1], rule, now=now)
                states[name] = decision.state
                outcomes.append(FieldOutcome(rule, "both", decision, before is None))
            elif mine is not None:
                outcomes.append(self._one(rule, "veeva", states, mine, now))
            else:
                outcomes += [self._one(rule, "marketo", states, c, now) for c in theirs]
        if outcomes:
            state.put(CONFLICTS, account_id, {name: s.to_dict() for name, s in states.items()})
        return outcomes

    @staticmethod
    def _one(
        rule: FieldRule,
        trigger: str,
        states: dict[str, FieldState],
        change: FieldChange,
        now: datetime,
    ) -> FieldOutcome:
        before = states.get(rule.veeva_field)
        # The writes are issued now, whichever side changed: their echoes come back later than
        # this, and an edit made on the other side before the write lands (a Veeva change
        # decided late) must not make the sync forget its write and take its echo for an edit.
        decision = decide(before, change, rule, now=now)
        states[rule.veeva_field] = decision.state
        return FieldOutcome(rule, trigger, decision, before is None)

    def outcome(
        self,
        account_id: str,
        upsert: tuple[MarketoUpsert, bool] | None,
        fields: Sequence[FieldOutcome],
    ) -> PersonOutcome:
        """Turn the upsert and the field decisions into the account's outputs.

        Raises:
            ForbiddenVeevaWriteError: A decision would write a non-contact field (a bug).
        """
        result = PersonOutcome()
        to_marketo: dict[str, object] = {}
        for item in fields:
            for write in item.decision.writes:
                if write.side == "marketo":
                    to_marketo[write.field] = write.value
                else:
                    result.veeva_writes[write.field] = contact_edit_value(write.value)
                    result.veeva_reasons.append(item.decision.reason)
                    if item.trigger != "veeva":
                        result.origin = ORIGIN_MARKETO
            if item.worth_recording:
                result.decisions.append(item.to_record())
        guard_veeva_write(PERSON_ACCOUNT_OBJECT, result.veeva_writes)
        if upsert is not None and (upsert[1] or to_marketo):
            command = upsert[0]
            result.command = replace(command, fields={**command.fields, **to_marketo})
        elif to_marketo:
            lookup = self.lookup_field
            result.command = MarketoUpsert(
                PERSON_ACCOUNT_OBJECT,
                "lead",
                LEADS_TARGET,
                lookup,
                account_id,
                {lookup: account_id, **to_marketo},
                action=UPDATE_ONLY,
            )
        return result

"""Field-level conflict rules and echo suppression for the bidirectional contact fields.

Per Person Account and contact field the processor keeps a :class:`FieldState`: the last
synced value, which side it came from and when, what each side last said itself, and the
writes the sync made to each side whose echo has not come back yet. A change from one side
goes through :func:`decide`; two changes of the same cycle through :func:`resolve`. Every
:class:`Decision` says what to write where, the new state, and why.

Values are compared in a canonical form (trimmed strings, lower-case emails, real booleans,
``None`` for empty) after the mapping's transforms, so an echo is recognised even when a
transform or the other system reformatted the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from veeva_marketo_sync.processors.contact_fields import (
    ForbiddenVeevaWriteError,
    is_contact_field,
)
from veeva_marketo_sync.processors.mapping import (
    ConflictPolicy,
    ValueType,
    bidirectional_fields,
)
from veeva_marketo_sync.processors.mapping import Mapping as SyncMapping
from veeva_marketo_sync.processors.transforms import (
    Transform,
    TransformError,
    compile_reverse_transforms,
    compile_transforms,
    to_date,
    to_datetime,
)

Side = Literal["veeva", "marketo"]
Outcome = Literal["echo", "apply_to_other_side", "rejected_by_policy", "conflict_resolved"]
SIDES: tuple[Side, Side] = ("veeva", "marketo")

# Unconfirmed writes remembered per side; older ones are assumed confirmed or overwritten.
MAX_PENDING_WRITES = 8

_TRUE_STRINGS = frozenset({"true", "1", "yes", "y"})
_FALSE_STRINGS = frozenset({"false", "0", "no", "n", ""})


def other_side(side: Side) -> Side:
    """The opposite side.

    Args:
        side: ``veeva`` or ``marketo``.

    Returns:
        The other one.
    """
    return "marketo" if side == "veeva" else "veeva"


def _identity(value: object) -> object:
    return value


def _canonical_boolean(value: object) -> object:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_STRINGS:
            return True
        if text in _FALSE_STRINGS:
            return False
    return value


def _canonical_number(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            return text
    return value


def canonical(value: object, value_type: ValueType = "string") -> object:
    """Bring a value to the form in which two sides' values are compared.

    Strings are trimmed and empty means ``None``; emails are lower-cased; booleans accept
    ``'true'``/``'false'``/``1``/``0`` and a missing checkbox is False; dates and date-times
    become ISO 8601 in UTC.

    Args:
        value: A value from either side.
        value_type: The field's value type.

    Returns:
        The canonical value.
    """
    if value_type == "boolean":
        return _canonical_boolean(value)
    if value_type == "number":
        return _canonical_number(value)
    if isinstance(value, str):
        value = value.strip() or None
    if value is None:
        return None
    if value_type in ("date", "datetime"):
        return _canonical_temporal(value, value_type)
    if value_type == "email" and isinstance(value, str):
        return value.lower()
    return value


def _canonical_temporal(value: object, value_type: ValueType) -> object:
    try:
        return to_date(value) if value_type == "date" else to_datetime(value)
    except TransformError:
        return value


@dataclass(frozen=True)
class FieldRule:
    """How one bidirectional field is compared, resolved and written on each side."""

    veeva_field: str
    marketo_field: str
    policy: ConflictPolicy = "newest_wins"
    value_type: ValueType = "string"
    forward: Transform = _identity
    reverse: Transform = _identity
    correct_losing_side: bool = True

    def __post_init__(self) -> None:
        # The Veeva writer checks again; a rule must not even propose such a write.
        if not is_contact_field(self.veeva_field):
            msg = f"Account.{self.veeva_field} is not a Person Account contact field"
            raise ForbiddenVeevaWriteError(msg)

    def normalize(self, value: object) -> object:
        """The canonical form of a value from either side, after the mapping's transforms.

        Args:
            value: A Veeva or Marketo value of this field.

        Returns:
            The canonical value (Marketo's representation).
        """
        # A value the transforms refuse is compared raw; validation rejects it before a write.
        with suppress(TransformError):
            value = self.forward(value)
        return canonical(value, self.value_type)

    def field_on(self, side: Side) -> str:
        """This field's name on a side.

        Args:
            side: ``veeva`` or ``marketo``.

        Returns:
            The field name.
        """
        return self.veeva_field if side == "veeva" else self.marketo_field

    def value_for(self, side: Side, value: object) -> object:
        """A canonical value in the representation a side is written with.

        Args:
            side: The side to write.
            value: The canonical value.

        Returns:
            The value to send.
        """
        return self.reverse(value) if side == "veeva" else value


def field_rules(mapping: SyncMapping) -> dict[str, FieldRule]:
    """Build the rule of every bidirectional Person Account field from the mapping.

    Args:
        mapping: The validated mapping.

    Returns:
        Veeva field → its rule.
    """
    person = mapping.person
    if person is None:
        return {}
    rules: dict[str, FieldRule] = {}
    for veeva_field in bidirectional_fields(mapping):
        spec = person.fields[veeva_field]
        rules[veeva_field] = FieldRule(
            veeva_field=veeva_field,
            marketo_field=spec.to,
            policy=spec.conflict,
            value_type=spec.value_type,
            forward=compile_transforms(spec.transforms, mapping.picklists),
            reverse=compile_reverse_transforms(spec.transforms, mapping.picklists),
        )
    return rules


@dataclass(frozen=True)
class PendingWrite:
    """A value the sync wrote to a side whose echo has not been seen yet."""

    value: object
    at: datetime


@dataclass(frozen=True)
class FieldState:
    """The last synced value of one field of one person, and what is known about each side."""

    value: object
    source: Side
    at: datetime
    said: Mapping[Side, object] = field(default_factory=dict)
    pending: Mapping[Side, tuple[PendingWrite, ...]] = field(default_factory=dict)

    def pending_on(self, side: Side) -> tuple[PendingWrite, ...]:
        """The unconfirmed writes of the sync to a side, oldest first.

        Args:
            side: ``veeva`` or ``marketo``.

        Returns:
            The pending writes.
        """
        return self.pending.get(side, ())

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly form for a changelog-backed table.

        Returns:
            The state as plain data.
        """
        return {
            "value": self.value,
            "source": self.source,
            "at": self.at.isoformat(),
            "said": dict(self.said),
            "pending": {
                side: [[write.value, write.at.isoformat()] for write in writes]
                for side, writes in self.pending.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> FieldState:
        """Rebuild a state written by :meth:`to_dict`.

        Args:
            data: The plain data.

        Returns:
            The state.

        Raises:
            ValueError: If the data is not a state.
        """
        source = data.get("source")
        at = data.get("at")
        said = data.get("said") or {}
        pending = data.get("pending") or {}
        if source not in SIDES or not isinstance(at, str):
            msg = f"not a field state: {dict(data)!r}"
            raise ValueError(msg)
        if not isinstance(said, Mapping) or not isinstance(pending, Mapping):
            msg = f"not a field state: {dict(data)!r}"
            raise ValueError(msg)
        return cls(
            value=data.get("value"),
            source=_as_side(source),
            at=datetime.fromisoformat(at),
            said={_as_side(side): value for side, value in said.items()},
            pending={
                _as_side(side): tuple(
                    PendingWrite(value, datetime.fromisoformat(when)) for value, when in writes
                )
                for side, writes in pending.items()
            },
        )


def _as_side(value: object) -> Side:
    if value == "veeva":
        return "veeva"
    if value == "marketo":
        return "marketo"
    msg = f"{value!r} is not a side (veeva or marketo)"
    raise ValueError(msg)


@dataclass(frozen=True)
class FieldChange:
    """A new value of a field seen on one side.

    ``by_sync`` is set only when the change is known to be this sync's own write (e.g. Veeva
    ``LastModifiedById`` is the dedicated integration user); value comparison catches the rest.
    """

    side: Side
    value: object
    at: datetime
    by_sync: bool = False
    source: str | None = None


@dataclass(frozen=True)
class Write:
    """A value the sync must write to a field on one side."""

    side: Side
    field: str
    value: object


@dataclass(frozen=True)
class Decision:
    """The outcome of a change (or of a conflict), its reason, the new state and the writes."""

    outcome: Outcome
    reason: str
    state: FieldState
    writes: tuple[Write, ...] = ()
    winner: Side | None = None

    def write_to(self, side: Side) -> Write | None:
        """The write this decision makes to a side, if any.

        Args:
            side: ``veeva`` or ``marketo``.

        Returns:
            The write, or ``None``.
        """
        return next((write for write in self.writes if write.side == side), None)


def _with_pending(state: FieldState, side: Side, writes: tuple[PendingWrite, ...]) -> FieldState:
    return replace(state, pending={**state.pending, side: writes[-MAX_PENDING_WRITES:]})


def _record_write(
    state: FieldState, rule: FieldRule, side: Side, value: object, at: datetime
) -> tuple[FieldState, Write]:
    pending = (*state.pending_on(side), PendingWrite(value, at))
    return _with_pending(state, side, pending), Write(
        side, rule.field_on(side), rule.value_for(side, value)
    )


def _winner(policy: ConflictPolicy, veeva_at: datetime, marketo_at: datetime) -> Side:
    if policy == "veeva_wins":
        return "veeva"
    if policy == "marketo_wins":
        return "marketo"
    return "marketo" if marketo_at > veeva_at else "veeva"


def _why_winner(policy: ConflictPolicy, winner: Side) -> str:
    if policy in ("veeva_wins", "marketo_wins"):
        return f"{policy} picks {winner}"
    return f"newest_wins picks {winner} (newer, or a tie which goes to veeva)"


def _own_echo(
    state: FieldState, change: FieldChange, value: object
) -> tuple[bool, tuple[PendingWrite, ...]]:
    """Tell whether a change is the sync's own write coming back, and what stays pending."""
    pending = state.pending_on(change.side)
    for index, write in enumerate(pending):
        # Both sides stamp changes in whole seconds: a write landing in the second it was
        # issued in comes back stamped before the (sub-second) time it was issued at.
        if write.value == value and change.at >= write.at.replace(microsecond=0):
            return True, pending[index + 1 :]
    later = tuple(write for write in pending if write.at > change.at)
    return change.by_sync, later


@dataclass(frozen=True)
class _Step:
    """One change under decision: the state before, the change, its canonical value."""

    state: FieldState
    change: FieldChange
    rule: FieldRule
    value: object
    issued: datetime

    @property
    def side(self) -> Side:
        return self.change.side

    @property
    def there(self) -> Side:
        return other_side(self.change.side)

    @property
    def name(self) -> str:
        return self.rule.veeva_field

    def accept(self, base: FieldState, reason: str, *, at: datetime) -> Decision:
        new = replace(base, value=self.value, source=self.side, at=at)
        new, write = _record_write(new, self.rule, self.there, self.value, self.issued)
        return Decision("apply_to_other_side", reason, new, (write,), winner=self.side)

    def reject(self, base: FieldState, why: str) -> Decision:
        if not self.rule.correct_losing_side:
            return Decision("rejected_by_policy", f"{why}; {self.side} is left as it is", base)
        standing = self.state.value
        new, write = _record_write(base, self.rule, self.side, standing, self.issued)
        reason = f"{why}; {self.side} is corrected back to {standing!r}"
        return Decision("rejected_by_policy", reason, new, (write,), winner=self.there)


def decide(
    state: FieldState | None,
    change: FieldChange,
    rule: FieldRule,
    *,
    now: datetime | None = None,
) -> Decision:
    """Decide what a change on one side means for the field and for the other side.

    Args:
        state: The field's synced state, ``None`` if the field was never synced.
        change: The new value and when it was made.
        rule: The field's rule (policy, normalisation, names on each side).
        now: When the resulting writes are issued; defaults to ``change.at``. Echoes of those
            writes are recognised from this time on.

    Returns:
        ``echo`` (dropped), ``apply_to_other_side`` (write the other side) or
        ``rejected_by_policy`` (the synced value stands; the changed side may be corrected).
    """
    side, there = change.side, other_side(change.side)
    value = rule.normalize(change.value)
    issued = max(now or change.at, change.at)
    if state is None:
        new = FieldState(value, side, change.at, said={} if change.by_sync else {side: value})
        new, write = _record_write(new, rule, there, value, issued)
        reason = f"{rule.veeva_field}: first value seen, {side} {value!r} is copied to {there}"
        return Decision("apply_to_other_side", reason, new, (write,), winner=side)
    step = _Step(state, change, rule, value, issued)
    own, still_pending = _own_echo(state, change, value)
    if own:
        return _decide_own_echo(step, still_pending)
    still_pending = tuple(write for write in state.pending_on(side) if write.at > change.at)
    base = replace(_with_pending(state, side, still_pending), said={**state.said, side: value})
    if rule.policy == "sticky_true":
        return _decide_sticky(step, base)
    return _decide_user_change(step, base)


def _decide_user_change(step: _Step, base: FieldState) -> Decision:
    state, change, side, there, name = step.state, step.change, step.side, step.there, step.name
    if step.value == state.value:
        if change.at > state.at:
            base = replace(base, source=side, at=change.at)
        reason = f"{name}: {side} value {step.value!r} equals the last synced value; nothing to do"
        return Decision("echo", reason, base)
    # A side's own feed is ordered, so only the other side's newer value can conflict.
    concurrent = state.source != side and change.at <= state.at
    if not concurrent:
        reason = f"{name}: {side} changed {state.value!r} to {step.value!r}; written to {there}"
        return step.accept(base, reason, at=max(change.at, state.at))
    veeva_at = change.at if side == "veeva" else state.at
    marketo_at = change.at if side == "marketo" else state.at
    winner = _winner(step.rule.policy, veeva_at, marketo_at)
    why = (
        f"{name}: {side} changed it to {step.value!r} while {there} changed it to "
        f"{state.value!r}; {_why_winner(step.rule.policy, winner)}"
    )
    if winner == there:
        return step.reject(base, why)
    return step.accept(base, why, at=max(change.at, state.at))


def _decide_own_echo(step: _Step, still_pending: tuple[PendingWrite, ...]) -> Decision:
    side, name, value = step.side, step.name, step.value
    base = _with_pending(step.state, side, still_pending)
    if value == step.state.value:
        reason = f"{name}: {side} reports {value!r}, the sync's own write; echo dropped"
        return Decision("echo", reason, base)
    if still_pending:
        reason = (
            f"{name}: {side} reports an earlier write of the sync ({value!r}); a later write "
            "is on its way; echo dropped"
        )
        return Decision("echo", reason, base)
    why = (
        f"{name}: {side} still shows an earlier write of the sync ({value!r}) but the synced "
        f"value is now {step.state.value!r}"
    )
    return step.reject(base, why)


def _decide_sticky(step: _Step, base: FieldState) -> Decision:
    state, side, there, name, value = step.state, step.side, step.there, step.name, step.value
    result = True if (value is True or base.said.get(there) is True) else value
    new = replace(
        base,
        value=result,
        source=side if value == result else there,
        at=max(step.change.at, state.at),
    )
    writes: list[Write] = []
    if state.value != result:
        new, write = _record_write(new, step.rule, there, result, step.issued)
        writes.append(write)
    if value != result:
        why = f"{name}: {there} opted out; {side} cannot undo it (sticky_true)"
        if not step.rule.correct_losing_side:
            return Decision("rejected_by_policy", why, new, tuple(writes), winner=there)
        new, write = _record_write(new, step.rule, side, result, step.issued)
        writes.append(write)
        reason = f"{why}; {side} is corrected back to {result!r}"
        return Decision("rejected_by_policy", reason, new, tuple(writes), winner=there)
    if writes:
        reason = f"{name}: {side} changed {state.value!r} to {value!r}; written to {there}"
        return Decision("apply_to_other_side", reason, new, tuple(writes), winner=side)
    reason = f"{name}: {side} value {value!r} equals the last synced value; nothing to do"
    return Decision("echo", reason, new)


def _merge(first: Decision, second: Decision) -> Decision:
    writes = {write.side: write for write in (*first.writes, *second.writes)}
    return Decision(
        second.outcome if second.outcome != "echo" else first.outcome,
        f"{first.reason}; then {second.reason}",
        second.state,
        tuple(writes[side] for side in SIDES if side in writes),
        second.winner or first.winner,
    )


def resolve(
    state: FieldState | None,
    veeva_change: FieldChange,
    marketo_change: FieldChange,
    rule: FieldRule,
    *,
    now: datetime | None = None,
) -> Decision:
    """Resolve a field both sides changed in the same cycle so both sides end equal.

    If one of the two is not a real change (it equals the synced value, or it is the sync's
    own write coming back), the other is decided alone.

    Args:
        state: The field's synced state, ``None`` if never synced.
        veeva_change: The change seen in Veeva.
        marketo_change: The change seen in Marketo.
        rule: The field's rule.
        now: When the resulting writes are issued; defaults to the later change's time.

    Returns:
        The decision: the winner, the writes each side needs, the new state and the reason.

    Raises:
        ValueError: If the changes are not one from each side.
    """
    if veeva_change.side != "veeva" or marketo_change.side != "marketo":
        msg = "resolve needs one change from veeva and one from marketo"
        raise ValueError(msg)
    issued = max(now or veeva_change.at, veeva_change.at, marketo_change.at)
    values: dict[Side, object] = {
        "veeva": rule.normalize(veeva_change.value),
        "marketo": rule.normalize(marketo_change.value),
    }
    changes: dict[Side, FieldChange] = {"veeva": veeva_change, "marketo": marketo_change}
    if state is not None:
        for side in SIDES:
            there = other_side(side)
            own, _ = _own_echo(state, changes[side], values[side])
            if own:
                first = decide(state, changes[side], rule, now=issued)
                return _merge(first, decide(first.state, changes[there], rule, now=issued))
            if values[side] == state.value:
                # Not a change, so not a conflict: it must not refresh the state's time either.
                second = decide(state, changes[there], rule, now=issued)
                reason = f"{rule.veeva_field}: {side} did not change it; {second.reason}"
                return replace(second, reason=reason)
    return _resolve_conflict(state, changes, values, rule, issued)


def _resolve_conflict(
    state: FieldState | None,
    changes: Mapping[Side, FieldChange],
    values: Mapping[Side, object],
    rule: FieldRule,
    issued: datetime,
) -> Decision:
    name = rule.veeva_field
    veeva_at, marketo_at = changes["veeva"].at, changes["marketo"].at
    if rule.policy == "sticky_true" and True in (values["veeva"], values["marketo"]):
        winner: Side = "veeva" if values["veeva"] is True else "marketo"
        why = "an opt-out on either side is kept (sticky_true)"
    else:
        policy: ConflictPolicy = "newest_wins" if rule.policy == "sticky_true" else rule.policy
        winner = _winner(policy, veeva_at, marketo_at)
        why = _why_winner(policy, winner)
    result = values[winner]
    new = FieldState(
        result,
        winner,
        max(veeva_at, marketo_at, state.at if state else veeva_at),
        said=dict(values),
        pending={
            side: tuple(w for w in state.pending_on(side) if w.at > changes[side].at)
            for side in SIDES
        }
        if state
        else {},
    )
    writes: list[Write] = []
    for side in SIDES:
        if values[side] != result:
            new, write = _record_write(new, rule, side, result, issued)
            writes.append(write)
    if not writes:
        reason = f"{name}: both sides changed it to {result!r}; nothing to write"
    else:
        reason = (
            f"{name}: both sides changed it since the last sync (veeva {values['veeva']!r} at "
            f"{veeva_at.isoformat()}, marketo {values['marketo']!r} at "
            f"{marketo_at.isoformat()}); {why}; {result!r} is written to "
            + ", ".join(write.side for write in writes)
        )
    return Decision("conflict_resolved", reason, new, tuple(writes), winner=winner)

"""Veeva records → Marketo commands: upserts, owner refreshes, delete policy, change detection.

Records are Salesforce JSON dicts (``attributes``, relationship fields as nested dicts); a
mapped field missing from a record is one the integration user cannot see and is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from veeva_marketo_sync.processors.contact_fields import PERSON_ACCOUNT_OBJECT
from veeva_marketo_sync.processors.mapping import (
    USER_OBJECT,
    CustomObjectTarget,
    LeadTarget,
    Mapping,
    ObjectMapping,
    OwnerTarget,
)
from veeva_marketo_sync.processors.transforms import (
    Transform,
    TransformError,
    compile_reverse_transforms,
    compile_transforms,
    to_date,
    to_datetime,
)

TargetKind = Literal["lead", "custom_object"]
LEADS_TARGET = "leads"

_MISSING = object()


class RecordError(ValueError):
    """A record cannot be mapped (no Id, no person link, bad value): dead-letter it."""


class UnmappedObjectError(KeyError):
    """The object has no entry in the mapping; the caller wired a topic it should not read."""


@dataclass(frozen=True)
class MarketoUpsert:
    """A createOrUpdate (or updateOnly) of one Marketo record, keyed by its Veeva Id."""

    object_name: str
    kind: TargetKind
    target: str
    lookup_field: str
    key: str
    fields: dict[str, object]
    action: Literal["createOrUpdate", "updateOnly"] = "createOrUpdate"

    @property
    def topic_target(self) -> str:
        """The ``marketo.<target>`` topic suffix: ``leads`` or ``co.<custom object name>``."""
        return LEADS_TARGET if self.kind == "lead" else f"co.{self.target}"

    def to_record(self, source_event_ids: Iterable[str] = ()) -> dict[str, object]:
        """The command as a ``MarketoUpsert`` Avro record (``schemas/avsc/marketo_upsert.avsc``).

        Args:
            source_event_ids: Ids of the change events this command comes from.

        Returns:
            The record to encode.
        """
        return {
            "target_kind": self.kind,
            "target_name": self.target,
            "lookup_field": self.lookup_field,
            "veeva_id": self.key,
            "fields": dict(self.fields),
            "source_event_ids": list(source_event_ids),
        }


@dataclass(frozen=True)
class MarketoDelete:
    """Delete the Marketo record whose ``lookup_field`` holds ``key``."""

    object_name: str
    kind: TargetKind
    target: str
    lookup_field: str
    key: str

    @property
    def topic_target(self) -> str:
        """The ``marketo.<target>`` topic suffix: ``leads`` or ``co.<custom object name>``."""
        return LEADS_TARGET if self.kind == "lead" else f"co.{self.target}"

    def to_record(self, source_event_ids: Iterable[str] = ()) -> dict[str, object]:
        """The command as a ``MarketoUpsert`` Avro record with ``target_kind`` ``delete``.

        Args:
            source_event_ids: Ids of the change events this command comes from.

        Returns:
            The record to encode.
        """
        return {
            "target_kind": "delete",
            "target_name": self.target,
            "lookup_field": self.lookup_field,
            "veeva_id": self.key,
            "fields": {},
            "source_event_ids": list(source_event_ids),
        }


DeleteCommand = MarketoUpsert | MarketoDelete | None


def field_value(record: AbcMapping[str, object], path: str) -> object:
    """Read a field, following dotted relationship paths (``RecordType.DeveloperName``).

    Args:
        record: A Salesforce JSON record.
        path: The field API name or a dotted relationship path.

    Returns:
        The value (``None`` when a relationship on the way is empty), or the module's missing
        sentinel when the record does not carry the field; test with :func:`has_field`.
    """
    current: object = record
    for part in path.split("."):
        if current is None:
            return None
        if not isinstance(current, AbcMapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


def has_field(record: AbcMapping[str, object], path: str) -> bool:
    """Tell whether a record carries a field (visible to the integration user).

    Args:
        record: A Salesforce JSON record.
        path: The field API name or a dotted relationship path.

    Returns:
        True if the record has the field, even with a null value.
    """
    return field_value(record, path) is not _MISSING


def wire_value(value: object) -> object:
    """Bring a mapped value to a type the Marketo command schema carries.

    Avro-decoded records hold dates, date-times and decimals; Marketo wants ISO 8601 strings and
    numbers.

    Args:
        value: A value after the field's transforms.

    Returns:
        ``None``, a bool, int, float or string.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return to_datetime(value)
    if isinstance(value, date):
        return to_date(value)
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _record_id(object_name: str, record: AbcMapping[str, object]) -> str:
    record_id = record.get("Id")
    if not isinstance(record_id, str) or not record_id:
        msg = f"{object_name} record has no Id; cannot key it in Marketo"
        raise RecordError(msg)
    return record_id


@dataclass(frozen=True)
class _CompiledField:
    veeva_field: str
    marketo_field: str
    bidirectional: bool
    forward: Transform
    reverse: Transform


@dataclass
class MappingRules:
    """The mapping compiled once into pure record → command functions."""

    mapping: Mapping
    _fields: dict[str, tuple[_CompiledField, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        picklists = self.mapping.picklists
        self._fields = {
            name: tuple(
                _CompiledField(
                    veeva_field=veeva_field,
                    marketo_field=spec.to,
                    bidirectional=spec.direction == "both",
                    forward=compile_transforms(spec.transforms, picklists),
                    reverse=compile_reverse_transforms(spec.transforms, picklists),
                )
                for veeva_field, spec in obj.fields.items()
            )
            for name, obj in self.mapping.objects.items()
        }

    def _object(self, object_name: str) -> ObjectMapping:
        try:
            return self.mapping.objects[object_name]
        except KeyError:
            msg = f"{object_name} is not in the mapping"
            raise UnmappedObjectError(msg) from None

    def _mapped_fields(
        self, object_name: str, record: AbcMapping[str, object], *, bidirectional: bool = True
    ) -> dict[str, object]:
        values: dict[str, object] = {}
        for compiled in self._fields[object_name]:
            if compiled.bidirectional and not bidirectional:
                continue
            raw = field_value(record, compiled.veeva_field)
            if raw is _MISSING:
                continue
            try:
                values[compiled.marketo_field] = wire_value(compiled.forward(raw))
            except TransformError as exc:
                msg = (
                    f"{object_name} {record.get('Id')}: field {compiled.veeva_field} "
                    f"cannot be mapped to {compiled.marketo_field}: {exc}"
                )
                raise RecordError(msg) from exc
        return values

    def to_upsert(
        self,
        object_name: str,
        record: AbcMapping[str, object],
        *,
        owner: AbcMapping[str, object] | None = None,
        bidirectional: bool = True,
    ) -> MarketoUpsert:
        """Map a Veeva record to the Marketo upsert for its target.

        Args:
            object_name: The Veeva object (``Account``, ``Call2_vod__c``, ...).
            record: The record in Salesforce JSON shape.
            owner: For a person, its owner's User record if known; adds the owner fields.
            bidirectional: False leaves out ``direction: both`` fields, which the conflict
                rules write instead.

        Returns:
            The upsert, keyed by the record's Veeva Id.

        Raises:
            RecordError: If the record has no Id, no person link, or a value fails a transform.
            UnmappedObjectError: If the object is not mapped.
            ValueError: If the object is User (use :meth:`owner_updates`).
        """
        obj = self._object(object_name)
        record_id = _record_id(object_name, record)
        fields = self._mapped_fields(object_name, record, bidirectional=bidirectional)
        target = obj.target
        if isinstance(target, OwnerTarget):
            msg = "User records refresh owner fields; call owner_updates, not to_upsert"
            raise ValueError(msg)
        if obj.delete_policy == "flag" and obj.deleted_flag_field:
            fields[obj.deleted_flag_field] = False
        if isinstance(target, LeadTarget):
            fields[target.lookup_field] = record_id
            if owner is not None:
                fields.update(self.person_owner_fields(record, owner))
            return MarketoUpsert(
                object_name, "lead", LEADS_TARGET, target.lookup_field, record_id, fields
            )
        return self._custom_object_upsert(object_name, target, record, record_id, fields)

    @staticmethod
    def _custom_object_upsert(
        object_name: str,
        target: CustomObjectTarget,
        record: AbcMapping[str, object],
        record_id: str,
        fields: dict[str, object],
    ) -> MarketoUpsert:
        person_id = field_value(record, target.link_from)
        if not isinstance(person_id, str) or not person_id:
            msg = (
                f"{object_name} {record_id} has no {target.link_from}; "
                "it cannot be linked to a person in Marketo"
            )
            raise RecordError(msg)
        fields[target.dedupe_field] = record_id
        fields[target.link_field] = person_id
        return MarketoUpsert(
            object_name, "custom_object", target.name, target.dedupe_field, record_id, fields
        )

    def on_delete(self, object_name: str, record_id: str) -> DeleteCommand:
        """Apply the object's delete policy to a record deleted in Veeva.

        Args:
            object_name: The Veeva object.
            record_id: The deleted record's Id.

        Returns:
            ``None`` for ``ignore``, an upsert setting the deleted flag for ``flag``, a delete
            for ``delete``.
        """
        obj = self._object(object_name)
        target = obj.target
        policy = obj.delete_policy
        if policy == "ignore" or isinstance(target, OwnerTarget):
            return None
        if isinstance(target, LeadTarget):
            kind: TargetKind = "lead"
            name, lookup = LEADS_TARGET, target.lookup_field
        else:
            kind, name, lookup = "custom_object", target.name, target.dedupe_field
        if policy == "delete":
            return MarketoDelete(object_name, kind, name, lookup, record_id)
        flag_field = obj.deleted_flag_field or ""
        return MarketoUpsert(
            object_name,
            kind,
            name,
            lookup,
            record_id,
            {lookup: record_id, flag_field: True},
            action="updateOnly",
        )

    def _owner_object(self) -> tuple[str, OwnerTarget] | None:
        user = self.mapping.objects.get(USER_OBJECT)
        if user is None or not isinstance(user.target, OwnerTarget):
            return None
        return USER_OBJECT, user.target

    def owner_id_of(self, person: AbcMapping[str, object]) -> str | None:
        """The Id of the User who owns a person, per ``owner_field_on_person``.

        Args:
            person: A Person Account record.

        Returns:
            The owner's User Id, or ``None`` if unknown or User is not mapped.
        """
        owner_object = self._owner_object()
        if owner_object is None:
            return None
        value = field_value(person, owner_object[1].owner_field_on_person)
        return value if isinstance(value, str) and value else None

    def owner_fields(self, user: AbcMapping[str, object]) -> dict[str, object]:
        """The owner fields a User record puts on the persons it owns.

        Args:
            user: A User record.

        Returns:
            Marketo owner field → value (empty if User is not mapped).
        """
        if self._owner_object() is None:
            return {}
        return self._mapped_fields(USER_OBJECT, user)

    def person_owner_fields(
        self, person: AbcMapping[str, object], owner: AbcMapping[str, object] | None
    ) -> dict[str, object]:
        """The owner fields for a person, given the User record believed to own it.

        Args:
            person: A Person Account record.
            owner: A User record, or ``None`` when the owner is not known yet.

        Returns:
            The owner fields, or an empty dict when the owner is unknown or is not this
            person's owner (a stale owner must never be written).
        """
        owner_id = self.owner_id_of(person)
        if owner is None or owner_id is None or owner.get("Id") != owner_id:
            return {}
        return self.owner_fields(owner)

    def owner_updates(
        self, user: AbcMapping[str, object], person_ids: Iterable[str]
    ) -> list[MarketoUpsert]:
        """Refresh the owner fields on every person a changed User owns.

        Args:
            user: The changed User record.
            person_ids: Veeva Account Ids of the persons it owns.

        Returns:
            One ``updateOnly`` lead upsert per person (sorted by Id; empty if nothing to do).
        """
        person = self.mapping.person
        fields = self.owner_fields(user)
        if person is None or not fields or not isinstance(person.target, LeadTarget):
            return []
        lookup = person.target.lookup_field
        return [
            MarketoUpsert(
                USER_OBJECT,
                "lead",
                LEADS_TARGET,
                lookup,
                person_id,
                {lookup: person_id, **fields},
                action="updateOnly",
            )
            for person_id in sorted(set(person_ids))
        ]

    def reverse_value(self, veeva_field: str, marketo_value: object) -> object:
        """Turn a Marketo value of a bidirectional field into the value to write to Veeva.

        Args:
            veeva_field: The Person Account field.
            marketo_value: The value as Marketo holds it.

        Returns:
            The value in Veeva's representation.

        Raises:
            KeyError: If the field is not a bidirectional Person Account field.
        """
        for compiled in self._fields.get(PERSON_ACCOUNT_OBJECT, ()):
            if compiled.veeva_field == veeva_field and compiled.bidirectional:
                return compiled.reverse(marketo_value)
        msg = f"Account.{veeva_field} is not a bidirectional field"
        raise KeyError(msg)


def changed_fields(
    previous: AbcMapping[str, object] | None, upsert: MarketoUpsert
) -> dict[str, object]:
    """The fields of an upsert that differ from the last state sent to Marketo.

    A change to a field the mapping does not carry leaves the mapped state equal, so it costs
    no Marketo call.

    Args:
        previous: The fields last sent for this record, or ``None`` if never sent.
        upsert: The new upsert.

    Returns:
        The changed fields plus the lookup field; empty when nothing mapped changed.
    """
    if previous is None:
        return dict(upsert.fields)
    changed = {
        name: value
        for name, value in upsert.fields.items()
        if name not in previous or previous[name] != value
    }
    if not changed:
        return {}
    changed[upsert.lookup_field] = upsert.key
    return changed


def needs_write(previous: AbcMapping[str, object] | None, upsert: MarketoUpsert) -> bool:
    """Tell whether an upsert changes anything Marketo holds for the record.

    Args:
        previous: The fields last sent for this record, or ``None`` if never sent.
        upsert: The new upsert.

    Returns:
        True if at least one mapped field changed (or the record was never sent).
    """
    return bool(changed_fields(previous, upsert))

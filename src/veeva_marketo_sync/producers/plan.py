"""The capture plan of one object: which fields to read, under which filter and window (pure).

Fields are the mapped ones the integration user can see (from `describe`) plus the system and
link fields the pipeline needs. A mapped field the user cannot see is skipped and named once
in `ObjectPlan.invisible`; the coordinator logs one warning for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..clients.ports import SfDescribe
from ..errors import ConfigError
from ..schemas.from_describe import invisible_fields, schema_from_describe
from .soql import QueryScope
from .watermark import window_start

if TYPE_CHECKING:
    from ..processors.mapping import Mapping as MappingModel

SYSTEM_FIELDS: tuple[str, ...] = (
    "Id",
    "SystemModstamp",
    "CreatedDate",
    "LastModifiedById",
    "IsDeleted",
    "OwnerId",
)
"""Read whenever visible: keys, keyset order, echo detection (LastModifiedById), deletes."""

REQUIRED_FIELDS: tuple[str, ...] = ("Id", "SystemModstamp")

EXTRA_FIELDS_BY_OBJECT: Mapping[str, tuple[str, ...]] = {
    "Account": ("IsPersonAccount", "RecordType.DeveloperName"),
}
"""Per-object fields the processors need besides the mapped ones."""


@dataclass(frozen=True)
class CaptureSource:
    """One object to capture, as configured (before `describe` says what is visible).

    Attributes:
        object_name: The sObject, e.g. `Call2_vod__c`.
        mapped_fields: Fields the mapping moves to Marketo.
        where: Filter in SOQL, e.g. `IsPersonAccount = true AND ...`.
        window_field: Field of the time window (e.g. `CreatedDate`), or None.
        window_days: Length of the window in days, or None.
        link_fields: Lookups the processors follow (e.g. `Account_vod__c`).
    """

    object_name: str
    mapped_fields: tuple[str, ...]
    where: str | None = None
    window_field: str | None = None
    window_days: int | None = None
    link_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObjectPlan:
    """What capture reads of one object and the Avro payload schema of its events."""

    source: CaptureSource
    fields: tuple[str, ...]
    """SELECT list in payload-schema order (`Id` first)."""
    invisible: tuple[str, ...]
    """Mapped fields the integration user cannot see (skipped)."""
    payload_schema: dict[str, Any]
    has_is_deleted: bool

    @property
    def object_name(self) -> str:
        """The sObject name."""
        return self.source.object_name

    def scope(self, now: datetime) -> QueryScope:
        """The query scope with the window ending `now`."""
        return QueryScope(
            object_name=self.object_name,
            fields=self.fields,
            where=self.source.where,
            window_field=self.source.window_field,
            window_start=window_start(now, self.source.window_days),
        )


def describe_json(describe: SfDescribe) -> dict[str, Any]:
    """The describe as JSON: `raw` when the client kept it, else rebuilt from the fields.

    Rebuilt reference fields get the conventional relationship name (`RecordTypeId` ->
    `RecordType`, `Account_vod__c` -> `Account_vod__r`).
    """
    if describe.raw.get("fields"):
        return {"name": describe.name, **describe.raw}
    fields: list[dict[str, Any]] = []
    for f in describe.fields:
        entry: dict[str, Any] = {"name": f.name, "type": f.type, "length": f.length}
        if f.type == "reference":
            entry["referenceTo"] = list(f.reference_to)
            entry["relationshipName"] = _relationship_name(f.name)
        fields.append(entry)
    return {"name": describe.name, "fields": fields}


def _relationship_name(field_name: str) -> str | None:
    if field_name.endswith("__c"):
        return field_name[:-3] + "__r"
    if field_name.endswith("Id") and len(field_name) > 2:
        return field_name[:-2]
    return None


def build_plan(
    source: CaptureSource,
    describe: SfDescribe,
    related: Mapping[str, Mapping[str, Any]] | None = None,
) -> ObjectPlan:
    """Intersect the configured fields with what `describe` shows.

    Args:
        source: The configured object.
        describe: The object as the integration user sees it.
        related: Describes of referenced objects, to type relationship paths.

    Raises:
        ConfigError: `Id` or `SystemModstamp` is not visible, so capture cannot work.
    """
    raw = describe_json(describe)
    visible = {str(f["name"]) for f in raw.get("fields", ())}
    missing_required = [name for name in REQUIRED_FIELDS if name not in visible]
    if missing_required:
        msg = (
            f"{source.object_name}: the integration user cannot see {', '.join(missing_required)}; "
            "change capture needs them (grant read access in the user's profile)"
        )
        raise ConfigError(msg)
    mapped = _unique(source.mapped_fields)
    invisible = invisible_fields(raw, mapped)
    pipeline = [
        *SYSTEM_FIELDS,
        *EXTRA_FIELDS_BY_OBJECT.get(source.object_name, ()),
        *source.link_fields,
        *([source.window_field] if source.window_field else []),
    ]
    wanted = [name for name in _unique([*mapped, *pipeline]) if name not in invisible]
    quietly_absent = set(invisible_fields(raw, wanted))
    wanted = [name for name in wanted if name not in quietly_absent]
    schema = schema_from_describe(raw, wanted, related=related)
    fields = tuple(str(f["sf_name"]) for f in schema["fields"])
    return ObjectPlan(
        source=source,
        fields=fields,
        invisible=tuple(invisible),
        payload_schema=schema,
        has_is_deleted="IsDeleted" in fields,
    )


def _kind(mapping: MappingModel, name: str) -> str | None:
    obj = mapping.objects.get(name)
    return getattr(obj.target, "kind", None) if obj is not None else None


def sources_from_mapping(
    mapping: MappingModel, objects: Sequence[str] | None = None
) -> list[CaptureSource]:
    """Capture sources from the mapping model (`processors.mapping.Mapping`).

    Args:
        mapping: The validated mapping (only its data is read; nothing of processors runs).
        objects: Objects to capture, in this order; every mapped object when None.

    Raises:
        ConfigError: An object to capture has no mapping.
    """
    names = list(mapping.objects) if objects is None else list(objects)
    # Owners first: when a person's event is processed its owner's fields are then known, so
    # the person's one upsert carries them instead of a second, owner-refresh write per person.
    names.sort(key=lambda name: _kind(mapping, name) != "owner")
    sources: list[CaptureSource] = []
    for name in names:
        obj = mapping.objects.get(name)
        if obj is None:
            msg = f"sync.objects: {name} has no entry in the mapping file; add objects.{name}"
            raise ConfigError(msg)
        link_from = getattr(obj.target, "link_from", None)
        links = (str(link_from),) if link_from else ()
        sources.append(
            CaptureSource(
                object_name=name,
                mapped_fields=tuple(obj.fields),
                where=obj.where,
                window_field=obj.window.field if obj.window else None,
                window_days=obj.window.days if obj.window else None,
                link_fields=links,
            )
        )
    return sources


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))

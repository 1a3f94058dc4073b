"""What a mapping needs to exist in Marketo: lead fields and custom objects, with their types.

One source for the preflight check (``vmsync check``), the README's list for admins, and the
demo's Marketo set-up. Pure: reads the mapping only.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from typing import Any

from .mapping import (
    CustomObjectTarget,
    LeadTarget,
    Mapping,
    OwnerTarget,
    ValueType,
)

#: Marketo dataType to create for each comparison value type.
MARKETO_TYPE: dict[ValueType, str] = {
    "string": "string",
    "email": "email",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "number": "float",
}

#: Marketo data types that can hold a value of each type the mapping sends.
_ACCEPTS: dict[str, frozenset[str]] = {
    "string": frozenset({"string", "text", "email", "phone", "url", "textarea"}),
    "email": frozenset({"email", "string", "text"}),
    "boolean": frozenset({"boolean"}),
    "date": frozenset({"date", "datetime", "string"}),
    "datetime": frozenset({"datetime", "string"}),
    "float": frozenset({"float", "currency", "string", "text"}),
}


@dataclass(frozen=True)
class RequiredField:
    """A Marketo field the mapping writes."""

    name: str
    data_type: str
    source: str
    """Where its value comes from, e.g. ``Account.PersonEmail`` or ``dedupe key``."""


@dataclass(frozen=True)
class RequiredObject:
    """A Marketo custom object the mapping writes, linked to the person by ``link_field``."""

    name: str
    dedupe_field: str
    link_field: str
    fields: tuple[RequiredField, ...]


@dataclass(frozen=True)
class Problem:
    """One thing missing or wrong in Marketo, with how to fix it."""

    where: str
    what: str
    fix: str


def required_lead_fields(mapping: Mapping) -> list[RequiredField]:
    """Every lead field the mapping writes (standard and custom), in a stable order."""
    fields: dict[str, RequiredField] = {}
    for object_name, obj in mapping.objects.items():
        target = obj.target
        if isinstance(target, LeadTarget):
            fields.setdefault(
                target.lookup_field, RequiredField(target.lookup_field, "string", "dedupe key")
            )
            if obj.deleted_flag_field:
                fields.setdefault(
                    obj.deleted_flag_field,
                    RequiredField(obj.deleted_flag_field, "boolean", f"{object_name} deleted"),
                )
        if isinstance(target, LeadTarget | OwnerTarget):
            for sf_name, spec in obj.fields.items():
                fields.setdefault(
                    spec.to,
                    RequiredField(
                        spec.to, MARKETO_TYPE[spec.value_type], f"{object_name}.{sf_name}"
                    ),
                )
    return sorted(fields.values(), key=lambda f: f.name)


def required_custom_objects(mapping: Mapping) -> list[RequiredObject]:
    """Every custom object the mapping writes, with its dedupe, link and value fields."""
    objects: list[RequiredObject] = []
    for object_name, obj in mapping.objects.items():
        target = obj.target
        if not isinstance(target, CustomObjectTarget):
            continue
        fields = [
            RequiredField(target.dedupe_field, "string", f"{object_name}.Id"),
            RequiredField(target.link_field, "string", f"{object_name}.{target.link_from}"),
        ]
        fields += [
            RequiredField(spec.to, MARKETO_TYPE[spec.value_type], f"{object_name}.{sf_name}")
            for sf_name, spec in obj.fields.items()
        ]
        objects.append(
            RequiredObject(target.name, target.dedupe_field, target.link_field, tuple(fields))
        )
    return sorted(objects, key=lambda o: o.name)


def check_lead_fields(mapping: Mapping, described: Iterable[MappingABC[str, Any]]) -> list[Problem]:
    """Compare the lead fields Marketo describes with what the mapping needs."""
    have = {_rest_name(f): str(f.get("dataType", "")).lower() for f in described}
    problems: list[Problem] = []
    for need in required_lead_fields(mapping):
        actual = have.get(need.name)
        if actual is None:
            problems.append(
                Problem(
                    f"Marketo lead field {need.name}",
                    "missing",
                    f"create a {need.data_type} field with API name {need.name} "
                    f"(holds {need.source})",
                )
            )
        elif actual not in _ACCEPTS[need.data_type]:
            problems.append(
                Problem(
                    f"Marketo lead field {need.name}",
                    f"type {actual} cannot hold {need.data_type} values",
                    f"change it to {need.data_type} (holds {need.source})",
                )
            )
    return problems


def check_custom_objects(
    mapping: Mapping, described: Iterable[MappingABC[str, Any]]
) -> list[Problem]:
    """Compare Marketo's custom objects (list/describe results) with what the mapping needs."""
    have = {str(o.get("name")): o for o in described}
    problems: list[Problem] = []
    for need in required_custom_objects(mapping):
        obj = have.get(need.name)
        where = f"Marketo custom object {need.name}"
        if obj is None:
            problems.append(
                Problem(
                    where,
                    "missing",
                    f"create it with dedupe field {need.dedupe_field} and a link field "
                    f"{need.link_field} to the lead field of the same name",
                )
            )
            continue
        fields = {
            str(f.get("name")): str(f.get("dataType", "")).lower() for f in obj.get("fields", [])
        }
        dedupe = [str(n) for group in obj.get("dedupeFields", []) for n in _names(group)]
        if fields and need.dedupe_field not in dedupe:
            problems.append(
                Problem(
                    where, f"dedupe field is {dedupe}", f"make {need.dedupe_field} the dedupe field"
                )
            )
        for field in need.fields:
            actual = fields.get(field.name)
            if fields and actual is None:
                problems.append(
                    Problem(
                        f"{where}.{field.name}",
                        "missing",
                        f"add a {field.data_type} field {field.name} (holds {field.source})",
                    )
                )
            elif actual is not None and actual not in _ACCEPTS[field.data_type] | {"link"}:
                problems.append(
                    Problem(
                        f"{where}.{field.name}",
                        f"type {actual} cannot hold {field.data_type} values",
                        f"change it to {field.data_type}",
                    )
                )
    return problems


def _rest_name(field: MappingABC[str, Any]) -> str:
    rest = field.get("rest")
    if isinstance(rest, MappingABC) and rest.get("name"):
        return str(rest["name"])
    return str(field.get("name", ""))


def _names(group: Any) -> list[Any]:
    return list(group) if isinstance(group, list | tuple) else [group]

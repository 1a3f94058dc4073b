"""Turn a Salesforce describe result into a deterministic Avro record schema (pure).

Choices (see also docs/adr/0002-avro-codec.md):

* Every field is `["null", T]` with default null: field-level security can hide a value, and
  a BACKWARD-compatible reader can then always fill a field the writer did not have.
* `currency`, `percent` and `double` are Avro `double`, not `decimal`: the REST API returns them
  as JSON numbers (already binary floats), Marketo takes JSON numbers, and `decimal` would tie
  the schema to the describe's precision/scale so that widening a field in Setup broke it.
* Compound `address` and `location` fields are skipped: describe also lists their components
  (`MailingStreet`, `MailingCity`, ..., `Location__Latitude__s`) as ordinary fields, and Bulk
  API 2.0 cannot query compound fields at all.
* Types this module does not know are carried as `string` (Salesforce serialises them as
  JSON text), so a new platform type never stops the producer; `sf_type` keeps the original.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

NAMESPACE: Final = "io.vmsync.veeva"
"""Payload records are named `io.vmsync.veeva.<Object>.Value`."""

_STRING: Final = "string"
_DATE: Final = {"type": "int", "logicalType": "date"}
_TIMESTAMP: Final = {"type": "long", "logicalType": "timestamp-millis"}
_TIME: Final = {"type": "int", "logicalType": "time-millis"}

AVRO_TYPE_BY_SF_TYPE: Final[Mapping[str, str | Mapping[str, str]]] = {
    "id": _STRING,
    "reference": _STRING,
    "string": _STRING,
    "textarea": _STRING,
    "email": _STRING,
    "phone": _STRING,
    "url": _STRING,
    "picklist": _STRING,
    "multipicklist": _STRING,  # Salesforce's own "a;b;c" form, as the API returns it
    "combobox": _STRING,
    "encryptedstring": _STRING,  # masked or clear depending on the user's permission
    "anyType": _STRING,
    "complexvalue": _STRING,
    "json": _STRING,
    "datacategorygroupreference": _STRING,
    "base64": "bytes",
    "boolean": "boolean",
    "int": "int",
    "long": "long",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "date": _DATE,
    "datetime": _TIMESTAMP,
    "time": _TIME,
}
"""Salesforce describe `type` → Avro type of the (nullable) field."""

SKIPPED_SF_TYPES: Final = frozenset({"address", "location"})
"""Compound types whose components are separate fields of the describe."""

_AVRO_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def avro_field_name(sf_name: str) -> str:
    """Return the Avro name of a Salesforce field or relationship path.

    `RecordType.DeveloperName` becomes `RecordType__DeveloperName`; plain names are unchanged.

    Raises:
        ValueError: The name cannot be made a valid Avro name.
    """
    name = sf_name.replace(".", "__")
    if not _AVRO_NAME.fullmatch(name):
        msg = f"Salesforce field {sf_name!r} has no valid Avro name (got {name!r})"
        raise ValueError(msg)
    return name


def schema_from_describe(
    describe: Mapping[str, Any],
    wanted: Iterable[str] | None = None,
    *,
    related: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Return the Avro record schema of an object's visible (and wanted) fields.

    The same describe gives the same schema whatever the order of its `fields`: `Id` first,
    then the rest sorted by Avro name. Each field keeps the Salesforce name in `sf_name` and
    the Salesforce type in `sf_type`.

    Args:
        describe: The JSON of `GET /sobjects/{Object}/describe/`.
        wanted: Field names to keep (the mapping's fields); `None` keeps every field. Names
            the describe does not list (hidden by field-level security) are left out; find
            them with `invisible_fields`. A relationship path such as
            `RecordType.DeveloperName` is kept when the describe has a reference field with
            that `relationshipName`.
        related: Describes of referenced objects by object name, used to type relationship
            paths; without the one needed, a path is typed `string`.

    Raises:
        ValueError: The describe has no `name`, or two fields map to the same Avro name.
    """
    object_name = describe.get("name")
    if not isinstance(object_name, str) or not object_name:
        msg = "describe result has no object 'name'"
        raise ValueError(msg)
    by_name = {str(f["name"]): f for f in describe.get("fields", ())}
    wanted_names = sorted(set(by_name) if wanted is None else set(wanted))

    fields: dict[str, dict[str, Any]] = {}
    for sf_name in wanted_names:
        field = _avro_field(sf_name, by_name, related or {})
        if field is None:
            continue
        if field["name"] in fields:
            msg = (
                f"{object_name}: fields {fields[field['name']]['sf_name']!r} and {sf_name!r} "
                f"both map to Avro name {field['name']!r}"
            )
            raise ValueError(msg)
        fields[field["name"]] = field

    ordered = sorted(fields.values(), key=lambda f: (f["name"] != "Id", f["name"]))
    return {
        "type": "record",
        "name": "Value",
        "namespace": f"{NAMESPACE}.{avro_field_name(object_name)}",
        "doc": f"Visible fields of Salesforce object {object_name}.",
        "sf_object": object_name,
        "fields": ordered,
    }


def invisible_fields(describe: Mapping[str, Any], wanted: Iterable[str]) -> list[str]:
    """Return the wanted names the describe does not show (hidden or misspelt), sorted."""
    by_name = {str(f["name"]): f for f in describe.get("fields", ())}
    relationships = _relationships(by_name)
    missing = []
    for name in wanted:
        head, dot, _ = name.partition(".")
        visible = head in relationships if dot else name in by_name
        if not visible:
            missing.append(name)
    return sorted(missing)


def _avro_field(
    sf_name: str,
    by_name: Mapping[str, Mapping[str, Any]],
    related: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any] | None:
    if "." in sf_name:
        sf_type = _relationship_type(sf_name, by_name, related)
    else:
        described = by_name.get(sf_name)
        sf_type = None if described is None else str(described.get("type", ""))
    if sf_type is None or sf_type in SKIPPED_SF_TYPES:
        return None
    avro_type = AVRO_TYPE_BY_SF_TYPE.get(sf_type, _STRING)
    return {
        "name": avro_field_name(sf_name),
        "type": ["null", dict(avro_type) if isinstance(avro_type, Mapping) else avro_type],
        "default": None,
        "sf_name": sf_name,
        "sf_type": sf_type,
    }


def _relationship_type(
    path: str,
    by_name: Mapping[str, Mapping[str, Any]],
    related: Mapping[str, Mapping[str, Any]],
) -> str | None:
    head, _, rest = path.partition(".")
    reference = _relationships(by_name).get(head)
    if reference is None:
        return None
    if "." in rest:
        return _STRING  # deeper paths are typed only one level down
    for target in _reference_to(reference):
        target_fields = {str(f["name"]): f for f in related.get(target, {}).get("fields", ())}
        if rest in target_fields:
            return str(target_fields[rest].get("type", _STRING))
    return _STRING


def _relationships(by_name: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {
        str(f["relationshipName"]): f
        for f in by_name.values()
        if f.get("type") == "reference" and f.get("relationshipName")
    }


def _reference_to(field: Mapping[str, Any]) -> Sequence[str]:
    targets = field.get("referenceTo") or ()
    return [str(t) for t in targets]

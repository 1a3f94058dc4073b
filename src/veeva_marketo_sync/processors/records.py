"""Change-event payloads back in the shape the mapping rules read (pure).

The producer names relationship fields ``RecordType__DeveloperName`` in Avro (dots are not
allowed); the rules read Salesforce JSON, where that is ``RecordType.DeveloperName``, nested.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from veeva_marketo_sync.processors.mapping import CustomObjectTarget, OwnerTarget
from veeva_marketo_sync.processors.mapping import Mapping as SyncMapping
from veeva_marketo_sync.schemas.from_describe import avro_field_name


def relationship_paths(mapping: SyncMapping) -> tuple[str, ...]:
    """Every dotted relationship path the mapping reads, e.g. ``RecordType.DeveloperName``.

    Args:
        mapping: The validated mapping.

    Returns:
        The paths, sorted.
    """
    paths: set[str] = set()
    for obj in mapping.objects.values():
        names = set(obj.fields)
        if isinstance(obj.target, CustomObjectTarget):
            names.add(obj.target.link_from)
        if isinstance(obj.target, OwnerTarget):
            names.add(obj.target.owner_field_on_person)
        paths |= {name for name in names if "." in name}
    return tuple(sorted(paths))


def salesforce_record(payload: Mapping[str, object], paths: Iterable[str]) -> dict[str, object]:
    """The ``after`` payload of a change event as a Salesforce JSON record.

    Args:
        payload: The decoded ``after`` record (Avro field names).
        paths: Relationship paths to nest (from :func:`relationship_paths`).

    Returns:
        A copy with each carried path also present as nested dicts.
    """
    record: dict[str, object] = dict(payload)
    for path in paths:
        name = avro_field_name(path)
        if name not in payload:
            continue
        *parents, leaf = path.split(".")
        node = record
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[leaf] = payload[name]
    return record

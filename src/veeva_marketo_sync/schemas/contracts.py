"""The checked-in Avro contracts (`avsc/*.avsc`) and the change-event envelope template."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any, Final

CHANGE_EVENT: Final = "change_event"
LEAD_EDIT: Final = "lead_edit"
CONTACT_EDIT: Final = "contact_edit"
DEAD_LETTER: Final = "dead_letter"
CHECKPOINT: Final = "checkpoint"
MARKETO_UPSERT: Final = "marketo_upsert"
DECISION: Final = "decision"

CONTRACT_NAMES: Final = (
    CHANGE_EVENT,
    LEAD_EDIT,
    CONTACT_EDIT,
    DEAD_LETTER,
    CHECKPOINT,
    MARKETO_UPSERT,
    DECISION,
)


def load_contract(name: str) -> dict[str, Any]:
    """Return a fresh copy of the checked-in schema `name` (one of `CONTRACT_NAMES`).

    Raises:
        KeyError: `name` is not a checked-in contract.
    """
    if name not in CONTRACT_NAMES:
        msg = f"no Avro contract named {name!r}; known: {', '.join(CONTRACT_NAMES)}"
        raise KeyError(msg)
    return copy.deepcopy(_load(name))


@cache
def _load(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath("avsc", f"{name}.avsc").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def envelope_schema(payload_schema: dict[str, Any]) -> dict[str, Any]:
    """Return the change-event schema of one object: the envelope with `after` = its payload.

    The envelope takes the payload's namespace and is named `Envelope` (Debezium's convention),
    so `io.vmsync.veeva.Account.Value` travels in `io.vmsync.veeva.Account.Envelope`.

    Args:
        payload_schema: The object's record schema, e.g. from `schema_from_describe`.

    Raises:
        ValueError: `payload_schema` is not a named record schema.
    """
    if payload_schema.get("type") != "record" or not payload_schema.get("name"):
        msg = "the payload of a change event must be a named Avro record schema"
        raise ValueError(msg)
    envelope = load_contract(CHANGE_EVENT)
    namespace = payload_schema.get("namespace")
    if namespace is None:
        name = str(payload_schema["name"])
        namespace = name.rpartition(".")[0] or "io.vmsync"
    envelope["namespace"] = namespace
    envelope["doc"] = "One version of one source record (Debezium-style)."
    for field in envelope["fields"]:
        if field["name"] == "after":
            field["type"] = ["null", copy.deepcopy(payload_schema)]
    return envelope

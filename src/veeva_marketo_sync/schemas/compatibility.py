"""BACKWARD compatibility (new reader, old writer) with a reason per field.

Libraries answer yes or no; an operator needs to know which field broke and why, so the Avro
schema-resolution rules are applied here field by field. Beyond the spec, a change of logical
type (e.g. `date` to `time-millis`, both `int`) is reported: the bytes resolve, the meaning
does not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fastavro.schema import parse_schema

from veeva_marketo_sync.schemas.errors import IncompatibleSchemaError

PRIMITIVES: Final = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
_PROMOTIONS: Final = {
    ("int", "long"),
    ("int", "float"),
    ("int", "double"),
    ("long", "float"),
    ("long", "double"),
    ("float", "double"),
    ("string", "bytes"),
    ("bytes", "string"),
}
"""(writer, reader) pairs the Avro spec resolves by promotion."""


def backward_problems(new: Mapping[str, Any] | str | list[Any], old: Any) -> list[str]:
    """Return why a reader using `new` cannot read data written with `old` (empty: compatible).

    Args:
        new: The candidate (reader) schema.
        old: The previous (writer) schema.

    Returns:
        One line per problem, each naming the field path, e.g.
        ``field 'Phone': type changed from string to long``.
    """
    reader_names: dict[str, Any] = {}
    writer_names: dict[str, Any] = {}
    reader = parse_schema(_plain(new), named_schemas=reader_names, _write_hint=False)
    writer = parse_schema(_plain(old), named_schemas=writer_names, _write_hint=False)
    checker = _Checker(reader_names, writer_names)
    checker.check(reader, writer, "")
    return checker.problems


def ensure_backward(subject: str, new: Any, old: Any) -> None:
    """Raise unless `new` can read data written with `old`.

    Raises:
        IncompatibleSchemaError: With every problem `backward_problems` found.
    """
    problems = backward_problems(new, old)
    if problems:
        raise IncompatibleSchemaError(subject, problems)


@dataclass
class _Checker:
    reader_names: dict[str, Any]
    writer_names: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def check(self, reader: Any, writer: Any, path: str) -> None:
        reader = self._resolve(reader, self.reader_names)
        writer = self._resolve(writer, self.writer_names)
        if isinstance(writer, list):
            branches = [self._resolve(b, self.writer_names) for b in writer]
            unreadable = [b for b in branches if not self._check_branch(reader, b, path)]
            if unreadable:
                lost = ", ".join(_show(b) for b in unreadable)
                self._add(
                    path,
                    f"type changed from {_show(writer)} to {_show(reader)} "
                    f"({lost} values can no longer be read)",
                )
        elif not self._check_branch(reader, writer, path):
            self._add(path, f"type changed from {_show(writer)} to {_show(reader)}")

    def _check_branch(self, reader: Any, writer: Any, path: str) -> bool:
        """Check one non-union writer type; False when no reader branch can read it at all."""
        if not isinstance(reader, list):
            if _kind(reader) != _kind(writer) and not _promotable(writer, reader):
                return False
            self._check_single(reader, writer, path)
            return True
        branches = [self._resolve(b, self.reader_names) for b in reader]
        match = next((b for b in branches if _same_kind(b, writer)), None)
        if match is None:
            match = next((b for b in branches if _promotable(writer, b)), None)
        if match is None:
            return False
        self._check_single(match, writer, path)
        return True

    def _check_single(self, reader: Any, writer: Any, path: str) -> None:
        r_kind = _kind(reader)
        if r_kind in PRIMITIVES:
            r_logical, w_logical = _logical(reader), _logical(writer)
            if r_logical != w_logical:
                self._add(
                    path,
                    f"logical type changed from {w_logical or 'none'} to {r_logical or 'none'} "
                    f"({_show(writer)} to {_show(reader)})",
                )
            return
        if r_kind in {"record", "enum", "fixed"} and not _names_match(reader, writer):
            self._add(path, f"{r_kind} name changed from {writer['name']} to {reader['name']}")
            return
        if r_kind == "record":
            self._check_record(reader, writer, path)
        elif r_kind == "enum":
            self._check_enum(reader, writer, path)
        elif r_kind == "fixed" and reader["size"] != writer["size"]:
            self._add(path, f"fixed size changed from {writer['size']} to {reader['size']}")
        elif r_kind == "array":
            self.check(reader["items"], writer["items"], f"{path}[]")
        elif r_kind == "map":
            self.check(reader["values"], writer["values"], f"{path}{{}}")

    def _check_record(
        self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str
    ) -> None:
        key = (str(reader["name"]), str(writer["name"]))
        if key in self._seen:
            return  # recursive type already being checked
        self._seen.add(key)
        written = {f["name"]: f for f in writer["fields"]}
        for reader_field in reader["fields"]:
            names = [reader_field["name"], *reader_field.get("aliases", ())]
            writer_field = next((written[n] for n in names if n in written), None)
            field_path = f"{path}.{reader_field['name']}" if path else reader_field["name"]
            if writer_field is not None:
                self.check(reader_field["type"], writer_field["type"], field_path)
            elif "default" not in reader_field:
                self._add(
                    field_path,
                    "added without a default, so records written before it cannot be read "
                    '(make it ["null", ...] with "default": null)',
                )

    def _check_enum(self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str) -> None:
        removed = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if removed and "default" not in reader:
            self._add(
                path,
                f"enum {reader['name']} lost symbol(s) {', '.join(removed)} and has no default",
            )

    def _add(self, path: str, reason: str) -> None:
        where = f"field {path!r}" if path else "schema"
        self.problems.append(f"{where}: {reason}")

    @staticmethod
    def _resolve(schema: Any, names: Mapping[str, Any]) -> Any:
        if isinstance(schema, str) and schema not in PRIMITIVES:
            return names.get(schema, schema)
        return schema


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, Mapping):
        return str(schema["type"])
    return str(schema)


def _logical(schema: Any) -> str | None:
    if isinstance(schema, Mapping):
        logical = schema.get("logicalType")
        return None if logical is None else str(logical)
    return None


def _same_kind(reader: Any, writer: Any) -> bool:
    kind = _kind(reader)
    if kind != _kind(writer):
        return False
    if kind in {"record", "enum", "fixed"}:
        return _names_match(reader, writer)
    return True


def _promotable(writer: Any, reader: Any) -> bool:
    return (_kind(writer), _kind(reader)) in _PROMOTIONS


def _names_match(reader: Mapping[str, Any], writer: Mapping[str, Any]) -> bool:
    # The spec compares unqualified names; reader aliases may name the writer's full name.
    if _short(reader["name"]) == _short(writer["name"]):
        return True
    aliases = {str(a) for a in reader.get("aliases", ())}
    return writer["name"] in aliases or _short(writer["name"]) in aliases


def _short(name: str) -> str:
    return name.rpartition(".")[2]


def _show(schema: Any) -> str:
    kind = _kind(schema)
    if kind == "union":
        return "[" + ", ".join(_show(b) for b in schema) + "]"
    if kind in PRIMITIVES:
        logical = _logical(schema)
        return f"{kind} ({logical})" if logical else kind
    if kind in {"record", "enum", "fixed"}:
        return f"{kind} {schema['name']}"
    if kind == "array":
        return f"array<{_show(schema['items'])}>"
    if kind == "map":
        return f"map<{_show(schema['values'])}>"
    return kind


def _plain(schema: Any) -> Any:
    return json.loads(json.dumps(schema))

"""The field mapping file: typed model, validation rules and loader.

The mapping says which Veeva objects and fields go where in Marketo, with which transforms,
in which direction and under which conflict policy. It is validated once at start-up; every
problem is reported with the key that causes it.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from veeva_marketo_sync.processors.contact_fields import PERSON_ACCOUNT_OBJECT, is_contact_field
from veeva_marketo_sync.processors.transforms import TransformSpecError, parse_transform

Direction = Literal["veeva_to_marketo", "both"]
ConflictPolicy = Literal["newest_wins", "veeva_wins", "marketo_wins", "sticky_true"]
DeletePolicy = Literal["ignore", "flag", "delete"]
ValueType = Literal["string", "email", "boolean", "date", "datetime", "number"]

USER_OBJECT = "User"
DEFAULT_MAPPING_RESOURCE = "default_mapping.yaml"
DEFAULT_UNTRUSTED_SOURCES: dict[str, tuple[str, ...]] = {
    "Web form fillout": ("email", "firstName", "lastName"),
}

UNSUPPORTED_OBJECTS: dict[str, str] = {
    "Lead": "Veeva CRM keeps HCPs as Person Accounts, not leads; map Account instead",
    "Contact": (
        "person contact data is read and written on the Person Account (Account with Person* "
        "and __pc fields); map Account instead"
    ),
    "Opportunity": (
        "the sync moves persons, users, calls, call key messages and custom objects only"
    ),
    "Campaign": "campaigns belong to Marketo; the sync does not move Salesforce campaigns",
    "Task": "activities are not synced; Veeva interactions are Calls (Call2_vod__c), which are",
    "Event": "activities are not synced; Veeva interactions are Calls (Call2_vod__c), which are",
}

_PERSON_ACCOUNT_TRUE = re.compile(r"\bIsPersonAccount\s*=\s*true\b", re.IGNORECASE)
_PERSON_ACCOUNT_NOT_TRUE = re.compile(
    r"\bIsPersonAccount\s*(=\s*false|!=\s*true|<>\s*true)\b", re.IGNORECASE
)
_TOP_LEVEL_OR = re.compile(r"\bOR\b", re.IGNORECASE)


class MappingError(ValueError):
    """The mapping file is invalid; the message names each bad key. Fix the file and restart."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldMapping(_Model):
    """How one Veeva field lands in Marketo."""

    to: str = Field(min_length=1, description="Marketo field (REST API name)")
    transforms: tuple[str, ...] = ()
    direction: Direction = "veeva_to_marketo"
    conflict: ConflictPolicy = "newest_wins"
    type: ValueType | None = Field(
        default=None, description="value type for comparisons; inferred when absent"
    )

    @property
    def value_type(self) -> ValueType:
        """The value type used to compare values of this field (explicit or inferred)."""
        if self.type is not None:
            return self.type
        names = {spec.partition(":")[0].strip() for spec in self.transforms}
        if self.conflict == "sticky_true":
            return "boolean"
        if "datetime" in names:
            return "datetime"
        if "date" in names:
            return "date"
        if "email" in self.to.lower():
            return "email"
        return "string"


class LeadTarget(_Model):
    """Veeva records become Marketo leads (persons), deduplicated by ``lookup_field``."""

    kind: Literal["lead"]
    lookup_field: str = Field(min_length=1)


class OwnerTarget(_Model):
    """Veeva users fill owner fields on the persons whose ``owner_field_on_person`` names them."""

    kind: Literal["owner"]
    owner_field_on_person: str = Field(default="OwnerId", min_length=1)


class CustomObjectTarget(_Model):
    """Veeva records become Marketo custom object records linked to a person."""

    kind: Literal["custom_object"]
    name: str = Field(min_length=1)
    dedupe_field: str = Field(min_length=1)
    link_field: str = Field(min_length=1, description="Marketo field holding the person key")
    link_from: str = Field(min_length=1, description="Veeva field holding the Account Id")


Target = Annotated[LeadTarget | OwnerTarget | CustomObjectTarget, Field(discriminator="kind")]


class Window(_Model):
    """Only records whose ``field`` is within the last ``days`` days are synced."""

    field: str = Field(min_length=1)
    days: PositiveInt


class ObjectMapping(_Model):
    """How one Veeva object is captured and where it goes."""

    where: str | None = None
    window: Window | None = None
    target: Target
    fields: dict[str, FieldMapping]
    on_delete: DeletePolicy | None = None
    deleted_flag_field: str | None = None

    @property
    def delete_policy(self) -> DeletePolicy:
        """The delete policy, defaulting by target kind (owner: ignore, lead: flag, else delete)."""
        if self.on_delete is not None:
            return self.on_delete
        if isinstance(self.target, OwnerTarget):
            return "ignore"
        if isinstance(self.target, LeadTarget):
            return "flag"
        return "delete"


class ReverseEdits(_Model):
    """Trust policy for Marketo → Veeva edits."""

    untrusted_sources: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: dict(DEFAULT_UNTRUSTED_SOURCES),
        description="Marketo change source → Marketo fields it may not change",
    )


class Mapping(_Model):
    """The whole mapping file."""

    picklists: dict[str, dict[str, str]] = Field(default_factory=dict)
    objects: dict[str, ObjectMapping]
    reverse_edits: ReverseEdits = Field(default_factory=ReverseEdits)

    @model_validator(mode="before")
    @classmethod
    def _default_person_account_filter(cls, data: Any) -> Any:
        if isinstance(data, dict):
            objects = data.get("objects")
            account = objects.get(PERSON_ACCOUNT_OBJECT) if isinstance(objects, dict) else None
            if isinstance(account, dict) and account.get("where") is None:
                return {
                    **data,
                    "objects": {
                        **objects,  # type: ignore[dict-item]
                        PERSON_ACCOUNT_OBJECT: {**account, "where": "IsPersonAccount = true"},
                    },
                }
        return data

    @model_validator(mode="after")
    def _check_rules(self) -> Mapping:
        problems = mapping_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def person(self) -> ObjectMapping | None:
        """The Person Account mapping, if the file has one."""
        return self.objects.get(PERSON_ACCOUNT_OBJECT)


def _has_top_level_or(where: str) -> bool:
    depth = 0
    outside: list[str] = []
    for char in re.sub(r"'(?:[^'\\]|\\.)*'", "''", where):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        outside.append(char if depth == 0 else " ")
    return bool(_TOP_LEVEL_OR.search("".join(outside)))


def _object_name_problems(name: str) -> list[str]:
    if name in UNSUPPORTED_OBJECTS:
        return [f"objects.{name}: {name} is not supported: {UNSUPPORTED_OBJECTS[name]}"]
    if name not in {PERSON_ACCOUNT_OBJECT, USER_OBJECT} and not name.endswith("__c"):
        return [
            f"objects.{name}: {name} is not supported: only Account (person accounts), User "
            "and custom objects (names ending in __c) are synced"
        ]
    return []


def _target_problems(name: str, obj: ObjectMapping) -> list[str]:
    expected = {PERSON_ACCOUNT_OBJECT: "lead", USER_OBJECT: "owner"}.get(name, "custom_object")
    if obj.target.kind != expected:
        return [
            f"objects.{name}.target.kind: {name} must map to kind {expected!r}, "
            f"not {obj.target.kind!r}"
        ]
    return []


def _where_problems(name: str, obj: ObjectMapping) -> list[str]:
    if name != PERSON_ACCOUNT_OBJECT or obj.where is None:
        return []
    key = f"objects.{name}.where"
    business = (
        "business Accounts are not supported: only Person Accounts (HCPs) are synced as persons"
    )
    if _PERSON_ACCOUNT_NOT_TRUE.search(obj.where):
        return [f"{key}: selects IsPersonAccount = false; {business}"]
    if not _PERSON_ACCOUNT_TRUE.search(obj.where):
        return [f"{key}: must contain 'IsPersonAccount = true'; {business}"]
    if _has_top_level_or(obj.where):
        return [
            f"{key}: a top-level OR can select business Accounts; wrap the alternatives in "
            "parentheses next to 'IsPersonAccount = true AND (...)'"
        ]
    return []


def _field_problems(name: str, obj: ObjectMapping, mapping: Mapping) -> list[str]:
    problems: list[str] = []
    seen_targets: dict[str, str] = {}
    reserved = _reserved_marketo_fields(obj)
    for field_name, field in obj.fields.items():
        key = f"objects.{name}.fields.{field_name}"
        for index, spec in enumerate(field.transforms):
            try:
                parse_transform(spec, mapping.picklists)
            except TransformSpecError as exc:
                problems.append(f"{key}.transforms[{index}]: {exc}")
        if field.direction == "both" and not (
            name == PERSON_ACCOUNT_OBJECT and is_contact_field(field_name)
        ):
            problems.append(
                f"{key}.direction: 'both' is allowed only on Person Account contact fields "
                "(Account FirstName, LastName, PersonEmail, PersonMailing*, ... and __pc "
                f"fields); {name}.{field_name} can only flow Veeva -> Marketo"
            )
        if field.conflict != "newest_wins" and field.direction != "both":
            problems.append(
                f"{key}.conflict: a conflict policy applies only to fields with direction: both"
            )
        if field.conflict == "sticky_true" and field.value_type != "boolean":
            problems.append(f"{key}.conflict: sticky_true needs a boolean field (type: boolean)")
        if field.to in seen_targets:
            problems.append(
                f"{key}.to: {field.to!r} is already the target of "
                f"objects.{name}.fields.{seen_targets[field.to]}"
            )
        elif field.to in reserved:
            problems.append(f"{key}.to: {field.to!r} is written by the sync itself ({reserved})")
        seen_targets.setdefault(field.to, field_name)
    return problems


def _reserved_marketo_fields(obj: ObjectMapping) -> list[str]:
    target = obj.target
    reserved = [obj.deleted_flag_field] if obj.deleted_flag_field else []
    if isinstance(target, LeadTarget):
        reserved.append(target.lookup_field)
    elif isinstance(target, CustomObjectTarget):
        reserved += [target.dedupe_field, target.link_field]
    return reserved


def _delete_problems(name: str, obj: ObjectMapping) -> list[str]:
    key = f"objects.{name}.on_delete"
    if isinstance(obj.target, OwnerTarget) and obj.delete_policy != "ignore":
        return [f"{key}: users are owner fields, not Marketo records; only 'ignore' applies"]
    if obj.delete_policy == "flag" and not obj.deleted_flag_field:
        return [f"{key}: 'flag' needs deleted_flag_field (e.g. veevaIsDeleted)"]
    return []


def _window_problems(name: str, obj: ObjectMapping) -> list[str]:
    if obj.window is not None and not isinstance(obj.target, CustomObjectTarget):
        return [f"objects.{name}.window: a window applies only to custom-object targets"]
    return []


def _reverse_edit_problems(mapping: Mapping) -> list[str]:
    if "untrusted_sources" not in mapping.reverse_edits.model_fields_set:
        return []  # the default names identity fields a slimmer mapping may not carry
    bidirectional = set(reverse_bidirectional_fields(mapping))
    problems: list[str] = []
    for source, fields in mapping.reverse_edits.untrusted_sources.items():
        for field in fields:
            if field not in bidirectional:
                problems.append(
                    f"reverse_edits.untrusted_sources.{source}: {field!r} is not the Marketo "
                    "field of a bidirectional Account field"
                )
    return problems


def mapping_problems(mapping: Mapping) -> list[str]:
    """List every rule the mapping breaks, each prefixed with the offending key.

    Args:
        mapping: A structurally valid mapping.

    Returns:
        Human-readable problems; empty when the mapping is acceptable.
    """
    problems: list[str] = []
    for name, obj in mapping.objects.items():
        name_problems = _object_name_problems(name)
        problems += name_problems
        if name_problems:
            continue
        problems += _target_problems(name, obj)
        problems += _where_problems(name, obj)
        problems += _field_problems(name, obj, mapping)
        problems += _delete_problems(name, obj)
        problems += _window_problems(name, obj)
    if USER_OBJECT in mapping.objects and PERSON_ACCOUNT_OBJECT not in mapping.objects:
        problems.append("objects.User: owner fields live on persons; map Account as well")
    problems += _reverse_edit_problems(mapping)
    return problems


def bidirectional_fields(mapping: Mapping) -> dict[str, str]:
    """Person Account fields synced both ways.

    Args:
        mapping: The mapping.

    Returns:
        Veeva field → Marketo field, for every ``direction: both`` field.
    """
    person = mapping.person
    if person is None:
        return {}
    return {name: field.to for name, field in person.fields.items() if field.direction == "both"}


def reverse_bidirectional_fields(mapping: Mapping) -> dict[str, str]:
    """The reverse of :func:`bidirectional_fields`.

    Args:
        mapping: The mapping.

    Returns:
        Marketo field → Veeva field, for every ``direction: both`` field.
    """
    return {marketo: veeva for veeva, marketo in bidirectional_fields(mapping).items()}


def _format_validation_error(source: str, error: ValidationError) -> str:
    lines: list[str] = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        if location:
            lines.append(f"{location}: {message}")
        else:
            lines.extend(message.splitlines())
    return f"invalid mapping {source}:\n  " + "\n  ".join(lines)


def parse_mapping(text: str, source: str = "<string>") -> Mapping:
    """Parse and validate mapping YAML.

    Args:
        text: The YAML document.
        source: Where it came from, for messages.

    Returns:
        The validated mapping.

    Raises:
        MappingError: If the YAML is malformed or breaks a rule; the message names each key.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = f"invalid mapping {source}: not valid YAML: {exc}"
        raise MappingError(msg) from None
    if not isinstance(data, dict):
        msg = f"invalid mapping {source}: the top level must be a map with an 'objects' key"
        raise MappingError(msg)
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError(_format_validation_error(source, exc)) from None


def load_mapping(path: Path | str | None = None) -> Mapping:
    """Load the mapping file, or the packaged default when no path is given.

    Args:
        path: A mapping YAML file, or ``None`` for ``default_mapping.yaml``.

    Returns:
        The validated mapping.

    Raises:
        MappingError: If the file cannot be read or is invalid.
    """
    if path is None:
        resource = resources.files("veeva_marketo_sync.processors") / DEFAULT_MAPPING_RESOURCE
        return parse_mapping(resource.read_text(encoding="utf-8"), DEFAULT_MAPPING_RESOURCE)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read mapping file {file}: {exc.strerror or exc}"
        raise MappingError(msg) from None
    return parse_mapping(text, str(file))

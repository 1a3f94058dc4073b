"""Value transforms named in the mapping file: pure functions from a Veeva value to Marketo's.

Every transform passes ``None`` through, so a cleared field stays cleared on the other side.
Spec strings are ``trim``, ``lower``, ``upper``, ``date``, ``datetime``, ``max_length:N`` and
``picklist:<map name>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import partial

Transform = Callable[[object], object]

SIMPLE_TRANSFORMS = frozenset({"trim", "lower", "upper", "date", "datetime"})
PARAMETRISED_TRANSFORMS = frozenset({"max_length", "picklist"})


class TransformError(ValueError):
    """A value cannot be transformed: dead-letter the record with this reason, do not retry."""


class TransformSpecError(ValueError):
    """A transform named in the mapping file is unknown or malformed: fix the configuration."""


def trim(value: object) -> object:
    """Strip surrounding whitespace from strings; other values pass unchanged.

    Args:
        value: Any field value.

    Returns:
        The stripped string, or the value itself.
    """
    return value.strip() if isinstance(value, str) else value


def lower(value: object) -> object:
    """Lower-case strings; other values pass unchanged.

    Args:
        value: Any field value.

    Returns:
        The lower-cased string, or the value itself.
    """
    return value.lower() if isinstance(value, str) else value


def upper(value: object) -> object:
    """Upper-case strings; other values pass unchanged.

    Args:
        value: Any field value.

    Returns:
        The upper-cased string, or the value itself.
    """
    return value.upper() if isinstance(value, str) else value


def _parse_instant(value: object) -> datetime:
    """Read a Salesforce/ISO date-time (or epoch millis) as an aware UTC datetime."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, int) and not isinstance(value, bool):
        # Avro timestamp-millis decoded without logical types.
        moment = datetime.fromtimestamp(value / 1000, tz=UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            msg = f"{value!r} is not an ISO 8601 date or date-time"
            raise TransformError(msg) from None
    else:
        msg = f"{value!r} ({type(value).__name__}) is not a date or date-time"
        raise TransformError(msg)
    if moment.tzinfo is None:
        # Salesforce and Marketo both speak UTC when no offset is given.
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def to_date(value: object) -> object:
    """Format a date as Marketo wants it: ``YYYY-MM-DD``.

    Args:
        value: A ``date``, ``datetime``, epoch millis or ISO 8601 string (a date-time is taken
            at its UTC date).

    Returns:
        The ISO date string, or ``None`` for ``None`` or an empty string.

    Raises:
        TransformError: If the value is not a date.
    """
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value.strip()) == len("2024-05-01"):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            msg = f"{value!r} is not an ISO 8601 date"
            raise TransformError(msg) from None
    return _parse_instant(value).date().isoformat()


def to_datetime(value: object) -> object:
    """Format a date-time as Marketo wants it: ISO 8601 in UTC, ``YYYY-MM-DDTHH:MM:SSZ``.

    Salesforce sends ``2024-05-01T10:00:00.000+0000``; other offsets are converted to UTC and
    fractions of a second are dropped.

    Args:
        value: A ``datetime``, ``date`` (midnight UTC), epoch millis or ISO 8601 string.

    Returns:
        The ISO date-time string, or ``None`` for ``None`` or an empty string.

    Raises:
        TransformError: If the value is not a date-time.
    """
    if value is None or value == "":
        return None
    return _parse_instant(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _truncate(limit: int, value: object) -> object:
    return value[:limit] if isinstance(value, str) else value


def max_length(limit: int) -> Transform:
    """Build a transform that cuts strings to at most ``limit`` characters.

    Args:
        limit: The maximum length, at least 1.

    Returns:
        The transform.

    Raises:
        TransformSpecError: If the limit is not positive.
    """
    if limit < 1:
        msg = f"max_length must be at least 1, got {limit}"
        raise TransformSpecError(msg)
    return partial(_truncate, limit)


def _map_value(values: Mapping[str, str], value: object) -> object:
    if isinstance(value, str):
        return values.get(value, value)
    return value


def picklist(values: Mapping[str, str]) -> Transform:
    """Build a transform that maps picklist API values; unknown values pass unchanged.

    Args:
        values: Veeva API value → Marketo value.

    Returns:
        The transform.
    """
    return partial(_map_value, dict(values))


def _compose(steps: tuple[Transform, ...], value: object) -> object:
    for step in steps:
        value = step(value)
    return value


def compose(steps: Sequence[Transform]) -> Transform:
    """Chain transforms left to right.

    Args:
        steps: The transforms in application order.

    Returns:
        One transform applying them all.
    """
    return partial(_compose, tuple(steps))


_SIMPLE: dict[str, Transform] = {
    "trim": trim,
    "lower": lower,
    "upper": upper,
    "date": to_date,
    "datetime": to_datetime,
}


def split_spec(spec: str) -> tuple[str, str | None]:
    """Split a transform spec into its name and argument.

    Args:
        spec: For example ``trim`` or ``max_length:255``.

    Returns:
        The name and the argument (``None`` when there is none).
    """
    name, sep, argument = spec.partition(":")
    return name.strip(), (argument.strip() if sep else None)


def parse_transform(spec: str, picklists: Mapping[str, Mapping[str, str]]) -> Transform:
    """Turn one spec string from the mapping file into a transform.

    Args:
        spec: The spec, e.g. ``lower``, ``max_length:255``, ``picklist:specialty``.
        picklists: The mapping file's named picklist value maps.

    Returns:
        The transform.

    Raises:
        TransformSpecError: If the spec is unknown or its argument is invalid.
    """
    name, argument = split_spec(spec)
    if name in _SIMPLE:
        if argument is not None:
            msg = f"transform {name!r} takes no argument, got {spec!r}"
            raise TransformSpecError(msg)
        return _SIMPLE[name]
    if name == "max_length":
        if argument is None or not argument.isdigit():
            msg = f"{spec!r}: max_length needs a positive integer, e.g. max_length:255"
            raise TransformSpecError(msg)
        return max_length(int(argument))
    if name == "picklist":
        if not argument:
            msg = f"{spec!r}: picklist needs a map name, e.g. picklist:specialty"
            raise TransformSpecError(msg)
        if argument not in picklists:
            known = ", ".join(sorted(picklists)) or "none defined"
            msg = f"{spec!r}: no picklist map named {argument!r} under 'picklists' ({known})"
            raise TransformSpecError(msg)
        return picklist(picklists[argument])
    known_names = ", ".join(sorted(SIMPLE_TRANSFORMS | PARAMETRISED_TRANSFORMS))
    msg = f"unknown transform {spec!r}; known: {known_names}"
    raise TransformSpecError(msg)


def compile_transforms(
    specs: Sequence[str], picklists: Mapping[str, Mapping[str, str]]
) -> Transform:
    """Compile a field's transform list into one Veeva → Marketo transform.

    Args:
        specs: The spec strings in application order.
        picklists: The mapping file's named picklist value maps.

    Returns:
        The composed transform (identity for an empty list).
    """
    return compose([parse_transform(spec, picklists) for spec in specs])


def compile_reverse_transforms(
    specs: Sequence[str], picklists: Mapping[str, Mapping[str, str]]
) -> Transform:
    """Compile the Marketo → Veeva direction of a bidirectional field's transforms.

    Normalising transforms (trim, case, length, date formats) apply as they are, since
    Salesforce accepts ISO 8601; picklist maps are inverted (first Veeva value wins on
    duplicates).

    Args:
        specs: The field's spec strings (Veeva → Marketo order).
        picklists: The mapping file's named picklist value maps.

    Returns:
        The composed reverse transform.
    """
    steps: list[Transform] = []
    for spec in specs:
        name, argument = split_spec(spec)
        if name == "picklist" and argument is not None and argument in picklists:
            inverted: dict[str, str] = {}
            for veeva_value, marketo_value in picklists[argument].items():
                inverted.setdefault(marketo_value, veeva_value)
            steps.append(picklist(inverted))
        else:
            steps.append(parse_transform(spec, picklists))
    return compose(steps)

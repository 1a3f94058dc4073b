from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from veeva_marketo_sync.processors.transforms import (
    TransformError,
    TransformSpecError,
    compile_reverse_transforms,
    compile_transforms,
    parse_transform,
    to_date,
    to_datetime,
)

PICKLISTS = {"specialty": {"Cardiology_vod": "Cardiology", "Oncology_vod": "Oncology"}}


@pytest.mark.parametrize(
    ("specs", "value", "expected"),
    [
        (["trim"], "  Ada  ", "Ada"),
        (["trim"], None, None),
        (["trim"], 42, 42),
        (["lower"], "Ada@Example.COM", "ada@example.com"),
        (["upper"], "md", "MD"),
        (["trim", "lower"], "  A@B.COM ", "a@b.com"),
        (["max_length:3"], "abcdef", "abc"),
        (["max_length:10"], "abc", "abc"),
        (["max_length:3"], None, None),
        (["picklist:specialty"], "Cardiology_vod", "Cardiology"),
        (["picklist:specialty"], "Unknown_vod", "Unknown_vod"),
        (["picklist:specialty"], None, None),
        (["date"], "2024-05-01", "2024-05-01"),
        (["date"], "2024-05-01T23:30:00.000-0200", "2024-05-02"),
        (["date"], date(2024, 5, 1), "2024-05-01"),
        (["date"], "", None),
        (["datetime"], "2024-05-01T10:00:00.000+0000", "2024-05-01T10:00:00Z"),
        (["datetime"], "2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"),
        (["datetime"], "2024-05-01T12:00:00.123+02:00", "2024-05-01T10:00:00Z"),
        (["datetime"], "2024-05-01", "2024-05-01T00:00:00Z"),
        (["datetime"], datetime(2024, 5, 1, 10, tzinfo=UTC), "2024-05-01T10:00:00Z"),
        (["datetime"], datetime(2024, 5, 1, 10), "2024-05-01T10:00:00Z"),  # noqa: DTZ001
        (
            ["datetime"],
            datetime(2024, 5, 1, 11, tzinfo=timezone(timedelta(hours=1))),
            "2024-05-01T10:00:00Z",
        ),
        (["datetime"], 1714557600000, "2024-05-01T10:00:00Z"),
        (["datetime"], None, None),
        ([], "  unchanged  ", "  unchanged  "),
    ],
)
def test_transforms_map_values(specs: list[str], value: object, expected: object) -> None:
    assert compile_transforms(specs, PICKLISTS)(value) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("titlecase", "unknown transform 'titlecase'"),
        ("max_length", "max_length needs a positive integer"),
        ("max_length:x", "max_length needs a positive integer"),
        ("max_length:0", "max_length must be at least 1"),
        ("picklist", "picklist needs a map name"),
        ("picklist:gender", "no picklist map named 'gender'"),
        ("trim:1", "takes no argument"),
    ],
)
def test_bad_specs_are_refused_with_a_reason(spec: str, message: str) -> None:
    with pytest.raises(TransformSpecError, match=message):
        parse_transform(spec, PICKLISTS)


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "01/05/2024", 3.5, True])
def test_dates_that_are_not_dates_fail(value: object) -> None:
    with pytest.raises(TransformError):
        to_date(value)
    with pytest.raises(TransformError):
        to_datetime(value)


def test_reverse_transforms_invert_picklists_and_keep_normalising() -> None:
    reverse = compile_reverse_transforms(["trim", "picklist:specialty"], PICKLISTS)
    assert reverse(" Cardiology ") == "Cardiology_vod"
    assert reverse("Other") == "Other"


def test_transforms_are_idempotent_on_their_own_output() -> None:
    forward = compile_transforms(["trim", "lower", "max_length:5"], PICKLISTS)
    once = forward("  ABCDEFG ")
    assert forward(once) == once == "abcde"
    stamp = to_datetime("2024-05-01T10:00:00.000+0000")
    assert to_datetime(stamp) == stamp

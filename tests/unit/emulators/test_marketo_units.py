"""Pure parts of the Marketo emulator: value rules, tokens, limiters, store persistence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from veeva_marketo_sync.emulators.marketo import paging
from veeva_marketo_sync.emulators.marketo.errors import MarketoApiError, RecordError
from veeva_marketo_sync.emulators.marketo.fields import FieldDef, coerce_value
from veeva_marketo_sync.emulators.marketo.gate import endpoint_key
from veeva_marketo_sync.emulators.marketo.limits import FaultInjector, Limits, RateWindow
from veeva_marketo_sync.emulators.marketo.store import Store


def _field(data_type: str, length: int | None = None) -> FieldDef:
    return FieldDef(name="f", data_type=data_type, display_name="F", length=length)


@pytest.mark.parametrize(
    ("data_type", "raw", "stored"),
    [
        ("string", "abc", "abc"),
        ("string", 12, "12"),
        ("email", " A@Example.com ", "A@Example.com"),
        ("boolean", "true", True),
        ("boolean", 0, False),
        ("integer", "42", 42),
        ("float", "1.5", 1.5),
        ("date", "2024-05-01", "2024-05-01"),
        ("datetime", "2024-05-01T10:00:00+02:00", "2024-05-01T08:00:00Z"),
        ("datetime", "2024-05-01T10:00:00+0000", "2024-05-01T10:00:00Z"),
        ("string", None, None),
    ],
)
def test_values_are_normalised_per_type(data_type: str, raw: Any, stored: Any) -> None:
    assert coerce_value(_field(data_type), raw) == stored


@pytest.mark.parametrize(
    ("data_type", "raw"),
    [
        ("email", "not-an-email"),
        ("email", "jöe@example.com"),
        ("date", "01/05/2024"),
        ("datetime", "yesterday"),
        ("integer", "4.5"),
        ("integer", True),
        ("boolean", "maybe"),
        ("string", {"nested": 1}),
    ],
)
def test_bad_values_are_1003(data_type: str, raw: Any) -> None:
    with pytest.raises(RecordError) as excinfo:
        coerce_value(_field(data_type), raw)
    assert excinfo.value.code == "1003"


def test_string_length_is_enforced() -> None:
    assert coerce_value(_field("string", 3), "abc") == "abc"
    with pytest.raises(RecordError):
        coerce_value(_field("string", 3), "abcd")


def test_paging_tokens_round_trip_and_reject_foreign_tokens() -> None:
    token = paging.encode("act", 1234)
    assert token.isalnum()
    assert paging.decode("act", token) == 1234
    with pytest.raises(MarketoApiError) as excinfo:
        paging.decode("off", token)
    assert excinfo.value.code == "1003"
    with pytest.raises(MarketoApiError):
        paging.decode("act", "%%%")


def test_rate_window_counts_calls_inside_the_window() -> None:
    window = RateWindow()
    assert [window.try_acquire(3, 60) for _ in range(4)] == [True, True, True, False]
    window.clear()
    assert window.try_acquire(3, 60)


def test_faults_fire_the_requested_number_of_times() -> None:
    injector = FaultInjector()
    injector.add({"path_pattern": r"leads\.json$", "code": "606", "count": 2, "method": "POST"})
    assert injector.take("GET", "/rest/v1/leads.json") is None
    fired = [injector.take("POST", "/rest/v1/leads.json") for _ in range(3)]
    assert [f.code if f else None for f in fired] == ["606", "606", None]
    with pytest.raises(ValueError, match="path_pattern"):
        injector.add({"code": "606"})


def test_limits_reject_unknown_and_non_positive_values() -> None:
    assert Limits().updated({"rate_calls": 5}).rate_calls == 5
    with pytest.raises(ValueError, match="unknown"):
        Limits().updated({"nope": 1})
    with pytest.raises(ValueError, match="positive"):
        Limits().updated({"daily_quota": 0})


def test_endpoint_keys_fold_numeric_ids() -> None:
    assert endpoint_key("GET", "/rest/v1/lead/318581.json") == "GET /rest/v1/lead/{id}.json"
    assert endpoint_key("POST", "/rest/v1/leads.json") == "POST /rest/v1/leads.json"


def test_store_keeps_leads_and_schema_across_reopen(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        store.add_lead_field(FieldDef(name="veevaNPI", data_type="string", display_name="NPI"))
        lead_id = store.insert_lead({"email": "A@x.com", "veevaNPI": "123"}, "2024-01-01T00:00:00Z")
    finally:
        store.close()
    reopened = Store(tmp_path)
    try:
        assert "veevaNPI" in reopened.lead_fields()
        assert reopened.find_leads("email", "a@X.COM") == [lead_id]
        assert reopened.find_leads("veevaNPI", "123") == [lead_id]
    finally:
        reopened.close()

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from veeva_marketo_sync.processors.conflicts import (
    FieldChange,
    FieldRule,
    FieldState,
    PendingWrite,
    Write,
    canonical,
    decide,
    field_rules,
    resolve,
)
from veeva_marketo_sync.processors.contact_fields import ForbiddenVeevaWriteError
from veeva_marketo_sync.processors.mapping import load_mapping, parse_mapping
from veeva_marketo_sync.processors.transforms import (
    compile_reverse_transforms,
    compile_transforms,
)

T0 = datetime(2024, 5, 1, 10, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


RULES = field_rules(load_mapping())
EMAIL = RULES["PersonEmail"]
OPT_OUT = RULES["PersonHasOptedOutOfEmail"]
SYNCED = FieldState("a@x.org", "veeva", at(0))


@pytest.mark.parametrize(
    ("value", "value_type", "expected"),
    [
        ("  Ada ", "string", "Ada"),
        ("", "string", None),
        ("   ", "string", None),
        (None, "string", None),
        (" A@X.ORG ", "email", "a@x.org"),
        ("true", "boolean", True),
        ("FALSE", "boolean", False),
        (1, "boolean", True),
        (0, "boolean", False),
        (None, "boolean", False),
        ("", "boolean", False),
        ("maybe", "boolean", "maybe"),
        ("2024-05-01T10:00:00.000+0000", "datetime", "2024-05-01T10:00:00Z"),
        ("2024-05-01", "date", "2024-05-01"),
        ("not a date", "date", "not a date"),
        ("42", "number", 42.0),
        (42, "number", 42.0),
        ("", "number", None),
    ],
)
def test_canonical_values(value: object, value_type: str, expected: object) -> None:
    assert canonical(value, value_type) == expected  # type: ignore[arg-type]


def test_rules_come_from_the_mapping() -> None:
    assert set(RULES) == set(load_mapping().objects["Account"].fields) - {
        "Specialty_1_vod__c",
        "Credentials_vod__c",
        "NPI_vod__c",
        "CreatedDate",
        "OwnerId",
    }
    assert (EMAIL.marketo_field, EMAIL.value_type, EMAIL.policy) == (
        "email",
        "email",
        "newest_wins",
    )
    assert (OPT_OUT.value_type, OPT_OUT.policy) == ("boolean", "sticky_true")
    assert field_rules(parse_mapping("objects: {}")) == {}


def test_first_value_is_copied_to_the_other_side() -> None:
    decision = decide(None, FieldChange("veeva", " A@X.org ", at(1)), EMAIL)
    assert decision.outcome == "apply_to_other_side"
    assert decision.writes == (Write("marketo", "email", "a@x.org"),)
    assert decision.state.value == "a@x.org"
    assert decision.state.pending_on("marketo") == (PendingWrite("a@x.org", at(1)),)
    assert "first value seen" in decision.reason


@pytest.mark.parametrize(
    ("side", "value"),
    [
        ("veeva", "a@x.org"),
        ("marketo", " A@X.ORG "),
        ("veeva", "A@x.org  "),
        ("marketo", "a@x.org"),
    ],
)
def test_a_value_equal_to_the_synced_one_is_an_echo(side: str, value: str) -> None:
    decision = decide(SYNCED, FieldChange(side, value, at(5)), EMAIL)  # type: ignore[arg-type]
    assert decision.outcome == "echo"
    assert decision.writes == ()
    assert decision.state.value == "a@x.org"
    assert "equals the last synced value" in decision.reason


def test_a_change_is_written_to_the_other_side_once() -> None:
    decision = decide(SYNCED, FieldChange("marketo", "B@x.org", at(5)), EMAIL, now=at(6))
    assert decision.outcome == "apply_to_other_side"
    assert decision.writes == (Write("veeva", "PersonEmail", "b@x.org"),)
    assert decision.write_to("marketo") is None
    assert decision.state.source == "marketo"
    assert decision.state.pending_on("veeva") == (PendingWrite("b@x.org", at(6)),)
    echo = decide(decision.state, FieldChange("veeva", "b@x.org", at(7)), EMAIL)
    assert echo.outcome == "echo"
    assert echo.writes == ()
    assert echo.state.pending_on("veeva") == ()


def test_writes_to_veeva_use_the_reverse_transforms() -> None:
    picklists = {"channel": {"Email_vod": "Email", "Phone_vod": "Phone"}}
    rule = FieldRule(
        "Preferred_Channel__pc",
        "preferredChannel",
        forward=compile_transforms(["picklist:channel"], picklists),
        reverse=compile_reverse_transforms(["picklist:channel"], picklists),
    )
    state = FieldState("Email", "veeva", at(0))
    decision = decide(state, FieldChange("marketo", "Phone", at(1)), rule)
    assert decision.writes == (Write("veeva", "Preferred_Channel__pc", "Phone_vod"),)
    back = decide(decision.state, FieldChange("veeva", "Phone_vod", at(2)), rule)
    assert back.outcome == "echo"


def test_a_change_older_than_the_other_sides_newer_value_loses_under_newest_wins() -> None:
    state = FieldState("b@x.org", "marketo", at(10))
    decision = decide(state, FieldChange("veeva", "c@x.org", at(5)), EMAIL)
    assert decision.outcome == "rejected_by_policy"
    assert decision.writes == (Write("veeva", "PersonEmail", "b@x.org"),)
    assert decision.state.value == "b@x.org"
    assert "newest_wins picks marketo" in decision.reason
    assert "corrected back" in decision.reason


def test_a_tie_goes_to_veeva() -> None:
    state = FieldState("b@x.org", "marketo", at(10))
    decision = decide(state, FieldChange("veeva", "c@x.org", at(10)), EMAIL)
    assert decision.outcome == "apply_to_other_side"
    assert decision.writes == (Write("marketo", "email", "c@x.org"),)
    state = FieldState("b@x.org", "veeva", at(10))
    decision = decide(state, FieldChange("marketo", "c@x.org", at(10)), EMAIL)
    assert decision.outcome == "rejected_by_policy"


@pytest.mark.parametrize(
    ("policy", "outcome"),
    [("veeva_wins", "apply_to_other_side"), ("marketo_wins", "rejected_by_policy")],
)
def test_side_policies_decide_concurrent_changes(policy: str, outcome: str) -> None:
    rule = FieldRule("LastName", "lastName", policy=policy)  # type: ignore[arg-type]
    state = FieldState("Byron", "marketo", at(10))
    decision = decide(state, FieldChange("veeva", "Lovelace", at(5)), rule)
    assert decision.outcome == outcome
    assert policy in decision.reason


def test_a_later_change_is_accepted_whatever_the_policy() -> None:
    rule = FieldRule("LastName", "lastName", policy="veeva_wins")
    state = FieldState("Byron", "veeva", at(10))
    decision = decide(state, FieldChange("marketo", "King", at(11)), rule)
    assert decision.outcome == "apply_to_other_side"
    assert decision.writes == (Write("veeva", "LastName", "King"),)


def test_the_losing_side_can_be_left_alone() -> None:
    rule = FieldRule("LastName", "lastName", correct_losing_side=False)
    state = FieldState("Byron", "marketo", at(10))
    decision = decide(state, FieldChange("veeva", "Lovelace", at(5)), rule)
    assert decision.outcome == "rejected_by_policy"
    assert decision.writes == ()
    assert "left as it is" in decision.reason


def test_an_opt_out_is_not_undone_by_the_other_side() -> None:
    opted_out = decide(None, FieldChange("marketo", "true", at(1)), OPT_OUT)
    assert opted_out.writes == (Write("veeva", "PersonHasOptedOutOfEmail", True),)
    undo = decide(opted_out.state, FieldChange("veeva", False, at(5)), OPT_OUT)
    assert undo.outcome == "rejected_by_policy"
    assert undo.writes == (Write("veeva", "PersonHasOptedOutOfEmail", True),)
    assert "sticky_true" in undo.reason
    assert undo.state.value is True


def test_a_side_may_withdraw_its_own_opt_out() -> None:
    opted_out = decide(None, FieldChange("marketo", True, at(1)), OPT_OUT)
    echo = decide(opted_out.state, FieldChange("veeva", True, at(2), by_sync=True), OPT_OUT)
    assert echo.outcome == "echo"
    withdrawn = decide(echo.state, FieldChange("marketo", "false", at(5)), OPT_OUT)
    assert withdrawn.outcome == "apply_to_other_side"
    assert withdrawn.writes == (Write("veeva", "PersonHasOptedOutOfEmail", False),)


def test_a_late_echo_of_an_older_write_corrects_its_side() -> None:
    # The sync wrote a@x.org to Marketo, then Marketo's own newer edit won.
    state = FieldState(
        "b@x.org", "marketo", at(10), pending={"marketo": (PendingWrite("a@x.org", at(8)),)}
    )
    decision = decide(state, FieldChange("marketo", "a@x.org", at(9)), EMAIL)
    assert decision.outcome == "rejected_by_policy"
    assert decision.writes == (Write("marketo", "email", "b@x.org"),)
    assert "earlier write of the sync" in decision.reason


def test_a_late_echo_is_dropped_when_a_newer_write_is_on_its_way() -> None:
    state = FieldState(
        "b@x.org",
        "veeva",
        at(10),
        pending={"marketo": (PendingWrite("a@x.org", at(8)), PendingWrite("b@x.org", at(11)))},
    )
    decision = decide(state, FieldChange("marketo", "a@x.org", at(9)), EMAIL)
    assert decision.outcome == "echo"
    assert decision.writes == ()
    assert decision.state.pending_on("marketo") == (PendingWrite("b@x.org", at(11)),)


def test_a_user_edit_after_a_write_clears_the_pending_echo() -> None:
    state = FieldState(
        "a@x.org", "veeva", at(1), pending={"marketo": (PendingWrite("a@x.org", at(2)),)}
    )
    decision = decide(state, FieldChange("marketo", "c@x.org", at(5)), EMAIL)
    assert decision.outcome == "apply_to_other_side"
    assert decision.state.pending_on("marketo") == ()


@pytest.mark.parametrize(
    ("policy", "veeva_at", "marketo_at", "winner", "value"),
    [
        ("newest_wins", 5, 6, "marketo", "m@x.org"),
        ("newest_wins", 6, 5, "veeva", "v@x.org"),
        ("newest_wins", 5, 5, "veeva", "v@x.org"),
        ("veeva_wins", 5, 9, "veeva", "v@x.org"),
        ("marketo_wins", 9, 5, "marketo", "m@x.org"),
    ],
)
def test_resolve_conflicts(
    policy: str, veeva_at: int, marketo_at: int, winner: str, value: str
) -> None:
    rule = FieldRule("PersonEmail", "email", policy=policy, value_type="email")  # type: ignore[arg-type]
    decision = resolve(
        SYNCED,
        FieldChange("veeva", "V@x.org", at(veeva_at)),
        FieldChange("marketo", "m@x.org", at(marketo_at)),
        rule,
    )
    loser = "marketo" if winner == "veeva" else "veeva"
    assert decision.outcome == "conflict_resolved"
    assert decision.winner == winner
    assert decision.state.value == value
    assert decision.writes == (Write(loser, rule.field_on(loser), value),)  # type: ignore[arg-type]
    assert "both sides changed it since the last sync" in decision.reason


def test_resolve_keeps_an_opt_out_from_either_side() -> None:
    state = FieldState(False, "veeva", at(0))
    decision = resolve(
        state,
        FieldChange("veeva", "true", at(9)),
        FieldChange("marketo", "", at(5)),
        OPT_OUT,
    )
    # Marketo's '' is canonical False, the synced value: only Veeva changed.
    assert decision.outcome == "apply_to_other_side"
    assert decision.writes == (Write("marketo", "unsubscribed", True),)
    # Two booleans cannot both differ from a boolean synced value; an odd legacy one can.
    conflict = resolve(
        FieldState("x", "veeva", at(0)),
        FieldChange("veeva", True, at(1)),
        FieldChange("marketo", False, at(9)),
        OPT_OUT,
    )
    assert conflict.state.value is True
    assert conflict.writes == (Write("marketo", "unsubscribed", True),)
    assert "sticky_true" in conflict.reason


def test_resolve_with_equal_changes_writes_nothing() -> None:
    decision = resolve(
        SYNCED,
        FieldChange("veeva", "c@x.org", at(3)),
        FieldChange("marketo", " C@X.ORG", at(4)),
        EMAIL,
    )
    assert decision.writes == ()
    assert decision.state.value == "c@x.org"
    assert "both sides changed it to" in decision.reason


def test_resolve_when_one_side_did_not_change() -> None:
    decision = resolve(
        SYNCED,
        FieldChange("veeva", "a@x.org", at(9)),
        FieldChange("marketo", "m@x.org", at(5)),
        EMAIL,
    )
    assert decision.outcome == "apply_to_other_side"
    assert decision.writes == (Write("veeva", "PersonEmail", "m@x.org"),)
    assert "veeva did not change it" in decision.reason


def test_rules_only_exist_for_contact_fields() -> None:
    with pytest.raises(ForbiddenVeevaWriteError, match=r"Account\.OwnerId is not"):
        FieldRule("OwnerId", "veevaOwnerId")


def test_resolve_needs_one_change_per_side() -> None:
    change = FieldChange("veeva", "a", at(1))
    with pytest.raises(ValueError, match="one change from veeva and one from marketo"):
        resolve(SYNCED, change, change, EMAIL)


def test_state_round_trips_through_json() -> None:
    state = FieldState(
        True,
        "marketo",
        at(3),
        said={"marketo": True, "veeva": False},
        pending={"veeva": (PendingWrite(True, at(4)),)},
    )
    data = json.loads(json.dumps(state.to_dict()))
    assert FieldState.from_dict(data) == state


@pytest.mark.parametrize(
    "data",
    [{"value": 1}, {"value": 1, "source": "sap", "at": "2024-05-01T00:00:00+00:00"}],
)
def test_bad_state_data_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="not a field state"):
        FieldState.from_dict(data)


def test_an_echo_stamped_in_the_same_whole_second_as_the_write_is_recognised() -> None:
    # Both systems stamp changes in whole seconds; the sync's write time has milliseconds.
    issued = at(6) + timedelta(milliseconds=700)
    state = FieldState(
        "c@x.org", "marketo", at(7), pending={"veeva": (PendingWrite("b@x.org", issued),)}
    )
    decision = decide(state, FieldChange("veeva", "b@x.org", at(6)), EMAIL)
    assert "earlier write of the sync" in decision.reason
    assert decision.writes == (Write("veeva", "PersonEmail", "c@x.org"),)

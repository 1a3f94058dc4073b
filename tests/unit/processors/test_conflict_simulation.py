"""Property tests: two simulated sides, the state table and the processor's decide calls.

Users edit either side at any moment; the processor handles each side's change feed in order
(like one Kafka partition per person) but interleaves the two feeds arbitrarily; every write
the sync makes lands on its side and comes back on that side's feed as a change.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from veeva_marketo_sync.processors.conflicts import (
    SIDES,
    Decision,
    FieldChange,
    FieldRule,
    FieldState,
    Side,
    decide,
    resolve,
)
from veeva_marketo_sync.processors.mapping import ConflictPolicy
from veeva_marketo_sync.processors.transforms import compile_transforms

T0 = datetime(2024, 5, 1, tzinfo=UTC)
EMAIL_RULE = {
    "veeva_field": "PersonEmail",
    "marketo_field": "email",
    "value_type": "email",
    "forward": compile_transforms(["trim", "lower"], {}),
}
STRING_VALUES = st.sampled_from(["a@x.org", "B@x.org", " b@x.org ", "c@x.org", "", None])
BOOLEAN_VALUES = st.sampled_from([True, False, "true", "false", 1, 0, None])


@dataclass
class World:
    rule: FieldRule
    echoes_marked: bool
    initial: object
    values: dict[Side, object] = field(default_factory=dict)
    feeds: dict[Side, deque[FieldChange]] = field(
        default_factory=lambda: {side: deque() for side in SIDES}
    )
    state: FieldState | None = None
    tick: int = 0
    edits: list[tuple[Side, object, datetime]] = field(default_factory=list)
    writes: list[tuple[Side, object]] = field(default_factory=list)
    decisions: list[tuple[FieldChange, FieldState | None, Decision]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.values = dict.fromkeys(SIDES, self.initial)
        value = self.rule.normalize(self.initial)
        self.state = FieldState(value, "veeva", T0, said=dict.fromkeys(SIDES, value))

    def now(self) -> datetime:
        self.tick += 1
        return T0 + timedelta(seconds=self.tick)

    def edit(self, side: Side, value: object) -> None:
        at = self.now()
        self.values[side] = value
        self.feeds[side].append(FieldChange(side, value, at))
        self.edits.append((side, value, at))

    def process(self, side: Side) -> bool:
        if not self.feeds[side]:
            return False
        change = self.feeds[side].popleft()
        before = self.state
        decision = decide(before, change, self.rule, now=self.now())
        self.decisions.append((change, before, decision))
        self.state = decision.state
        for write in decision.writes:
            assert write.field == self.rule.field_on(write.side)
            at = self.now()
            self.values[write.side] = write.value
            self.writes.append((write.side, write.value))
            self.feeds[write.side].append(
                FieldChange(write.side, write.value, at, by_sync=self.echoes_marked)
            )
        return True

    def drain(self, order: list[Side]) -> None:
        budget = 1000
        index = 0
        while any(self.feeds.values()):
            budget -= 1
            assert budget > 0, "the sync keeps writing: an echo loop"
            side = order[index % len(order)] if order else SIDES[index % 2]
            index += 1
            if not self.process(side):
                self.process(SIDES[(SIDES.index(side) + 1) % 2])

    def normalized(self, side: Side) -> object:
        return self.rule.normalize(self.values[side])


actions = st.lists(
    st.one_of(
        st.tuples(st.just("edit"), st.sampled_from(SIDES)),
        st.tuples(st.just("process"), st.sampled_from(SIDES)),
    ),
    max_size=40,
)


def _run(
    rule: FieldRule,
    *,
    echoes_marked: bool,
    steps: list[tuple[str, Side]],
    values: list[object],
    order: list[Side],
    initial: object,
    default: object = "z@x.org",
) -> World:
    world = World(rule, echoes_marked, initial)
    pool = iter(values)
    for action, side in steps:
        if action == "edit":
            world.edit(side, next(pool, default))
        else:
            world.process(side)
    world.drain(order)
    return world


def _check_common(world: World) -> None:
    assert world.state is not None
    assert world.normalized("veeva") == world.normalized("marketo") == world.state.value
    # Each user edit costs at most one write per side: no echo ever buys a second one.
    assert len(world.writes) <= 2 * len(world.edits)
    for change, before, decision in world.decisions:
        if before is not None and world.rule.normalize(change.value) == before.value:
            assert decision.writes == (), decision.reason
        assert decision.reason


def _rule(policy: ConflictPolicy) -> FieldRule:
    return FieldRule(policy=policy, **EMAIL_RULE)  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(
    steps=actions,
    values=st.lists(STRING_VALUES, max_size=40),
    order=st.lists(st.sampled_from(SIDES), max_size=6),
    echoes_marked=st.booleans(),
)
def test_newest_edit_wins_everywhere(
    steps: list[tuple[str, Side]], values: list[object], order: list[Side], echoes_marked: bool
) -> None:
    world = _run(
        _rule("newest_wins"),
        echoes_marked=echoes_marked,
        steps=steps,
        values=values,
        order=order,
        initial="a@x.org",
    )
    _check_common(world)
    if world.edits:
        _, newest, _ = max(world.edits, key=lambda edit: edit[2])
        assert world.state is not None
        assert world.state.value == world.rule.normalize(newest)


@settings(max_examples=300, deadline=None)
@given(
    policy=st.sampled_from(["veeva_wins", "marketo_wins"]),
    steps=actions,
    values=st.lists(STRING_VALUES, max_size=40),
    order=st.lists(st.sampled_from(SIDES), max_size=6),
    echoes_marked=st.booleans(),
)
def test_the_winning_side_keeps_its_last_word(
    policy: ConflictPolicy,
    steps: list[tuple[str, Side]],
    values: list[object],
    order: list[Side],
    echoes_marked: bool,
) -> None:
    world = _run(
        _rule(policy),
        echoes_marked=echoes_marked,
        steps=steps,
        values=values,
        order=order,
        initial="a@x.org",
    )
    _check_common(world)
    finals = {world.rule.normalize(value) for _, value, _ in world.edits}
    assert world.state is not None
    assert world.state.value in finals | {world.rule.normalize("a@x.org")}
    winner = "veeva" if policy == "veeva_wins" else "marketo"
    if world.edits and world.edits[-1][0] == winner:
        assert world.state.value == world.rule.normalize(world.edits[-1][1])


@settings(max_examples=400, deadline=None)
@given(
    steps=actions,
    values=st.lists(BOOLEAN_VALUES, max_size=40),
    order=st.lists(st.sampled_from(SIDES), max_size=6),
    echoes_marked=st.booleans(),
    initial=st.booleans(),
)
def test_an_opt_out_is_never_undone_by_the_other_side(
    steps: list[tuple[str, Side]],
    values: list[object],
    order: list[Side],
    echoes_marked: bool,
    initial: bool,
) -> None:
    rule = FieldRule(
        "PersonHasOptedOutOfEmail", "unsubscribed", policy="sticky_true", value_type="boolean"
    )
    world = _run(
        rule,
        echoes_marked=echoes_marked,
        steps=steps,
        values=values,
        order=order,
        initial=initial,
        default=True,
    )
    _check_common(world)
    last_word: dict[Side, object] = dict.fromkeys(SIDES, initial)
    for side, value, _ in world.edits:
        last_word[side] = rule.normalize(value)
    assert world.state is not None
    assert world.state.value is (last_word["veeva"] is True or last_word["marketo"] is True)


@settings(max_examples=300, deadline=None)
@given(
    policy=st.sampled_from(["newest_wins", "veeva_wins", "marketo_wins", "sticky_true"]),
    synced=st.booleans(),
    veeva_value=BOOLEAN_VALUES,
    marketo_value=BOOLEAN_VALUES,
    veeva_offset=st.integers(1, 5),
    marketo_offset=st.integers(1, 5),
)
def test_resolve_leaves_both_sides_equal(
    *,
    policy: ConflictPolicy,
    synced: bool,
    veeva_value: object,
    marketo_value: object,
    veeva_offset: int,
    marketo_offset: int,
) -> None:
    rule = FieldRule("PersonDoNotCall", "doNotCall", policy=policy, value_type="boolean")
    state = FieldState(synced, "veeva", T0, said=dict.fromkeys(SIDES, synced))
    veeva = FieldChange("veeva", veeva_value, T0 + timedelta(seconds=veeva_offset))
    marketo = FieldChange("marketo", marketo_value, T0 + timedelta(seconds=marketo_offset))
    decision = resolve(state, veeva, marketo, rule)
    sides: dict[Side, object] = {"veeva": veeva_value, "marketo": marketo_value}
    for write in decision.writes:
        sides[write.side] = write.value
    final = decision.state.value
    assert rule.normalize(sides["veeva"]) == rule.normalize(sides["marketo"]) == final
    assert len(decision.writes) <= 2
    assert decision.reason
    v, m = rule.normalize(veeva_value), rule.normalize(marketo_value)
    if policy == "sticky_true" and True in (v, m):
        assert final is True
    changed = {side for side, value in (("veeva", v), ("marketo", m)) if value != synced}
    if len(changed) == 2 and v != m:
        expected = {
            "veeva_wins": v,
            "marketo_wins": m,
            "newest_wins": m if marketo_offset > veeva_offset else v,
            "sticky_true": True,
        }[policy]
        assert final == expected
    elif len(changed) == 1:
        (side,) = changed
        if policy != "sticky_true":
            assert final == (v if side == "veeva" else m)

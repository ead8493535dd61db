"""Sensor threshold rules: duration, hysteresis, gaps and ticks, with injected times (no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.rules import RulesError
from ingest.rules.model import SensorAlarmCleared, SensorAlarmRaised, SensorReading
from ingest.rules.sensors import SensorRule, SensorRules

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
WARM = SensorRule("cooler-warm", clear_at=4.0, above=5.0, for_s=120.0, kind="temperature", zone="cooler-1",
                  severity="critical", message="Cooler too warm", display="lane-1-display")
DOOR = SensorRule("door-open", clear_at=0.5, above=0.5, for_s=60.0, sensor="cooler-1-door",
                  actuator="cooler-1-lock", action="lock", gateway="gw9")
FROST = SensorRule("freezer-thawing", clear_at=-15.0, below=-18.0, for_s=0.0, kind="temperature",
                   severity="info")


def temp(seconds: float, value: float, sensor: str = "cooler-1-temp", zone: str = "cooler-1") -> SensorReading:
    return SensorReading(sensor, "temperature", value, T0 + timedelta(seconds=seconds), zone, "gw1", "°C")


def door(seconds: float, is_open: bool) -> SensorReading:
    return SensorReading("cooler-1-door", "door", 1.0 if is_open else 0.0, T0 + timedelta(seconds=seconds),
                         "cooler-1", "gw1")


Step = SensorReading | float  # a sample, or a tick at T0 + that many seconds


def run(rules: SensorRules, steps: list[Step]) -> list[tuple[str, float]]:
    """What happened when: ("raised" | "cleared", seconds after T0)."""
    out: list[tuple[str, float]] = []
    for step in steps:
        if isinstance(step, SensorReading):
            decisions = rules.observe(step)
        else:
            decisions = rules.tick(T0 + timedelta(seconds=step))
        for d in decisions:
            kind = "raised" if isinstance(d, SensorAlarmRaised) else "cleared"
            out.append((kind, (d.at - T0).total_seconds()))
    return out


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param([temp(0, 6), temp(60, 6), temp(119, 6)], [], id="not-long-enough"),
        pytest.param([temp(0, 6), temp(60, 6), temp(120, 6)], [("raised", 120)], id="raised-at-the-duration"),
        pytest.param([temp(0, 6), temp(60, 5.0), temp(120, 6), temp(200, 6), temp(240, 6)], [("raised", 240)],
                     id="exactly-at-threshold-restarts"),
        pytest.param([temp(0, 6), temp(120, 6), temp(130, 4.5), temp(140, 5.5), temp(150, 4.0)],
                     [("raised", 120)], id="hysteresis-holds-between-clear-and-threshold"),
        pytest.param([temp(0, 6), temp(120, 6), temp(130, 3.9)], [("raised", 120), ("cleared", 130)],
                     id="clears-below-clear-at"),
        pytest.param([temp(0, 6), temp(120, 6), temp(130, 3.9), temp(140, 6), temp(200, 6), temp(260, 6)],
                     [("raised", 120), ("cleared", 130), ("raised", 260)], id="raises-again-after-a-clear"),
        pytest.param([temp(0, 6), temp(100, 6), 121.0], [("raised", 121)], id="tick-completes-the-duration"),
        pytest.param([temp(0, 6), temp(0.5, 6), 119.0], [], id="tick-before-the-duration"),
        pytest.param([temp(0, 6), 200.0], [], id="tick-after-a-silent-gap-does-not-extrapolate"),
        pytest.param([temp(0, 6), temp(121, 6), temp(200, 6), temp(241, 6)], [("raised", 241)],
                     id="a-gap-longer-than-for-s-restarts-the-timer"),
        pytest.param([temp(0, 6), temp(120, 6), temp(500, 6), temp(900, 3)], [("raised", 120), ("cleared", 900)],
                     id="a-gap-while-raised-keeps-it-raised"),
        pytest.param([temp(0, 6), temp(120, 6), temp(60, 1)], [("raised", 120)], id="an-older-sample-is-ignored"),
        pytest.param([temp(0, 6), temp(100, 6), 50.0, 90.0], [], id="a-tick-before-the-run-does-nothing"),
        pytest.param([temp(0, 6, zone="cooler-2"), temp(200, 6, zone="cooler-2")], [],
                     id="another-zone-does-not-match"),
    ],
)
def test_the_cooler_rule(steps: list[Step], expected: list[tuple[str, float]]) -> None:
    assert run(SensorRules([WARM]), steps) == expected


def test_a_raise_carries_the_rule_the_value_the_threshold_and_its_evidence() -> None:
    rules = SensorRules([WARM])
    assert rules.observe(temp(0, 5.5)) == []
    assert rules.observe(temp(60, 7.0)) == []
    (raised,) = rules.observe(temp(125, 8.0))
    assert isinstance(raised, SensorAlarmRaised)
    assert (raised.rule, raised.sensor, raised.zone, raised.value, raised.threshold) == (
        "cooler-warm", "cooler-1-temp", "cooler-1", 8.0, 5.0)
    assert (raised.since, raised.at) == (T0, T0 + timedelta(seconds=125))
    assert (raised.severity, raised.message, raised.display, raised.gateway) == (
        "critical", "Cooler too warm", "lane-1-display", "gw1")
    assert [e.value for e in raised.evidence] == [5.5, 8.0]
    assert rules.is_raised("cooler-warm", "cooler-1-temp")
    (cleared,) = rules.observe(temp(300, 3.5))
    assert cleared == SensorAlarmCleared("cooler-warm", "cooler-1-temp", "cooler-1", 3.5,
                                         T0 + timedelta(seconds=300), 300.0, gateway="gw1", display="lane-1-display")


def test_a_door_rule_locks_through_its_own_gateway_and_clears_when_closed() -> None:
    rules = SensorRules([DOOR])
    assert run(rules, [door(0, False), door(1, True), door(30, True), door(61, True)]) == [("raised", 61)]
    rules = SensorRules([DOOR])
    rules.observe(door(0, True))
    (raised,) = rules.tick(T0 + timedelta(seconds=60))
    assert isinstance(raised, SensorAlarmRaised)
    assert (raised.actuator, raised.action, raised.gateway, raised.value) == ("cooler-1-lock", "lock", "gw9", 1.0)
    assert rules.tick(T0 + timedelta(seconds=61)) == []  # raised once
    assert run(rules, [door(62, True), door(63, False)]) == [("cleared", 63)]


def test_a_below_rule_with_no_duration_raises_at_once_and_clears_above_clear_at() -> None:
    rules = SensorRules([FROST])
    out = run(rules, [temp(0, -20, "freezer"), temp(1, -16, "freezer"), temp(2, -14.5, "freezer")])
    assert out == [("raised", 0), ("cleared", 2)]


def test_each_sensor_a_rule_matches_has_its_own_timer() -> None:
    rules = SensorRules([WARM])
    steps: list[Step] = [temp(0, 6, "a"), temp(100, 6, "b"), temp(120, 6, "a"), temp(150, 6, "b"),
                         temp(220, 6, "b")]
    decisions = [d for s in steps if isinstance(s, SensorReading) for d in rules.observe(s)]
    assert [(d.sensor, (d.at - T0).total_seconds()) for d in decisions] == [("a", 120.0), ("b", 220.0)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clear_at": 4.0, "kind": "temperature"}, "exactly one of above and below"),
        ({"clear_at": 4.0, "above": 5.0, "below": 1.0, "kind": "temperature"}, "exactly one of above and below"),
        ({"clear_at": 4.0, "above": 5.0}, "a sensor, or a kind"),
        ({"clear_at": 6.0, "above": 5.0, "kind": "temperature"}, "at most above"),
        ({"clear_at": -20.0, "below": -18.0, "kind": "temperature"}, "at least below"),
        ({"clear_at": 4.0, "above": 5.0, "kind": "temperature", "for_s": -1.0}, "negative"),
        ({"clear_at": 4.0, "above": 5.0, "kind": "temperature", "actuator": "lock-1"}, "actuator and action"),
    ],
)
def test_a_rule_that_cannot_work_is_refused_by_name(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(RulesError, match=f"'bad'.*{message}"):
        SensorRule("bad", **kwargs)  # type: ignore[arg-type]


def test_rule_names_are_unique() -> None:
    with pytest.raises(RulesError, match="unique"):
        SensorRules([WARM, WARM])


# -- properties ------------------------------------------------------------------------------------

RULE = SensorRule("p", clear_at=4.0, above=5.0, for_s=30.0, sensor="s")
values = st.floats(min_value=-10, max_value=20, allow_nan=False)
gaps = st.floats(min_value=0, max_value=50, allow_nan=False)
steps_strategy = st.lists(st.tuples(gaps, values, st.booleans()), max_size=60)


def play(rule: SensorRule, steps: list[tuple[float, float, bool]]) -> list[SensorAlarmRaised | SensorAlarmCleared]:
    """Each step: seconds later, a value, and whether it is a sample (True) or a tick (False)."""
    rules, now, out = SensorRules([rule]), 0.0, []
    for gap, value, is_sample in steps:
        now += gap
        at = T0 + timedelta(seconds=now)
        out.extend(rules.observe(SensorReading("s", "temperature", value, at)) if is_sample else rules.tick(at))
    return out


@settings(max_examples=300, deadline=None)
@given(steps_strategy)
def test_raises_and_clears_alternate_and_each_raise_waited_its_duration(
    steps: list[tuple[float, float, bool]],
) -> None:
    decisions = play(RULE, steps)
    for before, after in pairwise(decisions):
        assert type(before) is not type(after), "two raises (or two clears) without the other between"
    if decisions:
        assert isinstance(decisions[0], SensorAlarmRaised)
    for d in decisions:
        if isinstance(d, SensorAlarmRaised):
            assert (d.at - d.since).total_seconds() >= RULE.for_s
            assert all(e.value > 5.0 for e in d.evidence)
        else:
            assert d.value < 4.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(gaps, st.floats(min_value=4.0, max_value=5.0), st.booleans()), max_size=60))
def test_a_value_between_clear_at_and_the_threshold_never_flaps(steps: list[tuple[float, float, bool]]) -> None:
    warm_up = [(0.0, 9.0, True), (30.0, 9.0, True)]  # raised first: then nothing in [4, 5] may clear it
    decisions = play(RULE, warm_up + steps)
    assert len(decisions) == 1 and isinstance(decisions[0], SensorAlarmRaised)
    assert play(RULE, steps) == []  # and from quiet, nothing in [4, 5] raises

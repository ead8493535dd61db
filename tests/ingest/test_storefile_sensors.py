"""``[[sensor_rules]]`` in the store file: read strictly, wrong fields named; the demo store's rules fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.rules.model import SensorAlarmCleared, SensorAlarmRaised, SensorReading
from ingest.rules.sensors import SensorRule, SensorRules
from ingest.storefile import StoreFileError, load_store_file
from simulators.demo import demo_scenario
from simulators.scenario import Door, Temperature
from simulators.storeplan import demo_store_path

BASE = """\
[store]
id = "demo"
name = "Corner Store"

[[zones]]
name = "cooler-1"
type = "cooler"
"""
RULE = """
[[sensor_rules]]
name = "cooler-warm"
kind = "temperature"
zone = "cooler-1"
above = 5.0
for_s = 120.0
clear_at = 4.0
severity = "critical"
message = "Cooler too warm"
display = "lane-1-display"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "store.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_store_file_without_sensor_rules_has_none(tmp_path: Path) -> None:
    assert load_store_file(write(tmp_path, BASE)).rules_for_sensors() == []


def test_sensor_rules_become_engine_rules(tmp_path: Path) -> None:
    door = RULE.replace('"cooler-warm"', '"door"').replace('kind = "temperature"', 'sensor = "cooler-1-door"')
    door = door.replace("above = 5.0", "above = 0.5").replace("clear_at = 4.0", "clear_at = 0.5")
    door = door.replace('message = "Cooler too warm"\ndisplay = "lane-1-display"',
                        'actuator = "cooler-1-lock"\naction = "lock"\ngateway = "gw1"')
    warm, open_door = load_store_file(write(tmp_path, BASE + RULE + door)).rules_for_sensors()
    assert warm == SensorRule("cooler-warm", clear_at=4.0, above=5.0, for_s=120.0, kind="temperature",
                              zone="cooler-1", severity="critical", message="Cooler too warm",
                              display="lane-1-display")
    assert (open_door.sensor, open_door.actuator, open_door.action, open_door.gateway) == (
        "cooler-1-door", "cooler-1-lock", "lock", "gw1")
    assert open_door.message == "cooler-1-door above 0.5 for 120 s"  # a default alert text


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        ("above = 5.0", "", "sensor_rules[0].above", "exactly one of above and below"),
        ("above = 5.0", "above = 5.0\nbelow = 1.0", "sensor_rules[0].above", "exactly one of above and below"),
        ("clear_at = 4.0", "clear_at = 6.0", "sensor_rules[0].clear_at", "at most above"),
        ("clear_at = 4.0", "", "sensor_rules[0].clear_at", "required but missing"),
        ("for_s = 120.0", "for_s = -1.0", "sensor_rules[0].for_s", "greater than or equal to 0"),
        ('kind = "temperature"\nzone = "cooler-1"', "", "sensor_rules[0].sensor", "a sensor name, or a kind"),
        ('kind = "temperature"', 'kind = "smoke"', "sensor_rules[0].kind", "'temperature'"),
        ('zone = "cooler-1"', 'zone = "cooler-9"', "sensor_rules[0].zone", "not the name of any of [[zones]]"),
        ('severity = "critical"', 'severity = "loud"', "sensor_rules[0].severity", "'warning'"),
        ('message = "Cooler too warm"', "", "sensor_rules[0].message", "required when display is given"),
        ('display = "lane-1-display"', 'actuator = "lock-1"', "sensor_rules[0].action", "both actuator and action"),
        ('display = "lane-1-display"', 'action = "explode"', "sensor_rules[0].action", "'lock'"),
        ("for_s = 120.0", "for_s = 120.0\nhold = 3", "sensor_rules[0].hold", "unknown key"),
        (RULE, RULE + RULE, "sensor_rules[1].name", "already used by sensor_rules[0]"),
    ],
)
def test_a_bad_sensor_rule_names_the_field(tmp_path: Path, old: str, new: str, field: str, expected: str) -> None:
    text = BASE + RULE
    assert old in text
    with pytest.raises(StoreFileError) as caught:
        load_store_file(write(tmp_path, text.replace(old, new, 1)))
    assert any(p.startswith(f"{field}: ") and expected in p for p in caught.value.problems), str(caught.value)


def test_the_demo_cooler_crosses_the_demo_store_rules_and_recovers() -> None:
    """The demo scenario's cooler script, sampled once a second as the demo gateway does, raises both rules
    once and clears both."""
    rules = SensorRules(load_store_file(demo_store_path()).rules_for_sensors())
    assert {r.name for r in rules.rules} == {"cooler-1-too-warm", "cooler-1-door-open"}
    steps = [s for s in demo_scenario(seed=1, shoppers=0, thief=False).steps
             if isinstance(s.step, Temperature | Door)]
    t0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    temperature, door = 3.0, 0.0
    decisions: list[SensorAlarmRaised | SensorAlarmCleared] = []
    end = max(s.at for s in steps) + 5
    for second in range(int(end) + 1):
        for step in steps:
            if second - 1 < step.at <= second:
                if isinstance(step.step, Temperature):
                    temperature = step.step.celsius
                elif isinstance(step.step, Door):
                    door = 1.0 if step.step.open else 0.0
        at = t0 + timedelta(seconds=second)
        decisions += rules.observe(SensorReading("cooler-1-temp", "temperature", temperature, at, "cooler-1"))
        decisions += rules.observe(SensorReading("cooler-1-door", "door", door, at, "cooler-1"))
        decisions += rules.tick(at)
    summary = [(type(d).__name__, d.rule) for d in decisions]
    assert sorted(summary) == sorted([
        ("SensorAlarmRaised", "cooler-1-door-open"), ("SensorAlarmCleared", "cooler-1-door-open"),
        ("SensorAlarmRaised", "cooler-1-too-warm"), ("SensorAlarmCleared", "cooler-1-too-warm"),
    ])
    cleared = [d for d in decisions if isinstance(d, SensorAlarmCleared) and d.rule == "cooler-1-too-warm"]
    assert cleared[0].duration_s > 120

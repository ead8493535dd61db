"""Sensor alarms → alert rows, ``alert`` events and commands; a clear closes only its own rule's alert."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from ingest.db import repo
from ingest.db import schema as t
from ingest.db.admin import seed
from ingest.db.engine import make_engine
from ingest.db.persist import Outgoing, apply_decisions
from ingest.rules.model import Decision, SensorAlarmCleared, SensorAlarmRaised, SensorReading, Zone

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


FIRST = SensorReading("cooler-1-temp", "temperature", 5.5, T0, "cooler-1", "gw1", "°C")
LAST = SensorReading("cooler-1-temp", "temperature", 7.5, at(120), "cooler-1", "gw1", "°C")
WARM = SensorAlarmRaised("warm", "cooler-1-temp", "cooler-1", 7.5, 5.0, T0, at(120), severity="critical",
                         message="Cooler 1 above 5 °C for 2 minutes", gateway="gw1", display="lane-1-display",
                         evidence=(FIRST, LAST))
DOOR = SensorAlarmRaised("door", "cooler-1-door", "cooler-1", 1.0, 0.5, at(10), at(70), message="Door open",
                         gateway="gw1", actuator="cooler-1-lock", action="lock")


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    with engine.begin() as conn:
        seed(conn, store="demo", zones=[Zone("cooler-1", "cooler")], products=[], members=[], items=[])
    yield engine
    engine.dispose()


def apply(engine: Engine, *decisions: Decision) -> Outgoing:
    with engine.begin() as conn:
        return apply_decisions(conn, "demo", decisions)


def test_a_raise_is_an_open_sensor_alert_with_its_samples_an_event_and_the_rules_commands(engine: Engine) -> None:
    out = apply(engine, WARM, DOOR)
    with engine.connect() as conn:
        alerts = repo.list_alerts(conn)
    warm = next(a for a in alerts if a.severity == "critical")
    assert (warm.kind, warm.zone, warm.message, warm.cleared_at) == (
        "sensor", "cooler-1", "Cooler 1 above 5 °C for 2 minutes", None)
    assert [(e["rule"], e["value"], e["threshold"], e["since"]) for e in warm.evidence] == [
        ("warm", 5.5, 5.0, "2026-03-01T10:00:00.000Z"), ("warm", 7.5, 5.0, "2026-03-01T10:00:00.000Z")]
    assert [e.data["details"]["state"] for e in out.events] == ["raised", "raised"]
    assert out.events[0].data["details"] == {"rule": "warm", "sensor": "cooler-1-temp", "value": 7.5,
                                             "threshold": 5.0, "since": "2026-03-01T10:00:00.000Z", "state": "raised"}
    display, lock = out.commands
    assert (display.action, display.target, display.gateway, display.text) == (
        "display", "lane-1-display", "gw1", ["Cooler 1 above 5 °C", "for 2 minutes"])
    assert (lock.action, lock.target, lock.gateway) == ("lock", "cooler-1-lock", "gw1")


def test_a_clear_closes_its_own_rules_alert_only_and_publishes_it_cleared(engine: Engine) -> None:
    apply(engine, WARM, DOOR)
    out = apply(engine, SensorAlarmCleared("warm", "cooler-1-temp", "cooler-1", 3.5, at(300), 300.0,
                                           gateway="gw1", display="lane-1-display"))
    with engine.connect() as conn:
        rows = {r.message: r for r in conn.execute(select(t.alerts)).all()}
    assert rows["Cooler 1 above 5 °C for 2 minutes"].cleared_at == at(300)
    assert rows["Door open"].cleared_at is None
    (event,) = out.events
    assert event.data["id"] == rows["Cooler 1 above 5 °C for 2 minutes"].id
    assert (event.data["cleared_at"], event.data["details"]["state"]) == ("2026-03-01T10:05:00.000Z", "cleared")
    (command,) = out.commands
    assert (command.action, command.target) == ("clear_display", "lane-1-display")


def test_a_clear_without_an_open_alert_changes_nothing(engine: Engine) -> None:
    out = apply(engine, SensorAlarmCleared("warm", "cooler-1-temp", "cooler-1", 3.5, at(300), 300.0))
    assert (out.events, out.commands) == ([], [])

"""An exit gate's passes survive a restart: the engine replays the gate reads the previous run stored."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ingest.rules import StoreEngine
from ingest.rules.model import Decision, RuleSettings, Sighting, TheftAlarm
from tests.ingest.test_rules_anomalies import GATE, PRODUCTS, ZONES, leave, read
from tests.ingest.test_rules_engine import BREAD, MILK, of, t


def keeping() -> StoreEngine:
    """An engine that keeps its gate reads for the caller to store, as ingest builds it."""
    return StoreEngine(ZONES, PRODUCTS, RuleSettings(), exits=[GATE], keep_gate_reads=True)


def fed(eng: StoreEngine, steps: Iterable[Sighting | datetime]) -> list[Decision]:
    out: list[Decision] = []
    for step in steps:
        out.extend(eng.tick(step) if isinstance(step, datetime) else eng.observe(step))
    return out


def stored_then_restored(before: list[Sighting], at: float, *,
                         alarms: dict[str, datetime] | None = None) -> tuple[StoreEngine, list[Decision]]:
    """``before`` through one engine (what it decided), its gate reads handed to a fresh one restored at ``at``."""
    first = keeping()
    decided = fed(first, before)
    again = keeping()
    again.restore(gate_reads=first.take_gate_reads(), alarms=alarms, at=t(at))
    return again, decided


def test_only_the_gate_reads_fed_to_the_detector_are_kept_once_each() -> None:
    eng = keeping()
    inner = read(MILK, "exit-inner", 5)
    fed(eng, [read(MILK, "shelf-dairy", 1), read(BREAD, "lane-1", 2), inner, inner, read(MILK, "exit-outer", 5.5)])
    assert [(r.tag, r.zone, r.at, r.count, r.reader) for r in eng.take_gate_reads()] == [
        (MILK, "exit-inner", t(5), 3, "exit-inner-reader"), (MILK, "exit-outer", t(5.5), 3, "exit-outer-reader")]
    assert eng.take_gate_reads() == []
    plain = StoreEngine(ZONES, PRODUCTS, RuleSettings(), exits=[GATE])
    fed(plain, leave(MILK, 5))
    assert plain.take_gate_reads() == []


def test_the_outer_half_of_a_pass_after_a_restart_alarms_with_the_inner_half_as_evidence() -> None:
    inner, outer = leave(MILK, 5)
    eng, before = stored_then_restored([read(MILK, "shelf-dairy", 1), inner], 5.2)
    assert not of(TheftAlarm, before)
    (alarm,) = of(TheftAlarm, eng.observe(outer))
    assert (alarm.tag, alarm.at, alarm.gateway, alarm.alarm) == (MILK, t(5.5), "gw1", "exit-alarm")
    assert [(e.zone, e.at) for e in alarm.evidence] == [("exit-inner", t(5)), ("exit-outer", t(5.5))]
    # without the replay the new engine hears only the outer half: nothing
    forgetful = keeping()
    forgetful.restore(at=t(5.2))
    assert not of(TheftAlarm, forgetful.observe(outer))


def test_a_pass_completed_before_the_restart_alarms_once() -> None:
    inner, outer = leave(MILK, 5)
    eng, before = stored_then_restored([inner, outer], 6)
    assert len(of(TheftAlarm, before)) == 1
    more_outer = read(MILK, "exit-outer", 6.5)
    assert fed(eng, [outer, more_outer, t(7)]) == []


def test_the_alarm_repeat_holds_across_a_restart() -> None:
    """The thief turns back in the doorway and goes out again: one alarm per ``alarm_repeat_s``, restart or not."""
    eng, before = stored_then_restored(leave(MILK, 5), 6, alarms={MILK: t(5.5)})
    assert len(of(TheftAlarm, before)) == 1
    assert not of(TheftAlarm, fed(eng, [t(12), *leave(MILK, 15)]))
    forgetful, _ = stored_then_restored(leave(MILK, 5), 6)
    assert of(TheftAlarm, fed(forgetful, [t(12), *leave(MILK, 15)]))


def test_stock_chattering_by_the_door_stays_silent_after_a_restart() -> None:
    """Bread displayed by the inner antenna is heard in seven slots: static stock. Passed after a restart, its
    restored presences keep it silent; a fresh engine would take it for a thief."""
    dwelling = [read(BREAD, "exit-inner", 4 * k) for k in range(7)]
    eng, _ = stored_then_restored(dwelling, 30)
    assert not of(TheftAlarm, fed(eng, leave(BREAD, 40)))
    assert of(TheftAlarm, fed(keeping(), leave(BREAD, 40)))


"""Sensor threshold rules: a value past a threshold for a while raises an alarm; back past ``clear_at``, it clears.

Pure: samples and ``tick(now)`` in, decisions out; the time is the samples' own ``at`` and the ``now`` given
to :meth:`SensorRules.tick`, never a clock.

Per (rule, sensor) the state is a small machine:

* **quiet** — the last sample was not past the threshold;
* **pending since T** — every sample since ``T`` was past the threshold (strictly above ``above`` or strictly
  below ``below``); when a sample (or a tick) is ``for_s`` or more after ``T``, the alarm is **raised**;
* **raised** — it stays raised until a sample is strictly past ``clear_at`` (below it for an ``above`` rule,
  above it for a ``below`` rule), which **clears** it and makes the state quiet. A value between ``clear_at``
  and the threshold changes nothing (hysteresis: no flapping).

Gaps: a sample stands for the sensor's value until the next one, but only for ``for_s``. A silence longer than
``for_s`` while pending restarts the timer at the next sample past the threshold, and a tick more than ``for_s``
after the last sample does not raise (a sensor that went quiet is not assumed to stay warm). A raised alarm
stays raised through a gap: only a clearing sample clears it. Samples older than the last one seen for that
sensor are ignored (out of order), and so is a tick earlier than the pending start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ingest.rules.errors import RulesError
from ingest.rules.model import (
    SensorAction,
    SensorAlarmCleared,
    SensorAlarmRaised,
    SensorReading,
    Severity,
)


@dataclass(frozen=True, slots=True)
class SensorRule:
    """Raise when a matching sensor's value is past ``above`` (or ``below``) for ``for_s`` seconds.

    A rule matches a sample by ``sensor`` name, or by ``kind`` and (optionally) ``zone``; each matching sensor
    has its own timer. ``display`` shows ``message`` while the alarm is raised; ``actuator`` gets ``action``
    when it is raised. ``gateway``: where those commands go (default: the gateway that reported the sample).
    """

    name: str
    clear_at: float
    above: float | None = None
    below: float | None = None
    for_s: float = 0.0
    sensor: str | None = None
    kind: str | None = None
    zone: str | None = None
    severity: Severity = "warning"
    message: str = ""
    display: str | None = None
    actuator: str | None = None
    action: SensorAction | None = None
    gateway: str | None = None

    def __post_init__(self) -> None:
        if (self.above is None) == (self.below is None):
            raise RulesError(f"sensor rule {self.name!r}: give exactly one of above and below")
        if self.sensor is None and self.kind is None:
            raise RulesError(f"sensor rule {self.name!r}: give a sensor, or a kind (and zone)")
        if self.for_s < 0:
            raise RulesError(f"sensor rule {self.name!r}: for_s {self.for_s!r} must not be negative")
        if self.above is not None and self.clear_at > self.above:
            raise RulesError(f"sensor rule {self.name!r}: clear_at {self.clear_at!r} must be at most above "
                             f"{self.above!r}")
        if self.below is not None and self.clear_at < self.below:
            raise RulesError(f"sensor rule {self.name!r}: clear_at {self.clear_at!r} must be at least below "
                             f"{self.below!r}")
        if (self.actuator is None) != (self.action is None):
            raise RulesError(f"sensor rule {self.name!r}: give both actuator and action, or neither")

    @property
    def threshold(self) -> float:
        threshold = self.above if self.above is not None else self.below
        assert threshold is not None  # __post_init__: exactly one of them
        return threshold

    def matches(self, sample: SensorReading) -> bool:
        return (
            (self.sensor is None or self.sensor == sample.sensor)
            and (self.kind is None or self.kind == sample.kind)
            and (self.zone is None or self.zone == sample.zone)
        )

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.above is not None else value < self.threshold

    def cleared(self, value: float) -> bool:
        return value < self.clear_at if self.above is not None else value > self.clear_at


@dataclass(slots=True)
class _Track:
    """One (rule, sensor): the last sample, the first sample of the current run past the threshold, raised?"""

    last: SensorReading
    first: SensorReading | None = None
    raised: bool = False


class SensorRules:
    """The sensor threshold rules of a store and their per-sensor state."""

    def __init__(self, rules: Iterable[SensorRule]) -> None:
        self.rules = tuple(rules)
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise RulesError(f"sensor rule names must be unique, got {names}")
        self._by_name = {rule.name: rule for rule in self.rules}
        self._tracks: dict[tuple[str, str], _Track] = {}

    def is_raised(self, rule: str, sensor: str) -> bool:
        track = self._tracks.get((rule, sensor))
        return track is not None and track.raised

    def observe(self, sample: SensorReading) -> list[SensorAlarmRaised | SensorAlarmCleared]:
        out: list[SensorAlarmRaised | SensorAlarmCleared] = []
        for rule in self.rules:
            if rule.matches(sample):
                decision = self._observe(rule, sample)
                if decision is not None:
                    out.append(decision)
        return out

    def tick(self, now: datetime) -> list[SensorAlarmRaised | SensorAlarmCleared]:
        """Raise pending alarms whose duration has passed by ``now`` while their sensor still reports."""
        out: list[SensorAlarmRaised | SensorAlarmCleared] = []
        for (name, _sensor), track in self._tracks.items():
            rule = self._by_name[name]
            if track.raised or track.first is None:
                continue
            if (now - track.last.at).total_seconds() > rule.for_s:
                continue  # the sensor went quiet: no extrapolation across a gap
            if (now - track.first.at).total_seconds() >= rule.for_s:
                out.append(self._raise(rule, track, track.last, now))
        return out

    def _observe(self, rule: SensorRule, sample: SensorReading) -> SensorAlarmRaised | SensorAlarmCleared | None:
        key = (rule.name, sample.sensor)
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = _Track(last=sample)
        elif sample.at < track.last.at:
            return None  # out of order: older than what this sensor already told us
        gap = (sample.at - track.last.at).total_seconds() > rule.for_s
        track.last = sample
        if track.raised:
            if not rule.cleared(sample.value):
                return None
            assert track.first is not None
            since = track.first.at
            track.raised, track.first = False, None
            return SensorAlarmCleared(
                rule.name, sample.sensor, rule.zone or sample.zone, sample.value, sample.at,
                (sample.at - since).total_seconds(), gateway=rule.gateway or sample.gateway, display=rule.display,
            )
        if not rule.breached(sample.value):
            track.first = None
            return None
        if track.first is None or gap:
            track.first = sample
        if (sample.at - track.first.at).total_seconds() >= rule.for_s:
            return self._raise(rule, track, sample, sample.at)
        return None

    @staticmethod
    def _raise(rule: SensorRule, track: _Track, sample: SensorReading, at: datetime) -> SensorAlarmRaised:
        assert track.first is not None
        track.raised = True
        evidence = (track.first,) if track.first is sample else (track.first, sample)
        return SensorAlarmRaised(
            rule.name, sample.sensor, rule.zone or sample.zone, sample.value, rule.threshold, track.first.at, at,
            severity=rule.severity, message=rule.message, gateway=rule.gateway or sample.gateway,
            display=rule.display, actuator=rule.actuator, action=rule.action, evidence=evidence,
        )

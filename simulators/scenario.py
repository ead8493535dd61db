"""Scenarios: timed, seeded steps that move cards and tagged items through a store, and what they lead to.

A scenario is data: a sorted tuple of :class:`TimedStep` (scenario seconds, step). The world
(:mod:`simulators.world`) turns each step into device state; :func:`expected_outcome` replays the same
steps on paper and says what a correct ingest should decide — which member took which SKUs through which
lane, which tags left unpaid, how warm the cooler got — so an end-to-end test can compare the two.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from simulators.errors import ScenarioError


@dataclass(frozen=True, slots=True)
class CardIn:
    """A card (UID, 10 hex digits) enters the field of the card reader ``reader``."""

    reader: str
    uid: str


@dataclass(frozen=True, slots=True)
class CardOut:
    """The card leaves the field of ``reader``."""

    reader: str


@dataclass(frozen=True, slots=True)
class TagsTo:
    """Tagged items (EPC hex) are now in ``zone`` at ``rssi`` dBm, or carried in no reader's field (None)."""

    epcs: tuple[str, ...]
    zone: str | None
    rssi: float = -60.0


@dataclass(frozen=True, slots=True)
class Temperature:
    """The cooler's temperature sensor now reads ``celsius``."""

    celsius: float


@dataclass(frozen=True, slots=True)
class Door:
    """The cooler door is opened or closed."""

    open: bool


@dataclass(frozen=True, slots=True)
class Note:
    """Nothing happens to a device; the progress display shows ``text``."""

    text: str


Step = CardIn | CardOut | TagsTo | Temperature | Door | Note


@dataclass(frozen=True, slots=True)
class TimedStep:
    at: float
    step: Step


@dataclass(frozen=True, slots=True)
class ExpectedPurchase:
    member: str
    lane: str
    skus: tuple[str, ...]  # sorted, one entry per item
    tags: tuple[str, ...]  # "EPC:<hex>", sorted


@dataclass(frozen=True, slots=True)
class ExpectedTheft:
    tag: str  # "EPC:<hex>"
    sku: str | None
    zone: str


@dataclass(frozen=True, slots=True)
class ExpectedOutcome:
    purchases: tuple[ExpectedPurchase, ...]
    thefts: tuple[ExpectedTheft, ...]
    cooler_peak_c: float | None
    visits: tuple[str, ...]  # member ids that tapped a card at the entrance, in order


@dataclass(frozen=True)
class Scenario:
    """Timed steps (sorted by time, ties in script order) plus what the replay needs to name things.

    ``lane_readers`` maps a lane's card reader to the lane zone; ``entrance_readers`` lists entrance card
    readers; ``exit_zones`` the exit zones; ``gates`` the exit gates as (inner, outer) zone pairs (an item
    leaves through a gate when it moves from its inner to its outer zone; an exit zone of no gate is left by
    reaching it); ``members`` maps a card UID to the member id; ``skus`` maps an EPC to its SKU;
    ``allowed`` lists EPCs that may leave (staff wristbands, assets). ``next_round`` (looping demos) builds
    the following round.
    """

    name: str
    steps: tuple[TimedStep, ...]
    lane_readers: Mapping[str, str] = field(default_factory=dict)
    entrance_readers: frozenset[str] = frozenset()
    exit_zones: frozenset[str] = frozenset()
    gates: tuple[tuple[str, str], ...] = ()
    allowed: frozenset[str] = frozenset()
    members: Mapping[str, str] = field(default_factory=dict)
    skus: Mapping[str, str] = field(default_factory=dict)
    strong_rssi: float = -60.0
    next_round: Callable[[], Scenario] | None = None

    def __post_init__(self) -> None:
        times = [timed.at for timed in self.steps]
        if any(at < 0 for at in times) or times != sorted(times):
            raise ScenarioError(f"scenario {self.name!r}: steps must have non-negative, non-decreasing times")

    @property
    def duration(self) -> float:
        return self.steps[-1].at if self.steps else 0.0

    def expected_outcome(self) -> ExpectedOutcome:
        return expected_outcome(self)


class ScriptBuilder:
    """Collects steps in any order and sorts them stably by time."""

    def __init__(self) -> None:
        self._steps: list[tuple[float, int, Step]] = []

    def at(self, when: float, step: Step) -> None:
        self._steps.append((round(when, 3), len(self._steps), step))

    def steps(self) -> tuple[TimedStep, ...]:
        return tuple(
            TimedStep(when, step) for when, _, step in sorted(self._steps, key=lambda s: (s[0], s[1]))
        )


def expected_outcome(scenario: Scenario) -> ExpectedOutcome:
    """Replay the steps: a lane session runs from a member's card entering a lane reader to it leaving;
    the items in that lane with strong RSSI during the session are that member's purchase; an item that
    leaves (inner then outer zone of a gate, or reaches an exit zone of no gate) and was not bought is
    stolen; an item that enters (outer, then inner) is not."""
    gate_of_outer = {outer: inner for inner, outer in scenario.gates}
    gate_zones = {zone for gate in scenario.gates for zone in gate}
    zone_of: dict[str, str | None] = {}
    rssi_of: dict[str, float] = {}
    sessions: dict[str, tuple[str, set[str]]] = {}  # lane -> (uid, tags)
    bought: set[str] = set()
    purchases: list[ExpectedPurchase] = []
    thefts: list[ExpectedTheft] = []
    stolen: set[str] = set()
    visits: list[str] = []
    peak: float | None = None

    def member(uid: str) -> str:
        return scenario.members.get(uid.upper(), f"UID:{uid.upper()}")

    def sweep(lane: str) -> None:
        if lane in sessions:
            _, tags = sessions[lane]
            tags.update(
                epc for epc, zone in zone_of.items() if zone == lane and rssi_of[epc] >= scenario.strong_rssi
            )

    for timed in scenario.steps:
        step = timed.step
        if isinstance(step, CardIn):
            if step.reader in scenario.entrance_readers:
                visits.append(member(step.uid))
            lane = scenario.lane_readers.get(step.reader)
            if lane is not None and lane not in sessions:
                sessions[lane] = (step.uid, set())
                sweep(lane)
        elif isinstance(step, CardOut):
            lane = scenario.lane_readers.get(step.reader)
            if lane is not None and lane in sessions:
                uid, tags = sessions.pop(lane)
                tags = tags - bought
                if tags:
                    bought.update(tags)
                    purchases.append(
                        ExpectedPurchase(
                            member=member(uid),
                            lane=lane,
                            skus=tuple(sorted(scenario.skus.get(epc, "?") for epc in tags)),
                            tags=tuple(sorted(f"EPC:{epc}" for epc in tags)),
                        )
                    )
        elif isinstance(step, TagsTo):
            for epc in step.epcs:
                previous = zone_of.get(epc)
                zone_of[epc], rssi_of[epc] = step.zone, step.rssi
                for lane, (_, tags) in sessions.items():
                    if previous == lane and step.zone not in (lane, None):
                        tags.discard(epc)  # put back on a shelf while the member is still in the lane
                if epc in bought or epc in stolen or epc in scenario.allowed:
                    continue
                if step.zone in gate_of_outer and previous == gate_of_outer[step.zone]:
                    stolen.add(epc)
                    thefts.append(ExpectedTheft(f"EPC:{epc}", scenario.skus.get(epc), previous))
                elif step.zone in scenario.exit_zones and step.zone not in gate_zones:
                    stolen.add(epc)
                    thefts.append(ExpectedTheft(f"EPC:{epc}", scenario.skus.get(epc), step.zone))
            if step.zone in sessions:
                sweep(step.zone)
        elif isinstance(step, Temperature):
            peak = step.celsius if peak is None else max(peak, step.celsius)
    return ExpectedOutcome(tuple(purchases), tuple(thefts), peak, tuple(visits))

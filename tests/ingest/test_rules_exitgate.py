"""The exit-gate detector: leaving is inner then outer, with enough strong reads, within the window."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.rules.errors import RulesError
from ingest.rules.exitgate import Departure, ExitGate, ExitGateDetector, GateRead

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
GATE = ExitGate("exit", "exit-inner", "exit-outer", alarm="exit-alarm", gateway="gw1")
CAP, MILK = "EPC:30740000000000000000000A", "EPC:30740000000000000000000B"
IN, OUT = "exit-inner", "exit-outer"


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def r(zone: str, at: float, tag: str = CAP, rssi: float | None = -55.0, count: int = 1) -> GateRead:
    return GateRead(tag, zone, rssi, count, t(at), reader="gate", antenna=1 if zone == IN else 2)


def walk(start: float, *zones: str, step: float = 0.1, tag: str = CAP) -> list[GateRead]:
    return [r(zone, start + i * step, tag) for i, zone in enumerate(zones)]


def departures(reads: list[GateRead], gate: ExitGate = GATE) -> list[Departure]:
    detector = ExitGateDetector([gate])
    return [d for d in map(detector.observe, reads) if d is not None]


CASES = {
    "walk-out inner then outer": (walk(0, IN, IN, OUT, OUT), 1),
    "entering outer then inner": (walk(0, OUT, OUT, IN, IN, IN), 0),
    "dwelling inside the door": (walk(0, *[IN] * 25, step=0.5), 0),
    "dwelling outside the door": (walk(0, *[OUT] * 25, step=0.5), 0),
    "weak reads are no evidence": ([r(IN, 0), r(IN, 0.1), r(OUT, 0.2, rssi=-80), r(OUT, 0.3, rssi=-75)], 0),
    "single glimpses in each zone": (walk(0, IN, OUT), 0),
    "a reader without RSSI still counts": ([r(IN, 0, rssi=None), r(IN, 0.1, rssi=None),
                                            r(OUT, 0.2, rssi=None), r(OUT, 0.3, rssi=None)], 1),
    "too slow a walk-out": ([r(IN, 0), r(IN, 0.2), r(OUT, 2.5, rssi=-80), r(OUT, 5.0), r(OUT, 5.5)], 0),
    "smoothed counts add up": ([r(IN, 0, count=5), r(OUT, 1.0, count=4)], 1),
    "interleaved walk-out across the overlap": (walk(0, IN, OUT, IN, OUT, OUT), 1),
}


@pytest.mark.parametrize("name", list(CASES))
def test_table(name: str) -> None:
    reads, expected = CASES[name]
    assert len(departures(reads)) == expected


def test_walk_out_explains_itself() -> None:
    [d] = departures(walk(0, IN, IN, OUT, OUT))
    assert (d.gate, d.tag, d.at, d.first_read_at) == ("exit", CAP, t(0.3), t(0))
    assert d.zone_sequence == (IN, OUT)
    assert [e.zone for e in d.evidence] == [IN, IN, OUT, OUT]
    assert dict(d.params) == {"window_s": "3", "min_reads": "2", "min_rssi": "-70",
                              "chatter_window_s": "300", "chatter_limit": "6"}
    assert d.chatter == 1


def test_reordered_reads_decide_the_same() -> None:
    reads = walk(0, IN, IN, OUT, OUT)
    [d] = departures([reads[2], reads[0], reads[3], reads[1]])
    assert d.at == t(0.3) and d.zone_sequence == (IN, OUT)
    assert departures(list(reversed(walk(0, OUT, OUT, IN, IN)))) == []  # entering, whatever the arrival order
    assert departures([reads[3], reads[2], reads[1], reads[0]])[0].at == t(0.3)


def test_one_departure_per_pass_and_again_on_the_next_pass() -> None:
    first = walk(0, IN, IN, OUT, OUT, OUT, IN, OUT, OUT)
    again = walk(10, IN, IN, OUT, OUT)
    assert [d.at for d in departures(first + again)] == [t(0.3), t(10.3)]


def test_static_tag_chatter_is_suppressed() -> None:
    gate = ExitGate("exit", IN, OUT, chatter_limit=3)
    # a cap on a display by the door is read in both zones every few seconds
    chatter = [read for k in range(6) for read in walk(k * 5.0, IN, IN, OUT, OUT)]
    found = departures(chatter, gate)
    assert [d.at for d in found] == [t(0.3), t(5.3), t(10.3)]  # the fourth presence on is static stock
    assert [d.chatter for d in found] == [1, 2, 3]
    # a tag that chatters continuously counts one presence per window
    steady = walk(0, *[IN, OUT] * 60, step=0.25)
    assert len(departures(steady, gate)) == 1


def test_two_tags_at_once_are_told_apart() -> None:
    reads = [*walk(0, IN, IN, OUT, OUT, tag=CAP), *walk(0.05, OUT, OUT, IN, IN, tag=MILK)]
    reads.sort(key=lambda x: x.at)
    assert [d.tag for d in departures(reads)] == [CAP]


def test_tick_forgets_silent_tags_and_memory_is_bounded() -> None:
    detector = ExitGateDetector([GATE], max_tags=100)
    for i in range(500):
        detector.observe(r(IN, i * 0.01, tag=f"EPC:{i:024X}"))
    assert len(detector) == 100
    detector.tick(t(1000))
    assert len(detector) == 0
    assert detector.zones() == frozenset({IN, OUT})


def test_unknown_zone_and_bad_gates() -> None:
    assert ExitGateDetector([GATE]).observe(r("shelf", 0)) is None
    with pytest.raises(RulesError, match="inner and outer"):
        ExitGateDetector([ExitGate("exit", IN, IN)])
    with pytest.raises(RulesError, match="min_reads"):
        ExitGateDetector([ExitGate("exit", IN, OUT, min_reads=0)])


reads_strategy = st.lists(
    st.tuples(
        st.sampled_from([IN, OUT]),
        st.floats(min_value=0, max_value=60, allow_nan=False),
        st.sampled_from([-80.0, -60.0, None]),
        st.integers(min_value=1, max_value=3),
        st.sampled_from([CAP, MILK]),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(reads_strategy, st.sampled_from([IN, OUT]))
def test_a_tag_read_in_one_zone_only_never_departs(raw: list[tuple[str, float, float | None, int, str]],
                                                   zone: str) -> None:
    reads = [GateRead(tag, zone, rssi, count, t(at)) for _, at, rssi, count, tag in raw]
    assert departures(reads) == []


@settings(max_examples=300, deadline=None)
@given(reads_strategy)
def test_at_most_one_departure_per_pass(raw: list[tuple[str, float, float | None, int, str]]) -> None:
    reads = [GateRead(tag, zone, rssi, count, t(at)) for zone, at, rssi, count, tag in raw]
    reads.sort(key=lambda x: x.at)
    found = departures(reads)
    for tag in (CAP, MILK):
        times = sorted(x.at for x in reads if x.tag == tag)
        # passes: runs of reads with gaps of at most window_s
        passes = 1 + sum(1 for a, b in itertools.pairwise(times) if b - a > timedelta(seconds=3))
        mine = [d for d in found if d.tag == tag]
        assert len(mine) <= (passes if times else 0)
        for d in mine:
            assert d.zone_sequence[0] == IN and d.zone_sequence[-1] == OUT
            assert sum(e.count for e in d.evidence if e.zone == OUT) >= GATE.min_reads

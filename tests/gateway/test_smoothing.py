"""Smoothing with injected time: what ingest receives for a tag that arrives, stays and goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from contract import TagRead
from gateway.smoothing import RawRead, Smoother

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
EPC = "3074257BF7194E4000001A85"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def raw(seconds: float, *, epc: str = EPC, antenna: int = 1, rssi: float | None = -60.0) -> RawRead:
    return RawRead(reader="lane-1-uhf", antenna=antenna, zone="lane-1", epc=epc, rssi=rssi, at=at(seconds))


def feed(smoother: Smoother, reads: list[RawRead]) -> list[TagRead]:
    out: list[TagRead] = []
    for read in reads:
        out += smoother.observe(read, read.at)
    return out


def test_first_read_is_reported_at_once() -> None:
    smoother = Smoother(report_interval_s=1.0, leave_after_s=1.5)
    out = smoother.observe(raw(0.0, rssi=-58), at(0.0))
    assert [(r.event, r.count, r.rssi, r.zone, r.epc) for r in out] == [("seen", 1, -58, "lane-1", EPC)]
    assert out[0].first_seen == out[0].last_seen == at(0.0)


def test_repeats_within_the_interval_are_one_report_with_count_and_peak() -> None:
    smoother = Smoother(report_interval_s=1.0, leave_after_s=1.5)
    out = feed(smoother, [raw(0.0), raw(0.2, rssi=-50), raw(0.5, rssi=-70), raw(0.8)])
    assert [r.event for r in out] == ["seen"]
    assert smoother.tick(at(0.9)) == []
    report = smoother.tick(at(1.0))
    assert [(r.event, r.count, r.rssi) for r in report] == [("seen", 3, -50)]
    assert (report[0].first_seen, report[0].last_seen) == (at(0.2), at(0.8))


def test_silence_gives_left_with_the_whole_presence() -> None:
    smoother = Smoother(report_interval_s=1.0, leave_after_s=1.5)
    feed(smoother, [raw(0.0, rssi=-65), raw(0.3, rssi=-55)])
    assert smoother.tick(at(0.5)) == []
    out = smoother.tick(at(1.7))  # 1.4 s after the last read: still present, and one report due
    out += smoother.tick(at(1.8))
    assert [(r.event, r.count) for r in out] == [("seen", 1), ("left", 2)]
    left = out[-1]
    assert (left.first_seen, left.last_seen, left.rssi) == (at(0.0), at(0.3), -55)
    assert smoother.present == 0


def test_unreported_reads_go_out_before_the_left() -> None:
    smoother = Smoother(report_interval_s=5.0, leave_after_s=1.0)
    feed(smoother, [raw(0.0), raw(0.4), raw(0.6)])
    out = smoother.tick(at(2.0))
    assert [(r.event, r.count) for r in out] == [("seen", 2), ("left", 3)]


def test_antennas_and_tags_are_smoothed_separately() -> None:
    smoother = Smoother(report_interval_s=1.0, leave_after_s=1.5)
    out = feed(smoother, [raw(0.0), raw(0.0, antenna=2), raw(0.1, epc="E2000017221101441890ABCD"), raw(0.2)])
    assert [(r.antenna, r.epc) for r in out] == [(1, EPC), (2, EPC), (1, "E2000017221101441890ABCD")]


def test_a_tag_back_after_leaving_is_a_new_presence() -> None:
    smoother = Smoother(report_interval_s=1.0, leave_after_s=1.5)
    feed(smoother, [raw(0.0)])
    out = smoother.observe(raw(5.0), at(5.0))  # no tick in between: the leave is noticed here
    assert [(r.event, r.count) for r in out] == [("left", 1), ("seen", 1)]
    assert out[1].first_seen == at(5.0)


def test_cards_carry_uid() -> None:
    smoother = Smoother(report_interval_s=1.0, leave_after_s=0.5)
    card = RawRead(reader="entrance-card", antenna=0, zone="entrance", uid="0F003A6B5C", at=at(0))
    (read,) = smoother.observe(card, at(0))
    assert (read.tag, read.rssi) == ("UID:0F003A6B5C", None)


reads_strategy = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=0.9, allow_nan=False),  # gap to the previous read, seconds
        st.sampled_from(["3074257BF7194E4000001A85", "E2000017221101441890ABCD"]),
        st.sampled_from([1, 2]),
        st.integers(min_value=-90, max_value=-30),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(reads=reads_strategy, ticks=st.lists(st.floats(0.0, 12.0, allow_nan=False), max_size=20))
def test_every_seen_is_followed_by_left_and_counts_add_up(
    reads: list[tuple[float, str, int, int]], ticks: list[float]
) -> None:
    smoother = Smoother(report_interval_s=1.0, leave_after_s=1.5)
    out: list[TagRead] = []
    clock = 0.0
    pending_ticks = sorted(ticks)
    for gap, epc, antenna, rssi in reads:
        clock += gap
        while pending_ticks and pending_ticks[0] <= clock:
            out += smoother.tick(at(pending_ticks.pop(0)))
        out += smoother.observe(raw(clock, epc=epc, antenna=antenna, rssi=rssi), at(clock))
    out += smoother.tick(at(clock + 100))  # long after: everything has left

    assert smoother.present == 0
    assert sum(r.count for r in out if r.event == "seen") == len(reads)
    open_presences: dict[tuple[int, str | None], int] = {}
    for read in out:
        key = (read.antenna, read.epc)
        if read.event == "seen":
            open_presences[key] = open_presences.get(key, 0) + read.count
        else:
            assert key in open_presences, "a 'left' without a 'seen' before it"
            assert read.count == open_presences.pop(key), "a left's count is the presence's reads"
    assert open_presences == {}, "every seen is followed by a left"
    for read in out:
        assert read.first_seen <= read.last_seen


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 200), gap=st.floats(0.001, 0.5))
def test_a_steady_tag_is_reported_about_once_per_interval(n: int, gap: float) -> None:
    smoother = Smoother(report_interval_s=1.0, leave_after_s=1.5)
    out: list[TagRead] = []
    for i in range(n):
        out += smoother.observe(raw(i * gap), at(i * gap))
        out += smoother.tick(at(i * gap))
    seen = [r for r in out if r.event == "seen"]
    duration = (n - 1) * gap
    assert len(seen) <= 1 + duration / 1.0 + 1

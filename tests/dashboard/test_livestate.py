"""The live state is pure: time is passed in, so presence expiry and rates are tested without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from dashboard.livestate import RATE_WINDOW_S, LiveState, SensorValue, TagIdentity, ZoneRead

ADA = TagIdentity("UID:0F003A6B5C", "member", "M-1001", "Ada Lovelace")
MILK = TagIdentity("EPC:30AA", "item", "MILK-1L", "Organic milk 1 l")
KNOWN = {ADA.tag: ADA, MILK.tag: MILK}
T0 = 1_700_000_000.0


def seen(tag: str, zone: str = "lane-1") -> ZoneRead:
    return ZoneRead(tag, zone, "seen", "gw1", "lane-1-uhf", -50.0)


def left(tag: str, zone: str = "lane-1") -> ZoneRead:
    return ZoneRead(tag, zone, "left", "gw1", "lane-1-uhf")


def zone_view(state: LiveState, zone: str) -> tuple[list[str | None], list[str | None], list[str]]:
    found = next(z for z in state.presence() if z.zone == zone)
    return [m.name for m in found.members], [i.name for i in found.items], [o.tag for o in found.others]


def test_presence_names_members_and_items_and_keeps_unknown_tags_apart() -> None:
    state = LiveState()
    state.apply_reads([seen(ADA.tag), seen(MILK.tag), seen("EPC:DEAD")], KNOWN, T0)
    assert zone_view(state, "lane-1") == (["Ada Lovelace"], ["Organic milk 1 l"], ["EPC:DEAD"])


def test_left_removes_at_once_and_silence_expires_after_the_ttl() -> None:
    state = LiveState(presence_ttl_s=5.0)
    state.apply_reads([seen(ADA.tag), seen(MILK.tag)], KNOWN, T0)
    state.apply_reads([left(MILK.tag)], KNOWN, T0 + 1)
    assert zone_view(state, "lane-1") == (["Ada Lovelace"], [], [])
    assert state.expire(T0 + 4.9) == []
    state.apply_reads([seen(ADA.tag)], KNOWN, T0 + 4.9)  # re-reported: stays
    assert state.expire(T0 + 9.0) == []
    assert state.expire(T0 + 10.0) == ["lane-1"]
    assert zone_view(state, "lane-1") == ([], [], [])


def test_moving_between_zones_keeps_when_it_arrived() -> None:
    state = LiveState()
    state.apply_reads([seen(ADA.tag, "entrance")], KNOWN, T0)
    state.apply_reads([seen(ADA.tag, "entrance")], KNOWN, T0 + 3)
    state.apply_reads([left(ADA.tag, "entrance"), seen(ADA.tag, "lane-1")], KNOWN, T0 + 4)
    presence = {z.zone: z for z in state.presence()}
    assert presence["entrance"].members == ()
    assert presence["lane-1"].members[0].since == T0 + 4


def test_known_zones_show_even_when_empty() -> None:
    state = LiveState()
    state.know_zones(["exit", "entrance"])
    assert [z.zone for z in state.presence()] == ["entrance", "exit"]


def test_reads_per_second_and_window() -> None:
    state = LiveState()
    state.apply_reads([seen(ADA.tag), seen(MILK.tag)], KNOWN, T0 + 0.1)
    state.apply_reads([seen(MILK.tag)], KNOWN, T0 + 0.9)
    state.apply_reads([seen(MILK.tag, "shelf")], KNOWN, T0 + 1.5)
    tick = state.tick(T0 + 1.6)
    assert tick.second == int(T0) and tick.reads == {"lane-1": 3, "shelf": 0}
    snap = state.snapshot(T0 + 2.0)
    assert snap.rates["lane-1"][-2:] == [3, 0] and snap.rates["shelf"][-1] == 1
    assert len(snap.rates["lane-1"]) == RATE_WINDOW_S
    state.expire(T0 + RATE_WINDOW_S + 5)
    assert state.snapshot(T0 + RATE_WINDOW_S + 5).rates["lane-1"] == [0] * RATE_WINDOW_S


@given(st.lists(st.tuples(st.floats(0, 3 * RATE_WINDOW_S), st.sampled_from(["a", "b", "c"])), max_size=200))
def test_snapshot_counts_exactly_the_reads_of_its_window(reads: list[tuple[float, str]]) -> None:
    state = LiveState()
    for at, zone in sorted(reads):
        state.apply_reads([seen("EPC:30AA", zone)], {}, T0 + at)
    now = T0 + 3 * RATE_WINDOW_S + 1
    snap = state.snapshot(now)
    for zone in ("a", "b", "c"):
        expected = sum(1 for at, z in reads if z == zone and snap.rate_start <= int(T0 + at) <= snap.second)
        assert sum(snap.rates.get(zone, [])) == expected


def test_sensors_keep_the_latest_value_and_a_temperature_series() -> None:
    state = LiveState()
    for i, value in enumerate([3.0, 3.5, 6.2]):
        at = datetime.fromtimestamp(T0 + i, UTC)
        state.apply_sensor(SensorValue("cooler-1-temp", "temperature", value, "°C", "cooler-1", "gw1", at))
    state.apply_sensor(SensorValue("cooler-1-door", "door", 1.0, "", "cooler-1", "gw1", datetime.fromtimestamp(T0, UTC)))
    snap = state.snapshot(T0 + 3)
    assert [s.value for s in snap.sensors] == [1.0, 6.2]
    assert snap.series == {"cooler-1-temp": [(T0, 3.0), (T0 + 1, 3.5), (T0 + 2, 6.2)]}

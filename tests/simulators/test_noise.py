"""The noise model: profile files, what a noisy reader sends, the walk through the gate, and the evaluation
script's ground truth."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from readers.uhf import TagNotice, UhfDecoder
from silentcommerce.evaluate import AlarmRow, ChargedLine, percentile, score
from simulators.demo import walk_through
from simulators.devices import UhfReaderDevice
from simulators.evaluation import Passage, evaluation_scenario
from simulators.noise import (
    PROFILES_DIR,
    DeviceNoise,
    NoiseProfile,
    NoiseProfileError,
    WalkThrough,
    load_noise_profile,
    parse_noise_profile,
    static_stock,
    store_categories,
)
from simulators.scenario import CardIn, CardOut, Scenario, ScriptBuilder, TagsTo, expected_outcome
from simulators.storeplan import demo_store_path, load_store_plan
from simulators.world import World

EVAL_STORE = Path(__file__).resolve().parents[2] / "simulators" / "scenarios" / "eval-store.toml"
MILK = "3034F4E4E400004000000001"  # dairy
COLA = "3034F4E4E40007C000000001"  # drinks
BREAD = "3034F4E4E40002C000000001"  # bakery
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def notices(data: bytes) -> list[TagNotice]:
    return [m for m in UhfDecoder().feed(data) if isinstance(m, TagNotice)]


def rounds(device: UhfReaderDevice, n: int) -> list[TagNotice]:
    return notices(b"".join(device._inventory_round() for _ in range(n)))


def test_the_shipped_profiles_load_and_get_noisier() -> None:
    clean, default, harsh = (load_noise_profile(name) for name in ("clean", "default", "harsh"))
    assert {p.stem for p in PROFILES_DIR.glob("*.toml")} >= {"clean", "default", "harsh"}
    assert clean.miss_probability == 0 and clean.static_count == 0 and clean.stray_probability == 0
    assert 0 < default.miss_probability < harsh.miss_probability
    assert default.read_probability("drinks") < default.read_probability("bakery") == 1 - default.miss_probability
    assert default.static_count < harsh.static_count
    assert load_noise_profile(PROFILES_DIR / "default.toml") == default


def test_a_wrong_profile_names_each_wrong_field(tmp_path: Path) -> None:
    with pytest.raises(NoiseProfileError) as caught:
        parse_noise_profile(
            {"reads": {"miss_probability": 1.5, "misses": 1}, "stray": {"rssi": [-60, -80]}, "colour": "red"},
            "mine.toml",
        )
    text = str(caught.value)
    assert text.startswith("mine.toml: ")
    for field in ("reads.miss_probability", "reads.misses", "stray.rssi", "colour"):
        assert field in text
    broken = tmp_path / "broken.toml"
    broken.write_text("[reads\n")
    with pytest.raises(NoiseProfileError, match="not valid TOML"):
        load_noise_profile(broken)


def test_liquids_are_heard_less_often_and_misses_are_seeded() -> None:
    plan = load_store_plan(demo_store_path())
    profile = NoiseProfile(miss_probability=0.1, category_read_factor={"drinks": 0.5})
    device = UhfReaderDevice("u", seed=3, noise=profile.device_noise(store_categories(plan)))
    device.set_field({MILK: -50, COLA: -50, BREAD: -50})
    heard = rounds(device, 2000)
    count = {epc: sum(1 for n in heard if n.epc == epc) for epc in (MILK, COLA, BREAD)}
    assert 0.86 < count[BREAD] / 2000 < 0.94  # 90 % of rounds
    assert 0.40 < count[COLA] / 2000 < 0.50  # 45 %: a drink
    again = UhfReaderDevice("u", seed=3, noise=profile.device_noise(store_categories(plan)))
    again.set_field({MILK: -50, COLA: -50, BREAD: -50})
    assert rounds(again, 2000) == heard


def test_strays_are_weak_and_duplicates_are_whole_frames() -> None:
    noise = DeviceNoise(stray_probability=0.5, stray_rssi=(-88.0, -78.0), duplicate_probability=0.5, jitter_db=0)
    device = UhfReaderDevice("lane-1-uhf", seed=1, noise=noise)
    device.set_field({MILK: -45}, stray=[COLA])
    heard = rounds(device, 400)
    strays = [n for n in heard if n.epc == COLA]
    own = [n for n in heard if n.epc == MILK]
    assert 150 < len(strays) < 250 and all(-88 <= n.rssi <= -78 for n in strays)
    assert 500 < len(own) < 700 and all(n.rssi == -45 for n in own)  # one frame, sometimes two, per round
    quiet = UhfReaderDevice("lane-1-uhf", seed=1)  # no profile: nothing overheard, nothing repeated
    quiet.set_field({MILK: -45}, stray=[COLA])
    assert [n.epc for n in rounds(quiet, 50)] == [MILK] * 50


def test_the_world_lets_neighbouring_readers_overhear() -> None:
    devices = {name: UhfReaderDevice(name) for name in ("lane-1-uhf", "lane-2-uhf", "exit-inner-uhf")}
    world = World(devices, {"lane-1": "lane-1-uhf", "lane-2": "lane-2-uhf", "exit-inner": "exit-inner-uhf"},
                  neighbours={"lane-1": ["lane-2"], "lane-2": ["lane-1"]})
    world.apply(TagsTo((MILK,), "lane-2", -45))
    assert devices["lane-2-uhf"].field == {MILK: -45} and devices["lane-1-uhf"].field == {}
    assert devices["lane-1-uhf"]._stray == {MILK: 0}
    world.apply(TagsTo((MILK,), "exit-inner", -50))
    assert devices["lane-1-uhf"]._stray == {} and devices["exit-inner-uhf"].field == {MILK: -50}
    world.apply(TagsTo((MILK,), None))
    assert world.zone_of(MILK) is None and devices["exit-inner-uhf"].field == {}


def test_a_walk_rises_and_falls_inner_then_outer_and_entering_is_reversed() -> None:
    walk = WalkThrough(inner_peak_dbm=(-50, -50), outer_peak_dbm=(-52, -52), edge_dbm=-70, steps=4,
                       pace=(1, 1))
    curve = walk.curve(random.Random(1), "exit-inner", "exit-outer", 10.0)
    zones = [zone for _, zone, _ in curve]
    assert zones == ["exit-inner"] * 4 + ["exit-outer"] * 4 + [""]
    inner = [rssi for _, zone, rssi in curve if zone == "exit-inner"]
    assert inner[0] < inner[1] and inner[2] > inner[3] and max(inner) <= -50
    assert curve[0][0] == 10.0 and curve[-1][0] == pytest.approx(12.0)

    script = ScriptBuilder()
    walk_through(script, ("AAAA",), 0.0, ("exit-inner", "exit-outer"), random.Random(1), walk)
    walk_through(script, ("BBBB",), 0.0, ("exit-inner", "exit-outer"), random.Random(1), walk, entering=True)
    walk_through(script, ("CCCC",), 0.0, ("exit-inner", "exit-outer"), random.Random(1), walk)
    scenario = Scenario("gate", script.steps(), exit_zones=frozenset({"exit-inner", "exit-outer"}),
                        gates=(("exit-inner", "exit-outer"),), allowed=frozenset({"CCCC"}),
                        skus={"AAAA": "MILK-1L", "BBBB": "MILK-1L"})
    outcome = expected_outcome(scenario)
    assert [(t.tag, t.zone) for t in outcome.thefts] == [("EPC:AAAA", "exit-inner")]  # not entering, not staff


def test_static_tags_stand_by_the_gate() -> None:
    plan = load_store_plan(EVAL_STORE)
    profile = NoiseProfile(static_count=8, static_rssi=(-66.0, -60.0), static_outer_share=0.5)
    stock = static_stock(plan, profile, seed=2)
    tags = {epc: zone for zone, epcs in stock.items() for epc in epcs}
    assert len(tags) == 8 and set(stock) <= {"exit-inner", "exit-outer"}
    assert all(-66 <= rssi <= -60 for epcs in stock.values() for rssi in epcs.values())
    assert static_stock(plan, profile, seed=2) == stock
    assert static_stock(load_store_plan(demo_store_path()), NoiseProfile(), 0) == {}


def test_the_evaluation_script_is_seeded_and_its_ground_truth_matches_the_replay() -> None:
    plan = load_store_plan(EVAL_STORE)
    profile = load_noise_profile("default")
    evaluation = evaluation_scenario(plan, profile, 120, seed=4)
    assert evaluation_scenario(plan, profile, 120, seed=4).scenario.steps == evaluation.scenario.steps
    assert evaluation_scenario(plan, profile, 120, seed=5).scenario.steps != evaluation.scenario.steps
    kinds = {p.kind for p in evaluation.passages}
    assert kinds == {"shopper", "put_back", "thief", "staff", "entering", "again"}
    assert len(evaluation.passages) == 120

    outcome = evaluation.scenario.expected_outcome()
    replayed = {tag: purchase.member for purchase in outcome.purchases for tag in purchase.tags}
    assert replayed == {tag: p.member for p in evaluation.passages for tag in p.charged}
    assert {t.tag for t in outcome.thefts} == evaluation.stolen
    assert not {tag for p in evaluation.passages for tag in p.put_back} & set(replayed)

    in_lane: dict[str, str] = {}
    member_lane: dict[str, str] = {}
    for timed in evaluation.scenario.steps:
        step = timed.step
        if isinstance(step, CardIn):
            assert step.reader not in in_lane, f"two members at {step.reader} at {timed.at}"
            assert step.uid not in member_lane, f"{step.uid} in two lanes at {timed.at}"
            in_lane[step.reader] = step.uid
            member_lane[step.uid] = step.reader
        elif isinstance(step, CardOut):
            member_lane.pop(in_lane.pop(step.reader), None)
    # six lanes pay in parallel: far faster than one shopper after another
    assert evaluation.scenario.duration < 120 * 1.5


def _passage(index: int, kind: str, member: str | None, tags: tuple[str, ...]) -> Passage:
    charged = tags if kind == "shopper" else ()
    return Passage(index, kind, member, "lane-1" if member else None, tags, charged, (), 10.0 * index,  # type: ignore[arg-type]
                   kind != "entering")


def test_score_counts_what_a_user_would_notice() -> None:
    plan = load_store_plan(EVAL_STORE)
    base = evaluation_scenario(plan, NoiseProfile(), 3, seed=0)
    passages = (
        _passage(0, "shopper", "E-2001", ("EPC:A1", "EPC:A2")),
        _passage(1, "shopper", "E-2002", ("EPC:B1",)),
        _passage(2, "thief", None, ("EPC:C1",)),
        _passage(3, "staff", None, ("EPC:D1",)),
    )
    evaluation = type(base)(base.scenario, passages)
    lines = [ChargedLine("t1", "E-2001", "EPC:A1"), ChargedLine("t1", "E-2001", "EPC:A2"),
             ChargedLine("t2", "E-2001", "EPC:B1")]  # B1 charged to the wrong member
    alarms = [AlarmRow("EPC:C1", "edge", 12.0, NOW), AlarmRow("EPC:S1", "ingest", None,
              NOW)]
    report = score(evaluation, lines, alarms, committed_wall={"t1": 0.3, "t2": 25.0},
                   walk_wall=lambda p: p.walk_at)
    assert (report.precision, report.recall) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert report.missed_lines == ["EPC:B1"] and report.wrong_lines == ["EPC:B1 charged to E-2001 in t2"]
    assert report.alarm_recall == 1.0 and report.edge_latency_p99_ms == 12.0
    assert report.false_alarm_tags == {"EPC:S1": "static"} and report.false_alarms_by_source == {"ingest": 1}
    assert report.false_alarms_per_1000 == pytest.approx(1000 / 3)
    assert report.transaction_latency_p50_ms == pytest.approx(300.0)
    assert report.misses() and "alarm recall" not in " ".join(report.misses())
    assert percentile([], 0.5) is None and percentile(range(1, 101), 0.99) == 99

"""Scenarios: deterministic for a seed, an expected outcome that follows from the script, a world that gives
each reader exactly the tags in its zone, and a runner that keeps time without sleeping in tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.storefile import StoreFileError, load_store_file
from readers.epc import Sgtin, decode_epc
from simulators.demo import demo_scenario, initial_stock, small_scenario
from simulators.devices import CardReaderDevice, UhfReaderDevice
from simulators.errors import ScenarioError, StorePlanError
from simulators.scenario import (
    CardIn,
    CardOut,
    ExpectedPurchase,
    ExpectedTheft,
    Scenario,
    ScriptBuilder,
    TagsTo,
    expected_outcome,
)
from simulators.storeplan import demo_store_path, load_store_plan, plan_from_mapping, plan_from_store_file
from simulators.world import World, run_scenario


def test_demo_store_items_are_sgtin96_of_their_products() -> None:
    plan = load_store_plan(demo_store_path())
    gtins = {p.sku: p.gtin for p in plan.products}
    assert len(plan.items) == 42 and 5 <= len(plan.members) <= 8 and len(plan.staff) == 1
    assert {p.category for p in plan.products} == {"dairy", "bakery", "snacks", "drinks", "household", "pharmacy"}
    for item in plan.items:
        decoded = decode_epc(item.epc)
        assert isinstance(decoded, Sgtin) and decoded.gtin == gtins[item.sku], item
    assert {z.name for z in plan.zones} == {
        "entrance",
        "shelf-dairy",
        "shelf-dry",
        "cooler-1",
        "backroom",
        "lane-1",
        "lane-2",
        "exit-inner",
        "exit-outer",
    }


def test_same_seed_same_outcome_other_seed_other_outcome() -> None:
    first, again, other = demo_scenario(11), demo_scenario(11), demo_scenario(12)
    assert first.steps == again.steps
    assert first.expected_outcome() == again.expected_outcome()
    assert first.expected_outcome() != other.expected_outcome()


def test_demo_outcome_has_each_shopper_paying_and_one_theft() -> None:
    scenario = demo_scenario(5, shoppers=4)
    outcome = scenario.expected_outcome()
    assert [p.member for p in outcome.purchases] == ["M-1001", "M-1002", "M-1003", "M-1004"]
    assert [p.lane for p in outcome.purchases] == ["lane-1", "lane-2", "lane-1", "lane-2"]
    assert all(1 <= len(p.skus) <= 3 for p in outcome.purchases)
    bought = {tag for p in outcome.purchases for tag in p.tags}
    assert len(bought) == sum(len(p.tags) for p in outcome.purchases)  # no item sold twice
    assert len(outcome.thefts) == 1 and outcome.thefts[0].tag not in bought
    assert outcome.thefts[0].zone == "exit-inner"
    assert outcome.cooler_peak_c == 8.0
    assert outcome.visits == ("M-1001", "M-1002", "M-1003", "M-1004")


def test_lane_rssi_is_strong_and_lanes_never_hold_two_members() -> None:
    scenario = demo_scenario(3, shoppers=6)
    in_lane: dict[str, str] = {}
    for timed in scenario.steps:
        step = timed.step
        if isinstance(step, TagsTo) and step.zone in ("lane-1", "lane-2"):
            assert -55 <= step.rssi <= -40
        if isinstance(step, CardIn) and step.reader in scenario.lane_readers:
            assert step.reader not in in_lane, f"two members at {step.reader} at {timed.at}"
            in_lane[step.reader] = step.uid
        if isinstance(step, CardOut):
            in_lane.pop(step.reader, None)


def test_small_scenario_outcome() -> None:
    outcome = small_scenario().expected_outcome()
    assert outcome.purchases == (
        ExpectedPurchase(
            member="M-1001",
            lane="lane-1",
            skus=("MILK-1L", "YOGURT-500"),
            tags=("EPC:3034F4E4E400004000000001", "EPC:3034F4E4E400008000000001"),
        ),
    )
    assert outcome.thefts == (ExpectedTheft("EPC:3034F4E4E40000C000000001", "BUTTER-250", "exit-inner"),)


def test_item_put_back_while_member_in_lane_is_not_bought() -> None:
    script = ScriptBuilder()
    script.at(0, CardIn("lane-1-card", "0F003A6B5C"))
    script.at(1, TagsTo(("AAAA", "BBBB"), "lane-1", -45))
    script.at(2, TagsTo(("BBBB",), "shelf-dry", -65))
    script.at(3, CardOut("lane-1-card"))
    script.at(4, TagsTo(("AAAA",), "exit", -50))
    scenario = Scenario(
        "put back",
        script.steps(),
        lane_readers={"lane-1-card": "lane-1"},
        exit_zones=frozenset({"exit"}),
        members={"0F003A6B5C": "M-1001"},
        skus={"AAAA": "MILK-1L", "BBBB": "BREAD-RYE"},
    )
    outcome = expected_outcome(scenario)
    assert outcome.purchases == (ExpectedPurchase("M-1001", "lane-1", ("MILK-1L",), ("EPC:AAAA",)),)
    assert outcome.thefts == ()


def test_weak_reads_in_a_lane_are_not_part_of_the_basket() -> None:
    script = ScriptBuilder()
    script.at(0, CardIn("lane-1-card", "0F003A6B5C"))
    script.at(1, TagsTo(("AAAA",), "lane-1", -45))
    script.at(1, TagsTo(("CCCC",), "lane-1", -72))  # a neighbour's item at the edge of the field
    script.at(3, CardOut("lane-1-card"))
    scenario = Scenario("weak", script.steps(), lane_readers={"lane-1-card": "lane-1"})
    assert expected_outcome(scenario).purchases[0].tags == ("EPC:AAAA",)


def test_looping_demo_restocks_with_new_serials() -> None:
    first = demo_scenario(2, loop=True)
    assert first.next_round is not None
    second = first.next_round()
    round0 = {t for p in first.expected_outcome().purchases for t in p.tags}
    round1 = {t for p in second.expected_outcome().purchases for t in p.tags}
    assert round1 and not round0 & round1
    restocked = [s.step for s in second.steps if isinstance(s.step, TagsTo) and s.at == 0.5]
    assert restocked
    for step in restocked:
        for epc in step.epcs:
            decoded = decode_epc(epc)
            assert isinstance(decoded, Sgtin) and decoded.serial >= 100_000
    assert second.next_round is not None


def test_world_gives_each_reader_the_tags_in_its_zone() -> None:
    shelf, lane = UhfReaderDevice("shelf-dry-uhf"), UhfReaderDevice("lane-1-uhf")
    card = CardReaderDevice("lane-1-card")
    world = World(
        {d.name: d for d in (shelf, lane, card)}, {"shelf-dry": "shelf-dry-uhf", "lane-1": "lane-1-uhf"}
    )
    world.place({"shelf-dry": {"AAAA": -60, "BBBB": -62}})
    assert shelf.field == {"AAAA": -60, "BBBB": -62}
    world.apply(TagsTo(("AAAA",), None))
    assert shelf.field == {"BBBB": -62} and lane.field == {}
    world.apply(TagsTo(("AAAA",), "lane-1", -44))
    assert lane.field == {"AAAA": -44}
    world.apply(CardIn("lane-1-card", "0F003A6B5C"))
    assert card.card == "0F003A6B5C"
    with pytest.raises(ScenarioError, match="backroom"):
        world.apply(TagsTo(("AAAA",), "backroom", -60))
    with pytest.raises(ScenarioError, match="nope"):
        world.apply(CardIn("nope", "0F003A6B5C"))


def test_runner_waits_scaled_time_and_stops_when_asked() -> None:
    scenario = small_scenario()
    plan = load_store_plan(demo_store_path())
    devices = {f"{z.name}-uhf": UhfReaderDevice(f"{z.name}-uhf") for z in plan.zones if z.type != "entrance"}
    cards = {
        f"{z.name}-card": CardReaderDevice(f"{z.name}-card")
        for z in plan.zones
        if z.type in ("entrance", "lane")
    }
    world = World({**devices, **cards}, {name.removesuffix("-uhf"): name for name in devices})
    world.place(initial_stock(plan))
    now = [0.0]
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        now[0] += seconds
        return False

    applied = run_scenario(scenario, world, speed=2.0, clock=lambda: now[0], wait=wait)
    assert applied == len(scenario.steps)
    assert now[0] == pytest.approx(scenario.duration / 2.0)
    assert devices["exit-inner-uhf"].field == devices["exit-outer-uhf"].field == {}  # everyone has left
    assert world.zone_of(scenario.steps[2].step.epcs[0]) is None  # type: ignore[union-attr]

    stopped = run_scenario(scenario, world, clock=lambda: 0.0, wait=lambda s: True)
    assert stopped == 1  # the step at t=0 ran, then the wait before the next one said stop


def test_store_file_errors_name_the_entry() -> None:
    store = {"id": "x", "name": "X"}
    with pytest.raises(StorePlanError, match=r"zones\[0\]\.type: .*got 'aisle'"):
        plan_from_mapping({"store": store, "zones": [{"name": "a", "type": "aisle"}]})
    with pytest.raises(StorePlanError, match=r"items\[0\]\.sku: 'NOPE'"):
        plan_from_mapping({"store": store, "items": [{"tag": "EPC:AAAA", "sku": "NOPE"}]})
    with pytest.raises(StorePlanError, match=r"missing\.toml"):
        load_store_plan("missing.toml")


def test_store_plan_refuses_what_the_store_file_loader_refuses(tmp_path: Path) -> None:
    """One parser of the store file: the simulators see exactly what ingest validated."""
    with pytest.raises(StorePlanError, match=r"store\.name: required but missing") as raised:
        plan_from_mapping({"store": {"id": "x"}})
    assert isinstance(raised.value.__cause__, StoreFileError)
    with pytest.raises(StorePlanError, match=r"zones\[0\]\.colour: unknown key"):
        plan_from_mapping(
            {"store": {"id": "x", "name": "X"}, "zones": [{"name": "a", "type": "shelf", "colour": 1}]}
        )
    bad = tmp_path / "bad.toml"
    bad.write_text('[store]\nid = "x"\nname = "X"\n[[products]]\nsku = "A"\nname = "A"\nprice = "-1"\n')
    with pytest.raises(StorePlanError, match=r"bad\.toml: products\[0\]\.price"):
        load_store_plan(bad)
    assert load_store_plan(demo_store_path()) == plan_from_store_file(
        load_store_file(demo_store_path()), str(demo_store_path())
    )

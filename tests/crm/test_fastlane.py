"""The fast-lane reward's gate: it opens for a member holding a valid reward, once per arrival, and says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from crm.fastlane import CLOSED_RULE, OPEN_RULE, active_reward, fast_lane_decision
from crm.model import Offer
from crm.offers import FAST_LANE
from crm.settings import FastLane

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
LANE = FastLane(zone="lane-2", gateway="gw1", actuator="fast-gate", open_s=5.0)


def reward(start: datetime, days: int = 14, sku: str = FAST_LANE, kind: str = "reward") -> Offer:
    return Offer(f"ann:ann:{start:%Y%m%d}:{sku}", "ann", sku, kind, Decimal("0"), None,  # type: ignore[arg-type]
                 start, start + timedelta(days=days), "fast lane")


def test_a_valid_reward_opens_the_gate_and_the_reason_names_its_end() -> None:
    held = reward(NOW - timedelta(days=1))
    record = fast_lane_decision("ann", "lane-2", NOW, LANE, [held], None)
    assert record is not None
    assert (record.kind, record.rule, record.data) == ("offer", OPEN_RULE, {"opened": "true", "offer_id": held.id})
    assert record.reason == "fast lane opened for 5 s: your fast-lane reward is valid until 15 Mar 2026"
    assert record.context["actuator"] == "fast-gate"


def test_no_reward_an_expired_one_or_a_price_offer_keeps_it_closed_with_a_reason() -> None:
    for held in ([], [reward(NOW - timedelta(days=14))], [reward(NOW + timedelta(seconds=1))],
                 [reward(NOW - timedelta(days=1), sku="MILK-1L")], [reward(NOW - timedelta(days=1), kind="price")]):
        record = fast_lane_decision("ann", "lane-2", NOW, LANE, held, None)
        assert record is not None and (record.kind, record.rule) == ("refusal", CLOSED_RULE), held
        assert "no active fast-lane reward" in record.reason


def test_one_arrival_is_one_decision_and_other_zones_decide_nothing() -> None:
    held = [reward(NOW - timedelta(days=1))]
    assert fast_lane_decision("ann", "lane-1", NOW, LANE, held, None) is None
    assert fast_lane_decision("ann", "lane-2", NOW, LANE, held, NOW - timedelta(seconds=4.9)) is None
    assert fast_lane_decision("ann", "lane-2", NOW, LANE, held, NOW - timedelta(seconds=5)) is not None
    assert fast_lane_decision("ann", "lane-2", NOW, LANE, held, NOW + timedelta(seconds=1)) is not None  # reordered


def test_the_longest_valid_reward_is_the_one_named() -> None:
    short, long = reward(NOW - timedelta(days=10)), reward(NOW - timedelta(days=1))
    assert active_reward([long, short], NOW) == long
    assert active_reward([short], NOW + timedelta(days=4)) is None

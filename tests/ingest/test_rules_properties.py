"""Properties of the rules engine under any order and any redelivery of a store's reads."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.rules.model import BasketChanged, Decision, Sighting, TheftAlarm, TransactionCommitted
from tests.ingest.test_rules_engine import (
    ADA,
    BOB,
    BREAD,
    COFFEE,
    MILK,
    MILK2,
    STRANGER,
    ada_buys_three,
    engine,
    read,
    run,
    t,
)

# Two members shopping in two lanes, with cross-reads, a lane conflict, put-backs, the exit, and time.
POOL: list[Sighting | datetime] = [
    *ada_buys_three(),
    read(BOB, "lane-2", 10),
    read(MILK2, "lane-2", 11),
    read(MILK, "lane-2", 12, rssi=-60),  # cross-read of Ada's milk
    read(COFFEE, "lane-2", 12, count=1),
    read(MILK2, "lane-2", 14, "left", first=11),
    read(BOB, "lane-1", 15),  # Bob wanders into Ada's lane
    read(BOB, "lane-1", 16, "left", first=15),
    read(BOB, "lane-2", 21, "left", first=10),
    read(ADA, "lane-1", 22, first=22),
    read(ADA, "lane-1", 25, "left", first=22),
    read(MILK, "exit", 23),
    read(BREAD, "exit", 23),
    read(MILK2, "exit", 24),
    read(COFFEE, "exit", 24),
    read(ADA, "exit", 24),
    read(BOB, "exit", 26),
    read(STRANGER, "exit", 26),
    t(24),
    t(30),
    t(60),
]


def check_invariants(decisions: list[Decision]) -> None:
    sold_by: dict[str, str] = {}
    transactions: set[str] = set()
    for decision in decisions:
        if isinstance(decision, TransactionCommitted):
            assert decision.transaction_id not in transactions, "a basket committed twice"
            transactions.add(decision.transaction_id)
            assert decision.lines, "an empty basket committed"
            for line in decision.lines:
                assert line.tag not in sold_by, f"{line.tag} sold twice"
                sold_by[line.tag] = decision.transaction_id
            assert decision.total == sum((line.unit_price for line in decision.lines), Decimal(0))
            assert decision.points == math.floor(decision.total)
        elif isinstance(decision, BasketChanged) and decision.change == "added":
            assert decision.tag not in sold_by, f"sold {decision.tag} joined another basket"
        elif isinstance(decision, TheftAlarm):
            assert decision.tag not in sold_by, f"sold {decision.tag} sounded the alarm"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(POOL), max_size=80))
def test_any_order_and_redelivery_never_sells_twice_or_commits_twice(steps: list[Sighting | datetime]) -> None:
    check_invariants(run(engine(), steps))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=3), min_size=len(POOL), max_size=len(POOL)))
def test_redelivering_reads_in_order_decides_exactly_what_one_delivery_does(copies: list[int]) -> None:
    once = run(engine(), POOL)
    repeated = run(engine(), [step for step, n in zip(POOL, copies, strict=True) for _ in range(n)])
    assert repeated == once
    check_invariants(once)
    assert any(isinstance(d, TransactionCommitted) for d in once)

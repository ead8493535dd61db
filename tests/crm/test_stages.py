"""Relationship stage machine and its recorded transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from crm.model import Purchase, Visit
from crm.settings import CrmSettings
from crm.stages import STAGES, StageMachine, stage_facts, stage_of, stage_transitions

T0 = datetime(2026, 1, 5, 10, tzinfo=UTC)
S = CrmSettings()


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def visit(n: float, bought: bool = False) -> Visit:
    return Visit(member="m", at=day(n), bought=bought)


def buy(n: float, tx: str | None = None) -> Purchase:
    return Purchase(
        member="m",
        sku="BREAD",
        category="bakery",
        brand="store",
        price=Decimal("2.40"),
        at=day(n),
        transaction_id=tx or f"t{n}",
    )


def test_known_member_without_visits_is_aware() -> None:
    assert stage_of([], [], day(0), S) == "awareness"


def test_first_visit_is_exploration() -> None:
    assert stage_of([visit(0)], [], day(0), S) == "exploration"
    # a visit after 'now' has not happened yet
    assert stage_of([visit(1)], [], day(0), S) == "awareness"


def test_the_third_purchase_moves_exploration_to_expansion() -> None:
    visits = [visit(0, True), visit(7, True), visit(14, True)]
    two = [buy(0), buy(7)]
    assert stage_of(visits, two, day(14) - timedelta(seconds=1), S) == "exploration"
    assert stage_of(visits, [*two, buy(14)], day(14), S) == "expansion"


def test_lines_of_one_basket_are_one_purchase() -> None:
    same_basket = [buy(0, tx="t"), buy(0, tx="t"), buy(0, tx="t")]
    assert stage_of([visit(0, True)], same_basket, day(1), S) == "exploration"


def test_commitment_after_eight_weeks_of_steady_purchases() -> None:
    weekly = [buy(7 * w) for w in range(9)]  # weeks 0..8: a span of exactly 8 weeks
    assert stage_of([], weekly[:-1], day(49), S) == "expansion"  # 7 weeks
    assert stage_of([], weekly, day(56), S) == "commitment"


def test_a_gap_above_three_weeks_breaks_the_steady_run() -> None:
    gappy = [buy(0), buy(7), buy(29), buy(36), buy(43), buy(50), buy(57)]  # 22-day gap
    assert stage_of([], gappy, day(57), S) == "expansion"
    steady = [buy(0), buy(7), buy(28), buy(35), buy(42), buy(49), buy(56)]  # 21-day gap
    assert stage_of([], steady, day(56), S) == "commitment"


def test_dissolution_at_exactly_60_idle_days() -> None:
    ps = [buy(0), buy(7), buy(14)]
    assert stage_of([], ps, day(14 + 60) - timedelta(seconds=1), S) == "expansion"
    assert stage_of([], ps, day(14 + 60), S) == "dissolution"


def test_a_visit_without_purchase_does_not_undo_dissolution() -> None:
    ps = [buy(0), buy(7), buy(14)]
    assert stage_of([visit(80)], ps, day(80), S) == "dissolution"


def test_a_purchase_brings_a_dissolved_member_back() -> None:
    ps = [buy(0), buy(7), buy(14)]
    assert stage_of([], ps, day(100), S) == "dissolution"
    assert stage_of([], [*ps, buy(100)], day(100), S) == "expansion"
    single = [buy(0)]
    assert stage_of([], [*single, buy(100)], day(100), S) == "exploration"


def test_visitor_who_never_bought_dissolves_from_the_last_visit() -> None:
    assert stage_of([visit(0)], [], day(59), S) == "exploration"
    assert stage_of([visit(0)], [], day(60), S) == "dissolution"


def test_thresholds_come_from_settings() -> None:
    quick = CrmSettings(expansion_after_purchases=1, dissolution_after_days_idle=10)
    assert stage_of([], [buy(0)], day(0), quick) == "expansion"
    assert stage_of([], [buy(0)], day(10), quick) == "dissolution"
    picky = CrmSettings(exploration_after_visits=2)
    assert stage_of([visit(0)], [], day(0), picky) == "awareness"
    assert stage_of([visit(0), visit(1)], [], day(1), picky) == "exploration"


def test_facts_explain_the_stage() -> None:
    f = stage_facts([], [buy(0), buy(7), buy(14)], day(20), S)
    assert f.stage == "expansion"
    assert f.rule == "stage.expansion"
    assert "3 purchases" in f.reason and "threshold 3" in f.reason
    assert f.days_idle == 6


def test_transitions_are_recorded_with_rule_reason_and_time() -> None:
    visits = [visit(0), visit(3, True), visit(10, True), visit(17, True)]
    ps = [buy(3), buy(10), buy(17)]
    records = stage_transitions("m", visits, ps, day(200), S)
    assert [(r.data["from"], r.data["to"]) for r in records] == [
        ("awareness", "exploration"),
        ("exploration", "expansion"),
        ("expansion", "dissolution"),
    ]
    assert [r.at for r in records] == [day(0), day(17), day(17 + 60)]
    assert all(r.kind == "stage" and r.member == "m" for r in records)
    assert records[1].rule == "stage.expansion"
    assert records[1].context["purchases"] == "3"
    assert "idle 60 days" in records[2].reason
    # only the changes after 'since'
    later = stage_transitions("m", visits, ps, day(200), S, since=day(17))
    assert [r.data["to"] for r in later] == ["dissolution"]


def test_transitions_include_the_return_from_dissolution() -> None:
    ps = [buy(0), buy(7), buy(14), buy(120)]
    records = StageMachine(S).transitions("m", [], ps, day(120))
    assert [r.data["to"] for r in records] == ["exploration", "expansion", "dissolution", "expansion"]
    assert records[-1].at == day(120)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 300), max_size=12),
    st.lists(st.integers(0, 300), max_size=12),
    st.integers(0, 400),
)
def test_replayed_transitions_end_in_the_current_stage(
    visit_days: list[int], buy_days: list[int], now_day: int
) -> None:
    visits = [visit(d) for d in visit_days]
    ps = [buy(d) for d in buy_days]
    now = day(now_day)
    stage = stage_of(visits, ps, now, S)
    assert stage in STAGES
    records = stage_transitions("m", visits, ps, now, S)
    assert (records[-1].data["to"] if records else "awareness") == stage
    for a, b in pairwise(records):
        assert a.at <= b.at and a.data["to"] == b.data["from"]

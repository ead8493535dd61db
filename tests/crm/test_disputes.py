"""The dispute decision table: refund the unknown, keep the regular, ask a human otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from crm.disputes import decide_dispute, dispute_record
from crm.model import Consent, MemberProfile, Purchase

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
ANN = MemberProfile("ann", "h1", NOW - timedelta(days=300), Consent(offers=True))


def bought(n: int, sku: str = "beer", member: str = "ann") -> list[Purchase]:
    return [
        Purchase(
            member, sku, "drinks", "national", Decimal("6.00"), NOW - timedelta(days=7 * (i + 1)), f"t{i}"
        )
        for i in range(n)
    ]


def test_never_bought_and_alone_is_refunded() -> None:
    outcome = decide_dispute(ANN, "beer", bought(3, sku="milk") + bought(4, member="bob"), [])
    assert outcome.status == "refunded" and outcome.rule == "never_bought_alone"
    assert "never bought" in outcome.reason


def test_never_bought_but_household_member_in_the_visit_needs_a_human() -> None:
    outcome = decide_dispute(ANN, "beer", [], ["ann", "bob"])
    assert outcome.status == "needs_human" and "household" in outcome.reason


def test_the_member_alone_in_the_visit_list_is_not_another_household_member() -> None:
    assert decide_dispute(ANN, "beer", [], ["ann"]).status == "refunded"


def test_one_earlier_purchase_needs_a_human() -> None:
    outcome = decide_dispute("ann", "beer", bought(1), [])
    assert outcome.status == "needs_human" and "once" in outcome.reason


def test_a_regular_buyer_keeps_the_charge_from_two_earlier_purchases() -> None:
    outcome = decide_dispute(ANN, "beer", bought(2), [])
    assert outcome.status == "kept" and outcome.rule == "regular_buyer" and "2 times" in outcome.reason
    assert decide_dispute(ANN, "beer", bought(2), ["bob"]).status == "kept"


def test_the_disputed_transaction_itself_is_not_history() -> None:
    history = bought(2)
    assert decide_dispute(ANN, "beer", history, [], transaction_id="t0").status == "needs_human"
    assert decide_dispute(ANN, "beer", history[:1], [], transaction_id="t0").status == "refunded"


def test_the_outcome_is_recorded_with_its_reason() -> None:
    outcome = decide_dispute(ANN, "beer", [], [])
    record = dispute_record("ann", "beer", "tx9", outcome, NOW)
    assert record.kind == "dispute" and record.rule == outcome.rule and record.reason == outcome.reason
    assert record.data == {"sku": "beer", "transaction_id": "tx9", "status": "refunded"}

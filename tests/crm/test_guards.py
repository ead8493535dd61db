"""Guard rails: a test per warning — consent, sensitive products, open disputes, never twice, frequency cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from crm import guards
from crm.model import Consent, MemberProfile, Offer, ProductInfo
from crm.settings import CrmSettings

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
S = CrmSettings()
PADS = ProductInfo("pads", "Sanitary pads", "hygiene", "national", Decimal("4.00"), sensitive=True)
MILK = ProductInfo("milk", "Organic milk 1 l", "dairy", "national", Decimal("2.00"))


def member(
    offers: bool = True, reminders: bool = False, dispute: bool = False, cap: int = 2
) -> MemberProfile:
    return MemberProfile("m1", None, NOW - timedelta(days=400), Consent(offers, reminders), cap, dispute)


def earlier(sku: str, deal: str | None, active_to: datetime, oid: str = "m1:m1:20260216:milk") -> Offer:
    return Offer(
        oid, "m1", sku, "price", Decimal("0.10"), deal, active_to - timedelta(days=14), active_to, "x"
    )


def test_no_consent_means_no_offer() -> None:
    refusal = guards.consent_guard(member(offers=False))
    assert refusal is not None and refusal.rule == guards.NO_CONSENT and "not agreed" in refusal.reason
    assert guards.consent_guard(member(offers=True)) is None


def test_sensitive_product_gets_no_offer_without_reminder_opt_in() -> None:
    refusal = guards.sensitive_guard(member(), PADS, S)
    assert refusal is not None and refusal.rule == guards.SENSITIVE and refusal.sku == "pads"
    assert guards.sensitive_guard(member(reminders=True), PADS, S) is None
    assert guards.sensitive_guard(member(), MILK, S) is None


def test_a_category_configured_sensitive_is_sensitive() -> None:
    settings = CrmSettings(sensitive_categories=frozenset({"dairy"}))
    refusal = guards.sensitive_guard(member(), MILK, settings)
    assert refusal is not None and refusal.rule == guards.SENSITIVE


def test_open_dispute_suppresses_promotions() -> None:
    refusal = guards.check_guards(member(dispute=True), 0, S)
    assert refusal is not None and refusal.rule == guards.OPEN_DISPUTE
    assert guards.check_guards(member(), 0, S) is None


def test_never_the_same_offer_twice_while_the_earlier_is_valid() -> None:
    new_id = "m1:m1:20260302:milk"
    still_valid = [earlier("milk", "d1", NOW + timedelta(seconds=1))]
    refusal = guards.never_twice_guard(member(), "milk", "d1", new_id, NOW, still_valid)
    assert refusal is not None and refusal.rule == guards.NEVER_TWICE
    # boundary: the earlier one ended exactly when the new one starts
    assert guards.never_twice_guard(member(), "milk", "d1", new_id, NOW, [earlier("milk", "d1", NOW)]) is None
    # another deal, another sku, or the very same offer regenerated: not a repeat
    assert guards.never_twice_guard(member(), "milk", "d2", new_id, NOW, still_valid) is None
    assert guards.never_twice_guard(member(), "eggs", "d1", new_id, NOW, still_valid) is None
    same = [earlier("milk", "d1", NOW + timedelta(days=3), oid=new_id)]
    assert guards.never_twice_guard(member(), "milk", "d1", new_id, NOW, same) is None


def test_frequency_cap_is_the_tighter_of_member_and_store_limit() -> None:
    assert guards.frequency_cap_guard(member(cap=2), 1, S) is None
    refusal = guards.frequency_cap_guard(member(cap=2), 2, S)
    assert refusal is not None and refusal.rule == guards.FREQUENCY_CAP and "limit 2" in refusal.reason
    one = guards.frequency_cap_guard(member(cap=1), 1, S)
    assert one is not None and "limit 1" in one.reason
    assert guards.frequency_cap_guard(member(cap=5), 2, S) is not None  # the store's limit of 2 wins
    assert (
        guards.check_guards(member(), 2, S, regeneration=True) is None
    )  # the same list again is no new contact


def test_member_guards_report_consent_first() -> None:
    refusal = guards.check_guards(member(offers=False, dispute=True), 9, S)
    assert refusal is not None and refusal.rule == guards.NO_CONSENT

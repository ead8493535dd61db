"""Guard rails: each rule either lets an offer through or says, by name, why not.

Every guard returns ``Refusal | None``; ``None`` means "this rule does not object".
The rules answer the warnings in docs/crm.md: offers only within consent, no
reminders for sensitive products, no selling while a problem is unresolved,
never the same offer twice, and a cap on how often a member is contacted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from crm.model import MemberProfile, Offer, ProductInfo, Refusal
from crm.settings import CrmSettings

NO_CONSENT = "no_consent"
SENSITIVE = "sensitive_category"
OPEN_DISPUTE = "open_dispute"
NEVER_TWICE = "never_twice"
FREQUENCY_CAP = "frequency_cap"
SPEND_THRESHOLD = "spend_threshold"


def consent_guard(member: MemberProfile) -> Refusal | None:
    """No offer at all unless the member opted into offers."""
    if member.consent.offers:
        return None
    return Refusal(member.id, None, NO_CONSENT, "the member has not agreed to receive offers")


def open_dispute_guard(member: MemberProfile) -> Refusal | None:
    """No promotion while the member has an unresolved dispute."""
    if not member.open_dispute:
        return None
    return Refusal(
        member.id, None, OPEN_DISPUTE, "the member has an open dispute; no promotions until it is resolved"
    )


def is_sensitive(product: ProductInfo, settings: CrmSettings) -> bool:
    return product.sensitive or product.category in settings.sensitive_categories


def sensitive_guard(member: MemberProfile, product: ProductInfo, settings: CrmSettings) -> Refusal | None:
    """Sensitive products get no reminder or offer unless the member opted into reminders."""
    if not is_sensitive(product, settings) or member.consent.reminders:
        return None
    return Refusal(
        member.id,
        product.sku,
        SENSITIVE,
        f"{product.name} is a sensitive product; no reminders or offers without the member's opt-in",
    )


def never_twice_guard(
    member: MemberProfile,
    sku: str,
    deal_id: str | None,
    offer_id: str,
    active_from: datetime,
    already_offered: Sequence[Offer],
) -> Refusal | None:
    """The same offer (sku + deal) is not made again while an earlier one is still valid.

    An earlier offer with the same ``offer_id`` is this very offer (a regeneration of the
    same list) and does not count.
    """
    for earlier in already_offered:
        if earlier.member != member.id or earlier.id == offer_id:
            continue
        if earlier.sku == sku and earlier.deal_id == deal_id and earlier.active_to > active_from:
            return Refusal(
                member.id,
                sku,
                NEVER_TWICE,
                f"the same offer ({earlier.id}) is still valid until {earlier.active_to:%d %b %Y}",
            )
    return None


def contact_cap(member: MemberProfile, settings: CrmSettings) -> int:
    """The tighter of the member's own limit and the store's limit."""
    return min(member.max_contacts_per_week, settings.max_contacts_per_week)


def frequency_cap_guard(
    member: MemberProfile, contacts_this_week: int, settings: CrmSettings
) -> Refusal | None:
    """At most ``contact_cap`` lists or messages per member per week."""
    cap = contact_cap(member, settings)
    if contacts_this_week < cap:
        return None
    return Refusal(
        member.id,
        None,
        FREQUENCY_CAP,
        f"already contacted {contacts_this_week} times this week (limit {cap})",
    )


def check_guards(
    member: MemberProfile, contacts_this_week: int, settings: CrmSettings, *, regeneration: bool = False
) -> Refusal | None:
    """The member-level guards, in order; the first objection wins.

    ``regeneration`` (the same list generated again) is not a new contact, so the
    frequency cap does not apply to it.
    """
    for refusal in (
        consent_guard(member),
        open_dispute_guard(member),
        None if regeneration else frequency_cap_guard(member, contacts_this_week, settings),
    ):
        if refusal is not None:
            return refusal
    return None


def check_offer_guards(
    member: MemberProfile,
    product: ProductInfo,
    deal_id: str | None,
    offer_id: str,
    active_from: datetime,
    already_offered: Sequence[Offer],
    settings: CrmSettings,
) -> Refusal | None:
    """The per-offer guards, in order; the first objection wins."""
    return sensitive_guard(member, product, settings) or never_twice_guard(
        member, product.sku, deal_id, offer_id, active_from, already_offered
    )

"""The member and marketing API and pages: reads through the repository, figures from the pure ``crm`` rules."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib.resources import files
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from crm.figures import Campaign, unit_acquisition_cost
from crm.model import Consent
from dashboard import crm_reads as reads
from dashboard.auth import Admin, Operator
from dashboard.crm_schemas import (
    AcquisitionOut,
    CampaignIn,
    CampaignOut,
    ConsentIn,
    ConsentOut,
    CurvePointOut,
    CycleOut,
    DecisionOut,
    DisputeIn,
    DisputeOut,
    DisputeOutcomeOut,
    DisputeResolveIn,
    FunnelStepOut,
    GridCellOut,
    HouseholdMemberOut,
    HouseholdOut,
    LinkIn,
    LinkOut,
    ListOut,
    MarketingOut,
    MemberCrmOut,
    MemberRowOut,
    OfferOut,
    PairOut,
    ParetoOut,
    PurchaseOut,
    RedemptionWeekOut,
    RetentionOut,
    RfmOut,
    SegmentOut,
    StageOut,
    ValueOut,
)
from dashboard.crm_view import (
    StoreFigures,
    StoreHistory,
    household_totals,
    marketing,
    member_figures,
    store_figures,
)
from dashboard.crm_writes import DisputeResult, dispute, resolve_by_staff, write
from dashboard.deps import DbEngine, Settings
from dashboard.member_link import link_secret, sign
from dashboard.schemas import ROW_ID_MAX, money
from ingest.db import crm_repo, repo
from ingest.db.errors import DatabaseError, NotFound

router = APIRouter(prefix="/api", tags=["members"], responses={401: {"description": "No login, or a wrong one"}})
pages = APIRouter(include_in_schema=False)
MemberId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", description="Member id")]
DisputeId = Annotated[int, Path(ge=1, le=ROW_ID_MAX, description="The dispute's id.")]
STATIC = FilePath(str(files("dashboard") / "static"))


def _share(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _history(conn: Connection, store: str | None, now: datetime) -> StoreHistory:
    found = reads.store_of(conn, store)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no store in the database yet")
    return reads.load_history(conn, found, now)


def decision_out(d: Any) -> DecisionOut:
    return DecisionOut(kind=d.kind, rule=d.rule, reason=d.reason, at=d.at, data={k: str(v) for k, v in d.data.items()},
                       context={k: str(v) for k, v in d.context.items()})


@router.get("/members/{member_id}/crm", response_model=MemberCrmOut, summary="A member's value, segments, stage,"
            " cycles, offers, lists, history, consent, disputes and decisions",
            responses={404: {"description": "No such member"}})
def get_member_crm(_: Operator, engine: DbEngine, member_id: MemberId) -> MemberCrmOut:
    now = datetime.now(UTC)
    with engine.connect() as conn:
        row = crm_repo.member_row(conn, member_id)
        profile = repo.get_member(conn, member_id, recent=0)
        if row is None or profile is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no member {member_id!r}")
        return _member_out(conn, row, profile, reads.load_history(conn, profile.store, now))


def _member_out(conn: Connection, row: crm_repo.MemberCrmRow, profile: repo.MemberProfile,
                h: StoreHistory) -> MemberCrmOut:
    member = row.id
    store = store_figures(h)
    figures = member_figures(h, store, member)
    v = figures.value
    names = {sku: p.name for sku, p in h.products.items()}
    transitions = [decision_out(d) for d in figures.transitions]
    lists = reads.member_lists(conn, member)
    return MemberCrmOut(
        id=member, name=row.name, household=row.household,
        household_totals=None if row.household is None else household_out(conn, h, store, row.household),
        joined_at=row.joined_at,
        consent=consent_out(row),
        max_contacts_per_week=row.max_contacts_per_week, visits=profile.visits, points=profile.points,
        transaction_count=profile.transaction_count, total_spent=money(profile.total_spent),
        last_purchase=profile.last_purchase,
        list_eligible=v.weekly_spend >= h.settings.spend_threshold_per_week,
        value=ValueOut(historical=money(v.historical), current=money(v.current), potential=money(v.potential),
                       lifetime=money(v.lifetime), weekly_spend=money(v.weekly_spend.quantize(Decimal("0.01"))),
                       window_days=h.settings.current_window_days),
        rfm=None if figures.rfm is None else RfmOut(r=figures.rfm.r, f=figures.rfm.f, m=figures.rfm.m),
        abc=figures.abc,
        segments=[SegmentOut(category=c or "—", loyalty=lo, usage=us, spend=money(s))
                  for c, lo, us, s in figures.segments],
        stage=StageOut(current=figures.stage, since=transitions[-1].at if transitions else None,
                       transitions=list(reversed(transitions))),
        cycles=[CycleOut(sku=sku, name=names.get(sku, sku), mean_interval_days=format(days.quantize(Decimal("0.1")), "f"),
                         count=count, last=last, next_due=due)
                for sku, days, count, last, due in figures.cycles],
        offers=offers_out(conn, member, names),
        lists=[ListOut(id=r.id, period_start=r.period_start, generated_at=r.generated_at,
                       offers=len((r.content or {}).get("offers", [])),
                       refusals=[{k: None if x is None else str(x) for k, x in f.items()}
                                 for f in (r.content or {}).get("refusals", [])])
               for r in lists],
        history=[PurchaseOut(transaction_id=tx.id, at=tx.at, items=[x.name for x in lines],
                             total=money(Decimal(tx.total)), saved=money(Decimal(tx.saved or "0")))
                 for tx, lines in reads.member_transactions(conn, member)],
        disputes=disputes_out(conn, profile.store, member),
        decisions=[decision_out(d) for d in crm_repo.member_decisions(conn, member)],
    )


def consent_out(row: crm_repo.MemberCrmRow) -> ConsentOut:
    return ConsentOut(offers=row.consent.offers, reminders=row.consent.reminders, data_sharing=row.consent.data_sharing,
                      changed_at=datetime.fromisoformat(row.consent_changed_at) if row.consent_changed_at else None)


def offers_out(conn: Connection, member: str, names: Mapping[str, str]) -> list[OfferOut]:
    """The member's offers, each with why it was made."""
    return [OfferOut(id=o.offer.id, sku=o.offer.sku, name=names.get(o.offer.sku, o.offer.sku), kind=o.offer.kind,
                     discount_abs=money(o.offer.discount_abs), deal_id=o.offer.deal_id,
                     active_from=o.offer.active_from, active_to=o.offer.active_to, status=o.status,
                     reason=o.offer.reason, redeemed_at=o.redeemed_at, transaction_id=o.transaction_id)
            for o in crm_repo.member_offers(conn, member)]


def disputes_out(conn: Connection, store: str, member: str) -> list[DisputeOut]:
    """The member's disputes and their outcomes, newest first."""
    return [DisputeOut(id=d.id, transaction_id=d.transaction_id, tag=d.tag, opened_at=d.opened_at, reason=d.reason,
                       status=d.status, rule=d.rule, resolution=d.resolution, resolved_at=d.resolved_at)
            for d in crm_repo.disputes(conn, store, member=member)]


def household_out(conn: Connection, h: StoreHistory, store: StoreFigures, household: str) -> HouseholdOut:
    """The household's totals as the member page and the member's own page show them."""
    totals = household_totals(h, store.values, household)
    return HouseholdOut(id=household, name=reads.household_name(conn, household),
                        members=[HouseholdMemberOut(id=m, name=h.names.get(m, m)) for m in totals.members],
                        historical=money(totals.historical), current=money(totals.current), visits=totals.visits,
                        purchases=totals.purchases)


@router.post("/members/{member_id}/consent", response_model=MemberCrmOut,
             summary="Change a member's consent; revoking offers withdraws their active offers at once",
             responses={404: {"description": "No such member"}})
def post_consent(_: Operator, engine: DbEngine, member_id: MemberId, body: ConsentIn) -> MemberCrmOut:
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            crm_repo.set_consent(conn, member_id, Consent(body.offers, body.reminders, body.data_sharing), now)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return get_member_crm(_, engine, member_id)


@router.post("/members/{member_id}/link", response_model=LinkOut,
             summary="Issue a member's own link: it shows that member (and nobody else) their purchases, charges,"
             " offers, refusals and disputes with the reasons, and lets them dispute a charge; no login needed",
             responses={404: {"description": "No such member"}})
def post_member_link(_: Operator, engine: DbEngine, request: Request, member_id: MemberId,
                     body: LinkIn) -> LinkOut:
    with engine.connect() as conn:
        if crm_repo.member_row(conn, member_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no member {member_id!r}")
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=body.valid_days)
    return LinkOut(member=member_id, url=f"/me/{sign(link_secret(request), member_id, expires)}", expires_at=expires)


@router.post("/disputes", response_model=DisputeOutcomeOut, summary="A member disputes a charged item: the decision"
             " table refunds, keeps or sends it to a person, and the outcome is published",
             responses={404: {"description": "No such sale line for this member"},
                        409: {"description": "That item is already disputed"}})
def post_dispute(_: Operator, engine: DbEngine, body: DisputeIn) -> DisputeOutcomeOut:
    return decide_dispute(engine, body.member, body.transaction_id, body.tag, body.reason)


def decide_dispute(engine: Engine, member: str, transaction_id: str, tag: str, reason: str) -> DisputeOutcomeOut:
    """Open and decide the member's dispute of a charged item: 404 for no such line of theirs, 409 if disputed."""
    now = datetime.now(UTC)
    try:
        found = write(engine, lambda conn: dispute(conn, member, transaction_id, tag, reason, now))
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except DatabaseError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return outcome_out(found)


def outcome_out(found: DisputeResult) -> DisputeOutcomeOut:
    return DisputeOutcomeOut(id=found.id, member=found.member, transaction_id=found.transaction_id, tag=found.tag,
                             sku=found.sku, status=found.status, rule=found.rule, reason=found.reason)


@router.post("/disputes/{dispute_id}/resolve", response_model=DisputeOutcomeOut,
             summary="A member of staff decides a dispute the decision table left to a person; the outcome is"
             " published", responses={404: {"description": "No such dispute"},
                                      409: {"description": "The dispute is not waiting for a person"}})
def post_dispute_resolution(who: Operator, engine: DbEngine, dispute_id: DisputeId, body: DisputeResolveIn) -> DisputeOutcomeOut:
    now = datetime.now(UTC)
    try:
        found = write(engine, lambda conn: resolve_by_staff(conn, dispute_id, body.status, body.reason, who.login, now))
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except DatabaseError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return outcome_out(found)


@router.post("/campaigns", response_model=CampaignOut,
             summary="Enter an acquisition campaign's cost and dates (admin)",
             responses={403: {"description": "An operator login: changes need an admin"}})
def post_campaign(_: Admin, engine: DbEngine, settings: Settings, body: CampaignIn) -> CampaignOut:
    try:
        with engine.begin() as conn:
            store = reads.store_of(conn, body.store or settings.store)
            if store is None:
                raise HTTPException(status.HTTP_400_BAD_REQUEST, "no store in the database yet")
            campaign_id = f"C-{len(crm_repo.campaigns(conn, store)) + 1:04d}-{int(body.started_at.timestamp())}"
            crm_repo.add_campaign(conn, store, campaign_id, body.name, body.cost, body.started_at, body.ended_at)
            h = reads.load_history(conn, store, datetime.now(UTC))
    except DatabaseError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except IntegrityError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"the database refused the campaign: {exc.orig}") from None
    campaign = Campaign(body.name, body.cost, body.started_at, body.ended_at)
    unit = unit_acquisition_cost(campaign, h.profiles.values())
    acquired = sum(1 for p in h.profiles.values() if body.started_at <= p.joined_at < body.ended_at)
    return CampaignOut(id=campaign_id, name=body.name, cost=money(body.cost), started_at=body.started_at,
                       ended_at=body.ended_at, acquired=acquired, unit_cost=None if unit is None else money(unit))


@router.get("/marketing", response_model=MarketingOut, summary="Funnel, segments, Pareto, acquisition, retention,"
            " redemptions and co-purchase pairs")
def get_marketing(_: Operator, engine: DbEngine, settings: Settings) -> MarketingOut:
    now = datetime.now(UTC)
    with engine.connect() as conn:
        h = _history(conn, settings.store, now)
    m = marketing(h)
    figures = store_figures(h)
    names = {sku: p.name for sku, p in h.products.items()}
    total_cost = sum((c.cost for c, _, _ in m.campaigns), Decimal("0"))
    acquired = sum(n for _, n, _ in m.campaigns)
    return MarketingOut(
        period_from=m.period_from, period_to=m.period_to, member_count=len(h.profiles),
        funnel=[FunnelStepOut(step=step, count=n) for step, n in m.funnel],
        segment_grid=[GridCellOut(loyalty=lo, usage=us, count=n) for lo, us, n in m.grid],
        pareto=ParetoOut(
            members=[CurvePointOut(share=_share(x) or "0", revenue_share=_share(y) or "0") for x, y in m.pareto_members],
            products=[CurvePointOut(share=_share(x) or "0", revenue_share=_share(y) or "0")
                      for x, y in m.pareto_products],
            top20_members=_share(m.top20_members), top20_products=_share(m.top20_products),
        ),
        acquisition=AcquisitionOut(
            rate=_share(m.acquisition_rate), new_members=m.new_members, visitors=m.visitors,
            unit_cost=money((total_cost / acquired).quantize(Decimal("0.01"))) if acquired else None,
            campaign_cost=money(total_cost),
            campaigns=[CampaignOut(id=str(i), name=c.name, cost=money(c.cost), started_at=c.started_at,
                                   ended_at=c.ended_at, acquired=n, unit_cost=None if u is None else money(u))
                       for i, (c, n, u) in enumerate(m.campaigns, 1)],
        ),
        retention=[RetentionOut(period_start=start, active=a, retained=r, rate=_share(rate))
                   for start, a, r, rate in m.retention],
        redemptions=[RedemptionWeekOut(week=w, count=n, saved=money(s)) for w, n, s in m.redemptions],
        pairs=[PairOut(a=a, b=b, a_name=names.get(a, a), b_name=names.get(b, b), support=_share(s) or "0",
                       confidence=_share(c) or "0", lift=_share(lift) or "0") for a, b, s, c, lift in m.pairs],
        members=sorted(
            (MemberRowOut(id=mid, name=h.names.get(mid, mid), abc=figures.abc.get(mid),
                          stage=figures.stages.get(mid, "awareness"), historical=money(v.historical),
                          current=money(v.current), weekly_spend=money(v.weekly_spend.quantize(Decimal("0.01"))))
             for mid, v in figures.values.items()),
            key=lambda r: (-Decimal(r.historical), r.id),
        ),
    )


def page(name: str) -> HTMLResponse:
    return HTMLResponse((STATIC / name).read_text(encoding="utf-8"))


@pages.get("/members", response_class=HTMLResponse)
def member_page(_: Operator) -> HTMLResponse:
    return page("member.html")


@pages.get("/marketing", response_class=HTMLResponse)
def marketing_page(_: Operator) -> HTMLResponse:
    return page("marketing.html")

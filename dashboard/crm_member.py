"""A member's own view, opened with the link staff issue (:mod:`dashboard.member_link`): no dashboard login.

Every route here depends on :data:`dashboard.member_link.LinkedMember` and reads only the records of the member the
link names: their purchases with the price of each item and the offer that lowered it, their offers with why, every
automatic decision about them (charges, offers, refusals, disputes, stage changes) with its rule and reason, and their
disputes with the outcomes. A member disputes a charged item from here; the decision table decides it at once and the
outcome is published like any other (:mod:`dashboard.crm_writes`). Household totals are not shown: they would tell
the member what the other members of the household spend.
"""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse

from dashboard import crm_reads as reads
from dashboard.crm_api import consent_out, decide_dispute, decision_out, disputes_out, offers_out, page
from dashboard.crm_schemas import DisputeOutcomeOut, MemberViewOut, MyDisputeIn, MyLineOut, MyPurchaseOut
from dashboard.deps import DbEngine
from dashboard.member_link import LinkedMember
from dashboard.schemas import money
from ingest.crm_store import catalog
from ingest.db import crm_repo, repo

router = APIRouter(tags=["member's own link"], responses={401: {"description": "Not a valid member link now"}})
NO_REFERRER = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
"""The link is the member's key: keep it out of other sites' logs and out of shared caches."""


@router.get("/me/{token}", response_class=HTMLResponse, include_in_schema=False)
def my_page(_: LinkedMember) -> HTMLResponse:
    answer = page("me.html")
    answer.headers.update(NO_REFERRER)
    return answer


@router.get("/api/me/{token}", response_model=MemberViewOut,
            summary="The linked member's purchases, charges, offers, refusals and disputes, each with its reason")
def my_records(me: LinkedMember, engine: DbEngine) -> MemberViewOut:
    member, expires = me
    with engine.connect() as conn:
        row = crm_repo.member_row(conn, member)
        profile = repo.get_member(conn, member, recent=0)
        if row is None or profile is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "this member is no longer known to the store")
        names = {sku: p.name for sku, p in catalog(conn, profile.store).items()}
        offers = offers_out(conn, member, names)
        why = {o.id: o.reason for o in offers}
        disputes = disputes_out(conn, profile.store, member)
        disputed = {(d.transaction_id, d.tag): d.status for d in disputes}
        purchases = [MyPurchaseOut(
            transaction_id=tx.id, at=tx.at, total=money(Decimal(tx.total)), saved=money(Decimal(tx.saved or "0")),
            lines=[MyLineOut(tag=x.tag, sku=x.sku, name=x.name, unit_price=money(Decimal(x.unit_price)),
                             discount=money(Decimal(x.discount or "0")),
                             offer_reason=why.get(x.offer_id) if x.offer_id else None,
                             dispute=disputed.get((tx.id, x.tag))) for x in lines])
            for tx, lines in reads.member_transactions(conn, member)]
        return MemberViewOut(id=member, name=row.name, points=profile.points, link_expires_at=expires,
                             consent=consent_out(row), purchases=purchases, offers=offers, disputes=disputes,
                             decisions=[decision_out(d) for d in crm_repo.member_decisions(conn, member)])


@router.post("/api/me/{token}/disputes", response_model=DisputeOutcomeOut,
             summary="The linked member disputes one of their charged items: decided at once, outcome published",
             responses={404: {"description": "No such item on one of this member's sales"},
                        409: {"description": "That item is already disputed"}})
def my_dispute(me: LinkedMember, engine: DbEngine, body: MyDisputeIn) -> DisputeOutcomeOut:
    return decide_dispute(engine, me[0], body.transaction_id, body.tag, body.reason)

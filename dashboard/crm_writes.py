"""The member page's changes, through ``ingest.db.crm_repo``: disputes decided by the decision table.

Each function runs inside the caller's database transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select

from crm.disputes import decide_dispute
from crm.settings import CrmSettings
from dashboard.crm_reads import VISIT_WITHOUT_CLOSE, load_history
from ingest.db import crm_repo
from ingest.db import schema as t
from ingest.db.errors import DatabaseError

DISPUTE_ALERT = "dispute_{status}"
SEVERITY = {"refunded": "info", "kept": "info", "needs_human": "warning"}


@dataclass(frozen=True, slots=True)
class DisputeResult:
    id: int
    sku: str
    status: str
    rule: str
    reason: str


def dispute(conn: Connection, member: str, transaction_id: str, tag: str, reason: str, at: datetime,
            settings: CrmSettings) -> DisputeResult:
    """Open the member's dispute of a charged line, decide it with the decision table and publish the outcome."""
    tx, ln = t.transactions.c, t.transaction_lines.c
    sale = conn.execute(select(tx.store, tx.at, ln.sku).select_from(
        t.transaction_lines.join(t.transactions, ln.transaction_id == tx.id)).where(
        tx.id == transaction_id, ln.tag == tag)).first()
    if sale is not None and any(d.transaction_id == transaction_id and d.tag == tag
                                for d in crm_repo.disputes(conn, sale.store, member=member)):
        raise DatabaseError(f"item {tag} of transaction {transaction_id!r} has been disputed already")
    dispute_id = crm_repo.open_dispute(conn, member, transaction_id, tag, reason, at)
    assert sale is not None  # open_dispute refuses a sale line that does not exist
    household = conn.execute(select(t.members.c.household).where(t.members.c.id == member)).scalar()
    others = _household_in_visit(conn, member, household, sale.at)
    history = [p for p in load_history(conn, sale.store, sale.at, settings).purchases  # as known at the sale
               if p.member == member and p.at < sale.at]
    outcome = decide_dispute(member, sale.sku, history, others, transaction_id=transaction_id)
    crm_repo.resolve_dispute(conn, dispute_id, outcome.status, outcome.rule, outcome.reason, at)
    _publish(conn, sale.store, member, tag, dispute_id, outcome.status, outcome.rule, outcome.reason, at)
    return DisputeResult(dispute_id, sale.sku, outcome.status, outcome.rule, outcome.reason)


def _household_in_visit(conn: Connection, member: str, household: str | None, at: datetime) -> set[str]:
    """Other members of the household whose visit was open when the sale was made."""
    if not household:
        return set()
    m, v = t.members.c, t.visits.c
    housemates = set(conn.execute(select(m.id).where(m.household == household, m.id != member)).scalars())
    if not housemates:
        return set()
    rows = conn.execute(select(v.member, v.opened_at, v.closed_at).where(
        v.member.in_(sorted(housemates)), v.opened_at <= at, v.opened_at >= at - timedelta(days=1)))
    return {r.member for r in rows if (r.closed_at or r.opened_at + VISIT_WITHOUT_CLOSE) >= at}


def _publish(conn: Connection, store: str, member: str, tag: str, dispute_id: int, status: str, rule: str,
             reason: str, at: datetime) -> None:
    """The outcome is always published: an alert on the operator page's list (cleared when dealt with)."""
    details: dict[str, Any] = {"dispute": dispute_id, "status": status, "rule": rule}
    conn.execute(insert(t.alerts).values(
        store=store, kind=DISPUTE_ALERT.format(status=status), severity=SEVERITY.get(status, "info"),
        message=f"Dispute by {member}: {reason}", zone=None, tag=tag, member=member, evidence=[], at=at,
        rule=rule, details=details, source="dashboard"))

"""The member page's changes, through ``ingest.db.crm_repo``: disputes decided by the decision table, and the
cases it leaves to a person resolved by a member of staff.

Each function runs inside the caller's database transaction. Every outcome is published: a ``dispute`` business
event queued in ``event_outbox`` in the same transaction (ingest sends it), and an alert on the operator page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import OperationalError

from contract.payloads import utc_rfc3339
from crm.disputes import decide_dispute
from dashboard.crm_reads import VISIT_WITHOUT_CLOSE, load_history
from ingest.db import crm_repo
from ingest.db import schema as t
from ingest.db.errors import DatabaseError, NotFound

T = TypeVar("T")
WRITE_ATTEMPTS = 5

DISPUTE_ALERT = "dispute_{status}"
SEVERITY = {"refunded": "info", "kept": "info", "needs_human": "warning"}
DISPUTE_EVENT = "dispute"
STAFF_RULE = "staff_decision"
"""The rule of an outcome a member of staff decided (the case the decision table left to a person)."""
BY_RULES = "rules"


def write(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in one transaction, again if SQLite refused it as locked: a transaction that read before it
    wrote cannot wait for ingest's commit in between (WAL gives it no newer snapshot), it has to start over."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            with engine.begin() as conn:
                return work(conn)
        except OperationalError as exc:
            if "locked" not in str(exc.orig) or attempt == WRITE_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * 2 ** attempt)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class DisputeResult:
    id: int
    member: str
    transaction_id: str
    tag: str
    sku: str
    status: str
    rule: str
    reason: str


def dispute(conn: Connection, member: str, transaction_id: str, tag: str, reason: str, at: datetime) -> DisputeResult:
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
    history = [p for p in load_history(conn, sale.store, sale.at).purchases  # as known at the sale
               if p.member == member and p.at < sale.at]
    outcome = decide_dispute(member, sale.sku, history, others, transaction_id=transaction_id)
    crm_repo.resolve_dispute(conn, dispute_id, outcome.status, outcome.rule, outcome.reason, at)
    result = DisputeResult(dispute_id, member, transaction_id, tag, sale.sku, outcome.status, outcome.rule,
                           outcome.reason)
    _publish(conn, sale.store, result, BY_RULES, at)
    return result


def resolve_by_staff(conn: Connection, dispute_id: int, status: str, reason: str, login: str,
                     at: datetime) -> DisputeResult:
    """A member of staff decides a case the decision table left to a person (``needs_human``): refunded or kept.

    The waiting alert is cleared, the outcome recorded as a decision and published like the table's."""
    if status not in ("refunded", "kept"):
        raise DatabaseError(f"a person decides 'refunded' or 'kept', not {status!r}")
    row = conn.execute(select(t.disputes).where(t.disputes.c.id == dispute_id)).first()
    if row is None:
        raise NotFound(f"no dispute {dispute_id}")
    if row.status != "needs_human":
        raise DatabaseError(f"dispute {dispute_id} is {row.status}, not waiting for a person")
    why = f"decided by {login}: {reason}" if reason else f"decided by {login}"
    crm_repo.resolve_dispute(conn, dispute_id, status, STAFF_RULE, why, at)
    a = t.alerts.c
    for alert_id, details in conn.execute(select(a.id, a.details).where(
            a.kind == DISPUTE_ALERT.format(status="needs_human"), a.cleared_at.is_(None))).all():
        if isinstance(details, dict) and details.get("dispute") == dispute_id:
            conn.execute(update(t.alerts).where(a.id == alert_id).values(
                cleared_at=at, details={**details, "cleared_by": login}))
    sku = conn.execute(select(t.transaction_lines.c.sku).where(
        t.transaction_lines.c.transaction_id == row.transaction_id, t.transaction_lines.c.tag == row.tag)).scalar()
    result = DisputeResult(dispute_id, row.member, row.transaction_id, row.tag, sku or "", status, STAFF_RULE, why)
    _publish(conn, row.store, result, login, at)
    return result


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


def _publish(conn: Connection, store: str, result: DisputeResult, decided_by: str, at: datetime) -> None:
    """The outcome is always published: a ``dispute`` event (queued for ingest to send) and an alert on the operator
    page's list (cleared when dealt with)."""
    status, rule, reason, member = result.status, result.rule, result.reason, result.member
    crm_repo.queue_event(conn, store, DISPUTE_EVENT, at, {
        "kind": "dispute_queued" if status == "needs_human" else "dispute_resolved", "dispute": result.id,
        "member": member, "transaction_id": result.transaction_id, "tag": result.tag, "sku": result.sku,
        "outcome": status, "rule": rule, "reason": reason, "decided_by": decided_by, "at": utc_rfc3339(at)})
    details: dict[str, Any] = {"dispute": result.id, "status": status, "rule": rule}
    conn.execute(insert(t.alerts).values(
        store=store, kind=DISPUTE_ALERT.format(status=status), severity=SEVERITY.get(status, "info"),
        message=f"Dispute by {member}: {reason}", zone=None, tag=result.tag, member=member, evidence=[], at=at,
        rule=rule, details=details, source="dashboard"))

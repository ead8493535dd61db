"""Decisions of the rules engine → rows, plus the events and commands to send once they are committed.

:func:`apply_decisions` runs inside the caller's transaction (the same one that records the batch's
``(gateway, seq)``), so a batch's effects are stored all or nothing. It returns an :class:`Outgoing`
of business events and gateway commands; the caller sends them only after the commit.

Exactly once: a transaction id (the basket id) is inserted once and a tag is sold once
(one unreturned sale line per tag); a repeated commit is a no-op that sends nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from contract.payloads import BusinessEvent, Command, utc_rfc3339
from ingest import crm_store
from ingest.db import schema as t
from ingest.rules.model import (
    Alert,
    BasketChanged,
    BasketHeld,
    BasketSettling,
    Decision,
    Evidence,
    InventoryCycleReport,
    ItemFound,
    ItemMisplaced,
    ItemMissing,
    ItemMoved,
    SensorAlarmCleared,
    SensorAlarmRaised,
    SensorReading,
    StockLow,
    StockRestored,
    TheftAlarm,
    TransactionCommitted,
    VisitClosed,
    VisitOpened,
)

log = logging.getLogger(__name__)
ALARM_SECONDS = 5.0
SENSOR_ALERT = "sensor"
DISPLAY_WIDTH = 20
OFFER_EVENT = "offer"
"""The business event type of a personal offer's life (``data.kind``: ``offer_redeemed``)."""


@dataclass
class Outgoing:
    events: list[BusinessEvent] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)

    def extend(self, other: Outgoing) -> None:
        self.events.extend(other.events)
        self.commands.extend(other.commands)


def evidence_json(evidence: Iterable[Evidence]) -> list[dict[str, Any]]:
    return [{**asdict(e), "at": utc_rfc3339(e.at)} for e in evidence]


def new_command(
    conn: Connection, store: str, gateway: str, action: str, target: str, at: datetime, *,
    text: Iterable[str] = (), duration_s: float | None = None, reason: str = "", tags: Iterable[str] = (),
    snapshot: str | None = None, part: int | None = None, parts: int | None = None, command_id: str | None = None,
    from_seq: int | None = None, to_seq: int | None = None,
) -> Command:
    """Build a command and record it in ``commands`` (acknowledged later by the gateway's ``ack``)."""
    command = Command(
        id=command_id or f"{action}-{uuid.uuid4().hex[:20]}", store=store, gateway=gateway,
        action=action,  # type: ignore[arg-type]
        target=target, text=[line[:200] for line in text], duration_s=duration_s, reason=reason[:200],
        issued_at=at, tags=list(tags), snapshot=snapshot, part=part, parts=parts, from_seq=from_seq, to_seq=to_seq,
    )
    conn.execute(insert(t.commands).values(
        id=command.id, store=store, gateway=gateway, action=action, target=target,
        payload=command.model_dump(mode="json", by_alias=True, exclude_none=True), issued_at=at,
    ))
    return command


def _event(store: str, kind: str, at: datetime, data: dict[str, Any]) -> BusinessEvent:
    return BusinessEvent(store=store, type=kind, at=at, data=data)  # type: ignore[arg-type]


def _alert_row(conn: Connection, store: str, alert: Alert, kind: str | None = None) -> BusinessEvent:
    evidence = evidence_json(alert.evidence)
    kind = kind or alert.kind
    values: dict[str, Any] = {"store": store, "kind": kind, "severity": alert.severity, "message": alert.message,
              "zone": alert.zone, "tag": alert.tag, "member": alert.member, "evidence": evidence, "at": alert.at,
              "rule": alert.rule or None, "details": explanation(alert, alert.details), "source": "ingest"}
    alert_id = conn.execute(insert(t.alerts).values(**values).returning(t.alerts.c.id)).scalar_one()
    if kind.endswith("_cleared"):
        cleared = kind.removesuffix("_cleared")
        conn.execute(update(t.alerts).where(
            t.alerts.c.kind == cleared, t.alerts.c.zone == alert.zone, t.alerts.c.cleared_at.is_(None)
        ).values(cleared_at=alert.at))
    return _event(store, "alert", alert.at, {**values, "id": alert_id, "at": utc_rfc3339(alert.at)})


def explanation(d: Alert | TheftAlarm | TransactionCommitted, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """How a decision explains itself: ``{"rule", "params", "evidence", "zone_sequence"}`` (plus ``extra``)."""
    return {**(extra or {}), "rule": d.rule, "params": dict(d.params), "evidence": evidence_json(d.evidence),
            "zone_sequence": list(d.zone_sequence)}


def _stock_event(conn: Connection, store: str, sku: str, zone: str | None, at: datetime) -> BusinessEvent | None:
    product = conn.execute(select(t.products.c.name, t.products.c.reorder_below).where(t.products.c.sku == sku)).first()
    if product is None:
        return None
    in_store = conn.execute(
        select(func.count()).select_from(t.items).where(t.items.c.sku == sku, t.items.c.status == "in_store")
    ).scalar_one()
    return _event(store, "inventory", at, {"sku": sku, "name": product.name, "zone": zone, "in_store": in_store,
                                           "reorder": in_store < product.reorder_below})


def _commit_transaction(conn: Connection, store: str, d: TransactionCommitted, out: Outgoing) -> None:
    if conn.execute(select(t.transactions.c.id).where(t.transactions.c.id == d.transaction_id)).first():
        log.info("transaction %s was committed before: nothing to do", d.transaction_id)
        return
    tags = [line.tag for line in d.lines]
    lines_table = t.transaction_lines
    already = set(conn.execute(select(lines_table.c.tag).where(
        lines_table.c.tag.in_(tags), lines_table.c.returned_at.is_(None))).scalars())
    lines = [line for line in d.lines if line.tag not in already]
    if already:
        log.warning("transaction %s: %s were sold before and are left out", d.transaction_id, sorted(already))
    if not lines:
        return
    # THE price function, with the member's active personal offers (loaded once for this commit).
    priced, offers, consent = crm_store.price_sale(conn, store, d.member, lines, d.at)
    total, points, saved = priced.total, priced.points, priced.saved
    conn.execute(insert(t.transactions).values(
        id=d.transaction_id, store=store, member=d.member, lane=d.lane, total=str(total), points=points,
        trigger=d.trigger, at=d.at, explanation=explanation(d) if d.rule or d.evidence else None,
        saved=str(saved)))
    conn.execute(insert(t.transaction_lines), [
        {"transaction_id": d.transaction_id, "tag": x.tag, "sku": x.sku, "name": x.name,
         "unit_price": str(x.unit_price), "discount": str(x.discount), "offer_id": x.offer_id}
        for x in priced.lines])
    redeemed = crm_store.redeem(conn, store, d.transaction_id, priced, d.at)
    crm_store.record_decision(conn, store, crm_store.charge_record(
        d.member, d.transaction_id, d.lane, priced, redeemed, offers, consent, d.at))
    for line in lines:
        _upsert_item(conn, line.tag, line.sku, status="sold", zone=None, at=d.at)
    conn.execute(update(t.baskets).where(t.baskets.c.id == d.transaction_id).values(status="committed", updated_at=d.at))
    name = conn.execute(select(t.members.c.name).where(t.members.c.id == d.member)).scalar()
    out.events.append(_event(store, "transaction", d.at, {
        "id": d.transaction_id, "member": d.member, "member_name": name, "lane": d.lane,
        "lines": [{"tag": x.tag, "sku": x.sku, "name": x.name, "unit_price": str(x.unit_price),
                   "discount": str(x.discount), "offer_id": x.offer_id} for x in priced.lines],
        "total": str(total), "saved": str(saved), "points": points, "trigger": d.trigger, "at": utc_rfc3339(d.at),
    }))
    for r in redeemed:
        out.events.append(_event(store, OFFER_EVENT, d.at, {
            "kind": "offer_redeemed", "offer_id": r.offer_id, "member": d.member, "sku": r.sku, "tag": r.tag,
            "discount": str(r.discount), "transaction_id": d.transaction_id, "reason": r.reason,
            "at": utc_rfc3339(d.at)}))
    for sku in sorted({x.sku for x in lines}):
        stock = _stock_event(conn, store, sku, d.lane, d.at)
        if stock is not None:
            out.events.append(stock)
    if d.display is not None and d.gateway is not None:
        receipt = receipt_lines([x.name for x in lines], total, points, saved=saved)
        out.commands.append(new_command(conn, store, d.gateway, "display", d.display, d.at, text=receipt,
                                        reason=f"receipt {d.transaction_id}"))


def receipt_lines(names: list[str], total: Decimal, points: int, width: int = DISPLAY_WIDTH, *,
                  saved: Decimal = Decimal(0)) -> list[str]:
    """The two lines a 2×20 pole display shows for a sale: what was bought (and what personal offers saved),
    then the total and points."""
    what = names[0] if len(names) == 1 else f"{len(names)} items"
    if saved > 0:
        note = f"  saved {saved}"
        what = f"{what[:max(0, width - len(note))]}{note}".strip()
    bottom = f"TOTAL {total}"
    earned = f"+{points} pts"
    if len(bottom) + 1 + len(earned) <= width:
        bottom = f"{bottom}{earned:>{width - len(bottom)}}"
    return [what[:width], bottom[:width]]


def _upsert_item(conn: Connection, tag: str, sku: str | None, *, status: str | None, zone: str | None,
                 at: datetime) -> bool:
    """Create or update an item row; False if the item is unknown and has no SKU to create it with."""
    values: dict[str, Any] = {"last_seen": at}
    if status is not None:
        values["status"] = status
    if zone is not None:
        values["last_zone"] = zone
    done = conn.execute(update(t.items).where(t.items.c.tag == tag).values(**values))
    if done.rowcount:
        return True
    if sku is None or conn.execute(select(t.products.c.sku).where(t.products.c.sku == sku)).first() is None:
        return False
    conn.execute(insert(t.items).values(tag=tag, sku=sku, status=status or "in_store", last_zone=zone, last_seen=at))
    return True


def _basket(conn: Connection, store: str, d: BasketChanged, out: Outgoing) -> None:
    if conn.execute(select(t.baskets.c.id).where(t.baskets.c.id == d.basket_id)).first() is None:
        conn.execute(insert(t.baskets).values(id=d.basket_id, store=store, member=d.member, lane=d.lane,
                                              status="open", opened_at=d.at, updated_at=d.at))
    else:
        conn.execute(update(t.baskets).where(t.baskets.c.id == d.basket_id).values(updated_at=d.at))
    key = (t.basket_items.c.basket_id == d.basket_id, t.basket_items.c.tag == d.tag)
    conn.execute(delete(t.basket_items).where(*key))
    if d.change == "added":
        conn.execute(insert(t.basket_items).values(basket_id=d.basket_id, tag=d.tag, sku=d.sku, added_at=d.at))
    out.events.append(_event(store, "basket", d.at, {"id": d.basket_id, "member": d.member, "lane": d.lane,
                                                      "tag": d.tag, "sku": d.sku, "change": d.change}))


def _basket_settling(conn: Connection, d: BasketSettling) -> None:
    """The card left the lane: the basket's newest change is its departure (a restart reads it back as the
    time before which a report of that card is stale)."""
    b = t.baskets.c
    row = conn.execute(select(b.updated_at).where(b.id == d.basket_id, b.status != "committed")).first()
    if row is not None and row.updated_at < d.at:
        conn.execute(update(t.baskets).where(b.id == d.basket_id).values(updated_at=d.at))


def _sensor_evidence(d: SensorAlarmRaised, sample: SensorReading) -> dict[str, Any]:
    return {"rule": d.rule, "sensor": sample.sensor, "kind": sample.kind, "zone": sample.zone,
            "gateway": sample.gateway, "value": sample.value, "unit": sample.unit, "threshold": d.threshold,
            "since": utc_rfc3339(d.since), "at": utc_rfc3339(sample.at)}


def _sensor_raised(conn: Connection, store: str, d: SensorAlarmRaised, out: Outgoing) -> None:
    """An open ``sensor`` alert; its evidence names the rule and sensor (how the clear finds it)."""
    evidence = [_sensor_evidence(d, sample) for sample in d.evidence]
    if not evidence:
        evidence = [{"rule": d.rule, "sensor": d.sensor, "zone": d.zone, "value": d.value,
                     "threshold": d.threshold, "since": utc_rfc3339(d.since), "at": utc_rfc3339(d.at)}]
    values: dict[str, Any] = {"store": store, "kind": SENSOR_ALERT, "severity": d.severity, "message": d.message,
                              "zone": d.zone, "tag": None, "member": None, "evidence": evidence, "at": d.at}
    alert_id = conn.execute(insert(t.alerts).values(**values).returning(t.alerts.c.id)).scalar_one()
    details = {"rule": d.rule, "sensor": d.sensor, "value": d.value, "threshold": d.threshold,
               "since": utc_rfc3339(d.since), "state": "raised"}
    out.events.append(_event(store, "alert", d.at, {**values, "id": alert_id, "at": utc_rfc3339(d.at),
                                                    "cleared_at": None, "details": details}))
    if d.gateway is None:
        return
    if d.display is not None:
        out.commands.append(new_command(conn, store, d.gateway, "display", d.display, d.at,
                                        text=_display_lines(d.message), reason=f"sensor {d.rule}"))
    if d.actuator is not None and d.action is not None:
        out.commands.append(new_command(conn, store, d.gateway, d.action, d.actuator, d.at,
                                        duration_s=ALARM_SECONDS if d.action == "alarm" else None,
                                        reason=f"sensor {d.rule}"))


def _display_lines(message: str, width: int = DISPLAY_WIDTH) -> list[str]:
    """A message on a 2-line pole display: cut at a word boundary where it can be."""
    first = message[:width]
    if len(message) > width and " " in first:
        first = first.rsplit(" ", 1)[0]
    rest = message[len(first):].strip()
    return [first, rest[:width]] if rest else [first]


def _sensor_cleared(conn: Connection, store: str, d: SensorAlarmCleared, out: Outgoing) -> None:
    """Set ``cleared_at`` on the open alert of this rule and sensor; publish it again, cleared."""
    zone = t.alerts.c.zone.is_(None) if d.zone is None else t.alerts.c.zone == d.zone
    mine = [r for r in _open_alerts(conn, store, SENSOR_ALERT, zone)
            if any(e.get("rule") == d.rule and e.get("sensor") == d.sensor for e in (r.evidence or []))]
    if not mine:
        log.info("sensor rule %s on %s cleared but no open alert was found", d.rule, d.sensor)
    else:
        conn.execute(update(t.alerts).where(t.alerts.c.id.in_([r.id for r in mine])).values(cleared_at=d.at))
    for row in mine:
        data = {"id": row.id, "store": store, "kind": row.kind, "severity": row.severity, "message": row.message,
                "zone": row.zone, "tag": None, "member": None, "evidence": row.evidence,
                "at": utc_rfc3339(row.at), "cleared_at": utc_rfc3339(d.at),
                "details": {"rule": d.rule, "sensor": d.sensor, "value": d.value, "duration_s": d.duration_s,
                            "state": "cleared"}}
        out.events.append(_event(store, "alert", d.at, data))
    if d.display is not None and d.gateway is not None:
        out.commands.append(new_command(conn, store, d.gateway, "clear_display", d.display, d.at,
                                        reason=f"sensor {d.rule} cleared"))


# -- shelves and stock (ingest.rules.inventory) ----------------------------------------------------


def _inventory_cycle(conn: Connection, store: str, d: InventoryCycleReport, out: Outgoing) -> None:
    """One ``inventory_cycles`` row per (zone, cycle) and an ``inventory`` event; a repeat stores nothing."""
    key = (t.inventory_cycles.c.store == store, t.inventory_cycles.c.zone == d.zone,
           t.inventory_cycles.c.cycle == d.cycle)
    if conn.execute(select(t.inventory_cycles.c.cycle).where(*key)).first() is not None:
        return
    conn.execute(insert(t.inventory_cycles).values(
        store=store, zone=d.zone, cycle=d.cycle, at=d.at, current_count=len(d.current),
        additions=list(d.additions), deletions=list(d.deletions)))
    out.events.append(_event(store, "inventory", d.at, {
        "zone": d.zone, "cycle": d.cycle, "at": utc_rfc3339(d.at), "current": list(d.current),
        "additions": list(d.additions), "deletions": list(d.deletions)}))


def _product_name(conn: Connection, sku: str) -> str:
    return conn.execute(select(t.products.c.name).where(t.products.c.sku == sku)).scalar() or sku


def _open_alert(conn: Connection, store: str, kind: str, severity: str, message: str, at: datetime, *,
                zone: str | None, tag: str | None, rule: str, details: dict[str, Any],
                evidence: list[dict[str, Any]]) -> BusinessEvent:
    values: dict[str, Any] = {"store": store, "kind": kind, "severity": severity, "message": message, "zone": zone,
                              "tag": tag, "member": None, "evidence": evidence, "at": at, "rule": rule,
                              "details": details, "source": "ingest"}
    alert_id = conn.execute(insert(t.alerts).values(**values).returning(t.alerts.c.id)).scalar_one()
    return _event(store, "alert", at, {**values, "id": alert_id, "at": utc_rfc3339(at), "cleared_at": None})


def _clear_alerts(conn: Connection, store: str, rows: list[Any], at: datetime, out: Outgoing) -> None:
    """Set ``cleared_at`` on these open alert rows and publish each again, cleared."""
    if not rows:
        return
    conn.execute(update(t.alerts).where(t.alerts.c.id.in_([r.id for r in rows])).values(cleared_at=at))
    for row in rows:
        out.events.append(_event(store, "alert", at, {
            "id": row.id, "store": store, "kind": row.kind, "severity": row.severity, "message": row.message,
            "zone": row.zone, "tag": row.tag, "member": None, "evidence": row.evidence, "at": utc_rfc3339(row.at),
            "cleared_at": utc_rfc3339(at), "rule": row.rule, "details": row.details, "source": row.source}))


def _open_alerts(conn: Connection, store: str, kind: str, *where: Any) -> list[Any]:
    return list(conn.execute(select(t.alerts).where(
        t.alerts.c.store == store, t.alerts.c.kind == kind, t.alerts.c.cleared_at.is_(None), *where,
    ).order_by(t.alerts.c.id)).all())


def _item_missing(conn: Connection, store: str, d: ItemMissing, out: Outgoing) -> None:
    """The item's status becomes ``missing`` and a ``missing`` alert opens, once (a sold item is left alone)."""
    done = conn.execute(update(t.items).where(t.items.c.tag == d.tag, t.items.c.status == "in_store")
                        .values(status="missing"))
    if not done.rowcount:
        return  # already missing (a restart decides it again), sold, or not an item of this store
    name = _product_name(conn, d.sku)
    where = f"last seen in {d.last_zone}" if d.last_zone else "never seen in a zone"
    when = f" at {utc_rfc3339(d.last_seen)}" if d.last_seen is not None else ""
    details = {"sku": d.sku, "name": name, "last_zone": d.last_zone,
               "last_seen": utc_rfc3339(d.last_seen) if d.last_seen is not None else None}
    evidence = [{"tag": d.tag, "zone": d.last_zone, "at": details["last_seen"], "event": "last_seen"}]
    out.events.append(_open_alert(
        conn, store, "missing", "warning", f"{name} ({d.tag}) was read in no zone for several inventory cycles; "
        f"{where}{when}", d.at, zone=d.last_zone, tag=d.tag, rule="inventory-missing", details=details,
        evidence=evidence))
    stock = _stock_event(conn, store, d.sku, d.last_zone, d.at)
    if stock is not None:
        out.events.append(stock)


def _item_found(conn: Connection, store: str, d: ItemFound, out: Outgoing) -> None:
    """A missing item was read again: back ``in_store`` where it was read; its ``missing`` alert clears."""
    conn.execute(update(t.items).where(t.items.c.tag == d.tag, t.items.c.status == "missing")
                 .values(status="in_store", last_zone=d.zone, last_seen=d.at))
    _clear_alerts(conn, store, _open_alerts(conn, store, "missing", t.alerts.c.tag == d.tag), d.at, out)


def _item_misplaced(conn: Connection, store: str, d: ItemMisplaced, out: Outgoing) -> None:
    name = _product_name(conn, d.sku)
    homes = ", ".join(d.home_zones)
    details = {"sku": d.sku, "name": name, "home_zones": list(d.home_zones)}
    out.events.append(_open_alert(
        conn, store, "misplaced", "info", f"{name} ({d.tag}) lies in {d.zone}; it belongs in {homes}", d.at,
        zone=d.zone, tag=d.tag, rule="inventory-misplaced", details=details,
        evidence=[{"tag": d.tag, "zone": d.zone, "at": utc_rfc3339(d.at), "event": "whole_cycle"}]))


def _low_stock_rows(conn: Connection, store: str, sku: str, zone: str) -> list[Any]:
    return [r for r in _open_alerts(conn, store, "low_stock", t.alerts.c.zone == zone)
            if (r.details or {}).get("sku") == sku]


def _stock_low(conn: Connection, store: str, d: StockLow, out: Outgoing) -> None:
    """The replenishment alert: ``low_stock`` with the product and the zone, once while it is open."""
    if _low_stock_rows(conn, store, d.sku, d.zone):
        return
    details = {"sku": d.sku, "name": d.name, "count": d.count, "reorder_below": d.threshold}
    out.events.append(_open_alert(
        conn, store, "low_stock", "warning", f"restock {d.name} in {d.zone}: {d.count} left (reorder below "
        f"{d.threshold})", d.at, zone=d.zone, tag=None, rule="inventory-low-stock", details=details,
        evidence=[{"zone": d.zone, "sku": d.sku, "count": d.count, "at": utc_rfc3339(d.at)}]))


def _stock_restored(conn: Connection, store: str, d: StockRestored, out: Outgoing) -> None:
    _clear_alerts(conn, store, _low_stock_rows(conn, store, d.sku, d.zone), d.at, out)


def apply_decisions(conn: Connection, store: str, decisions: Iterable[Decision]) -> Outgoing:
    """Store each decision; return the events and commands to send after the commit."""
    out = Outgoing()
    for d in decisions:
        if isinstance(d, TransactionCommitted):
            _commit_transaction(conn, store, d, out)
        elif isinstance(d, TheftAlarm):
            alert = Alert(kind="theft", severity="critical", at=d.at, zone=d.zone, tag=d.tag, evidence=d.evidence,
                          message=f"unpaid item {d.tag} ({d.sku or 'unknown product'}) passed {d.zone}",
                          rule=d.rule, params=d.params, zone_sequence=d.zone_sequence)
            out.events.append(_alert_row(conn, store, alert))
            if d.alarm is not None:
                out.commands.append(new_command(conn, store, d.gateway, "alarm", d.alarm, d.at,
                                                duration_s=ALARM_SECONDS, reason=f"theft {d.tag}"))
        elif isinstance(d, Alert):
            out.events.append(_alert_row(conn, store, d))
        elif isinstance(d, SensorAlarmRaised):
            _sensor_raised(conn, store, d, out)
        elif isinstance(d, SensorAlarmCleared):
            _sensor_cleared(conn, store, d, out)
        elif isinstance(d, BasketHeld):
            conn.execute(update(t.baskets).where(t.baskets.c.lane == d.lane, t.baskets.c.status == "open")
                         .values(status="held", updated_at=d.at))
        elif isinstance(d, BasketChanged):
            _basket(conn, store, d, out)
        elif isinstance(d, BasketSettling):
            _basket_settling(conn, d)
        elif isinstance(d, ItemMoved):
            if _upsert_item(conn, d.tag, d.sku, status=None, zone=d.zone, at=d.at) and d.sku is not None:
                conn.execute(update(t.items).where(t.items.c.tag == d.tag, t.items.c.status == "missing")
                             .values(status="in_store"))
                stock = _stock_event(conn, store, d.sku, d.zone, d.at)
                if stock is not None:
                    out.events.append(stock)
        elif isinstance(d, VisitOpened):
            conn.execute(insert(t.visits).values(store=store, member=d.member, zone=d.zone, opened_at=d.at))
            out.events.append(_event(store, "visit", d.at, {"member": d.member, "zone": d.zone, "state": "open"}))
        elif isinstance(d, VisitClosed):
            conn.execute(update(t.visits).where(t.visits.c.member == d.member, t.visits.c.closed_at.is_(None))
                         .values(closed_at=d.at, close_reason=d.reason))
            out.events.append(_event(store, "visit", d.at, {"member": d.member, "state": "closed",
                                                            "reason": d.reason}))
        elif isinstance(d, InventoryCycleReport):
            _inventory_cycle(conn, store, d, out)
        elif isinstance(d, ItemMissing):
            _item_missing(conn, store, d, out)
        elif isinstance(d, ItemFound):
            _item_found(conn, store, d, out)
        elif isinstance(d, ItemMisplaced):
            _item_misplaced(conn, store, d, out)
        elif isinstance(d, StockLow):
            _stock_low(conn, store, d, out)
        elif isinstance(d, StockRestored):
            _stock_restored(conn, store, d, out)
    return out

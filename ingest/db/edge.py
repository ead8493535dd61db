"""Edge alarms and the gateways' allow lists, as rows and commands.

* :func:`record_gate_alarm`: a gateway's own exit alarm (``alarms``) becomes a ``theft`` alert with
  ``source = "edge"``, its latency, evidence, rule and parameters, and ingest's view of the tag: ``unpaid``,
  ``in_basket`` or ``sold`` (both a false alarm) or ``unknown``.
* :func:`allow_commands`: the engine's ``AllowTags``/``DisallowTags`` become ``allow``/``disallow`` commands
  to every gateway that owns an exit.
* :func:`allow_snapshot`: what a gateway that came online should allow (sold items, items in open baskets,
  staff tags), as ``allow_replace`` commands of at most 5,000 tags that share one snapshot id.

Commands are recorded in ``commands`` in the caller's transaction, like every other command.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, update

from contract.payloads import (
    ALLOWLIST_TARGET,
    MAX_TAGS_PER_COMMAND,
    BusinessEvent,
    Command,
    GateAlarm,
    utc_rfc3339,
)
from ingest.db import schema as t
from ingest.db.persist import new_command
from ingest.rules.model import AllowTags, Decision, DisallowTags, ItemReturned

RULE = "exit-gate"
TagView = Literal["unpaid", "in_basket", "sold", "unknown"]


def tag_view(conn: Connection, tag: str) -> TagView:
    """What ingest knows about a tag that set off an exit alarm."""
    status = conn.execute(select(t.items.c.status).where(t.items.c.tag == tag)).scalar()
    if status == "sold":
        return "sold"
    in_basket = conn.execute(
        select(t.basket_items.c.tag)
        .join(t.baskets, t.baskets.c.id == t.basket_items.c.basket_id)
        .where(t.basket_items.c.tag == tag, t.baskets.c.status.in_(("open", "held")))
    ).first()
    if in_basket is not None:
        return "in_basket"
    return "unpaid" if status is not None else "unknown"


def record_gate_alarm(conn: Connection, store: str, alarm: GateAlarm) -> BusinessEvent:
    """Store the gateway's alarm report as a ``theft`` alert (source ``edge``); return its ``alert`` event."""
    view = tag_view(conn, alarm.tag)
    false_alarm = view in ("sold", "in_basket")
    sku = conn.execute(select(t.items.c.sku).where(t.items.c.tag == alarm.tag)).scalar()
    zone = alarm.evidence[-1].zone if alarm.evidence else None
    evidence = [
        {"tag": alarm.tag, "zone": e.zone, "gateway": alarm.gateway, "reader": e.reader, "antenna": e.antenna,
         "rssi": e.rssi, "count": e.count, "event": "seen", "at": utc_rfc3339(e.at)}
        for e in alarm.evidence
    ]
    what = {"unpaid": "unpaid item", "unknown": "unknown tag", "sold": "sold item", "in_basket": "item in a basket"}
    message = f"{what[view]} {alarm.tag} ({sku or 'unknown product'}) left through {alarm.gate}: alarm at the gateway"
    if false_alarm:
        message += " (false alarm: ingest knows it as " + ("sold)" if view == "sold" else "in an open basket)")
    if not alarm.sounded:
        message += f"; the relay did not sound: {alarm.error}"
    details: dict[str, Any] = {
        "gate": alarm.gate, "gateway": alarm.gateway, "alarm_id": alarm.id, "seq": alarm.seq, "verdict": view,
        "false_alarm": false_alarm, "sku": sku, "actuator": alarm.alarm, "sounded": alarm.sounded,
        "error": alarm.error, "first_read_at": utc_rfc3339(alarm.first_read_at),
        "decided_at": utc_rfc3339(alarm.decided_at), "zone_sequence": list(alarm.zone_sequence),
        "params": dict(alarm.params), "historical": alarm.historical, "latency_ms": alarm.latency_ms,
    }
    values: dict[str, Any] = {
        "store": store, "kind": "theft", "severity": "warning" if false_alarm else "critical", "message": message,
        "zone": zone, "tag": alarm.tag, "member": None, "evidence": evidence, "at": alarm.decided_at,
        "rule": RULE, "details": details, "source": "edge", "latency_ms": alarm.latency_ms,
        "cleared_at": alarm.decided_at if false_alarm else None,
    }
    alert_id = conn.execute(insert(t.alerts).values(**values).returning(t.alerts.c.id)).scalar_one()
    data = {**values, "id": alert_id, "at": utc_rfc3339(alarm.decided_at),
            "cleared_at": utc_rfc3339(alarm.decided_at) if false_alarm else None}
    return BusinessEvent(store=store, type="alert", at=alarm.decided_at, data=data)


def _chunks(tags: list[str]) -> list[list[str]]:
    return [tags[i : i + MAX_TAGS_PER_COMMAND] for i in range(0, len(tags), MAX_TAGS_PER_COMMAND)] or [[]]


def allow_commands(conn: Connection, store: str, gateways: Iterable[str], decisions: Iterable[Decision],
                   at: datetime) -> list[Command]:
    """``allow``/``disallow`` commands, in the decisions' order, for every gateway that owns an exit."""
    targets = sorted(set(gateways))
    out: list[Command] = []
    if not targets:
        return out
    for d in decisions:
        if not isinstance(d, AllowTags | DisallowTags):
            continue
        tags = sorted({tag for tag in d.tags if tag.startswith(("EPC:", "UID:"))})
        if not tags:
            continue
        action = "allow" if isinstance(d, AllowTags) else "disallow"
        for gateway in targets:
            for chunk in _chunks(tags):
                out.append(new_command(conn, store, gateway, action, ALLOWLIST_TARGET, at, tags=chunk,
                                       reason=d.reason))
    return out


def allowed_now(conn: Connection) -> list[str]:
    """Every tag that may leave now: sold items, items in open or held baskets, staff tags."""
    sold = conn.execute(select(t.items.c.tag).where(t.items.c.status == "sold")).scalars()
    in_baskets = conn.execute(
        select(t.basket_items.c.tag)
        .join(t.baskets, t.baskets.c.id == t.basket_items.c.basket_id)
        .where(t.baskets.c.status.in_(("open", "held")))
    ).scalars()
    staff = conn.execute(select(t.tag_bindings.c.tag).where(t.tag_bindings.c.kind == "staff")).scalars()
    return sorted({*sold, *in_baskets, *staff})


def allow_snapshot(conn: Connection, store: str, gateway: str, at: datetime) -> list[Command]:
    """The whole allow list for one gateway, as ``allow_replace`` parts of one snapshot."""
    chunks = _chunks(allowed_now(conn))
    snapshot = f"snap-{uuid.uuid4().hex[:20]}"
    return [
        new_command(conn, store, gateway, "allow_replace", ALLOWLIST_TARGET, at, tags=chunk, reason="snapshot",
                    snapshot=snapshot, part=n, parts=len(chunks), command_id=f"{snapshot}.{n}")
        for n, chunk in enumerate(chunks, start=1)
    ]


def item_returned(conn: Connection, d: ItemReturned) -> None:
    """A returned item is sellable again: ``in_store``, and its sale line is marked returned (it keeps its
    tag, so the sale still shows what was sold; only unreturned lines block a new sale of the tag)."""
    conn.execute(update(t.items).where(t.items.c.tag == d.tag).values(status="in_store", last_seen=d.at))
    conn.execute(update(t.transaction_lines)
                 .where(t.transaction_lines.c.tag == d.tag, t.transaction_lines.c.returned_at.is_(None))
                 .values(returned_at=d.at))

"""The exit gates' recent reads: what a store's next owner (after a restart or a move to another ingest worker)
replays into its gate detector, so that a pass under way when the store changed hands is still decided.

Only the reads ingest fed to a gate's detector are stored (its inner and outer zones: shelf and lane traffic
pays nothing), in the transaction that stores the batch's effects; the owner prunes what the detector no
longer remembers (``max(window_s, chatter_window_s)`` of the gates) plus :data:`PRUNE_MARGIN`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, select

from ingest.db import schema as t
from ingest.rules.exitgate import GateRead

PRUNE_MARGIN = timedelta(seconds=60)
"""Kept beyond the gates' memory: a gateway's clock a little behind ingest's loses nothing."""
RESTORE_MAX = 50_000
"""At most this many reads (the newest) are replayed at a restore."""
ALARM_KINDS = ("theft", "unknown_tag_at_exit")
"""The alerts the rules engine repeats at most once per ``alarm_repeat_s`` per tag (of the read's time)."""
ALARM_LOOKBACK = timedelta(hours=1)
"""The alarms loaded at a restore are this recent: a report of the same pass may arrive late (held, handed over,
sent again), but not later than ingest asks a gateway for a missing batch (``gap_give_up_s``)."""
ALARMS_MAX = 4096
"""... and at most this many (the newest), as many as the engine keeps without pruning."""


def record(conn: Connection, store: str, reads: Sequence[GateRead]) -> None:
    """Store the reads fed to the gates for one batch (one statement)."""
    if not reads:
        return
    conn.execute(insert(t.gate_reads), [
        {"store": store, "zone": r.zone, "tag": r.tag, "reader": r.reader, "antenna": r.antenna, "rssi": r.rssi,
         "count": r.count, "at": r.at} for r in reads])


def load(conn: Connection, store: str, memory: timedelta, limit: int = RESTORE_MAX) -> list[GateRead]:
    """The stored reads within ``memory`` of the store's newest one (at most the newest ``limit``), in the order
    they were fed to the gates."""
    g = t.gate_reads
    newest = conn.execute(select(func.max(g.c.at)).where(g.c.store == store)).scalar()
    if newest is None:
        return []
    rows = conn.execute(select(g.c.zone, g.c.tag, g.c.reader, g.c.antenna, g.c.rssi, g.c.count, g.c.at)
                        .where(g.c.store == store, g.c.at >= newest - memory)
                        .order_by(g.c.id.desc()).limit(limit)).all()
    return [GateRead(r.tag, r.zone, r.rssi, r.count, r.at, r.reader, r.antenna) for r in reversed(rows)]


def prune(conn: Connection, store: str, now: datetime, memory: timedelta) -> int:
    """Delete the store's reads older than ``memory`` (plus the margin) before ``now``; how many went."""
    g = t.gate_reads
    return conn.execute(delete(g).where(g.c.store == store, g.c.at < now - memory - PRUNE_MARGIN)).rowcount


def recent_returns(conn: Connection, store: str, since: datetime) -> dict[str, datetime]:
    """Tag -> the time of the item's newest return at or after ``since`` (a return ends the gate pass the item
    left by: replayed at a restore, that pass must not swallow the item's next one)."""
    line, tx = t.transaction_lines, t.transactions
    return {tag: at for tag, at in conn.execute(
        select(line.c.tag, func.max(line.c.returned_at)).join(tx, tx.c.id == line.c.transaction_id)
        .where(tx.c.store == store, line.c.returned_at >= since).group_by(line.c.tag)
        .order_by(func.max(line.c.returned_at).desc()).limit(ALARMS_MAX))}


def recent_alarms(conn: Connection, store: str, now: datetime) -> dict[str, datetime]:
    """Tag -> the time of the newest exit alarm ingest raised for it within :data:`ALARM_LOOKBACK` before ``now``
    (the gateways' own alarms left out)."""
    a = t.alerts
    newest: dict[str, datetime] = {}
    for tag, at in conn.execute(select(a.c.tag, a.c.at).where(
            a.c.store == store, a.c.kind.in_(ALARM_KINDS), a.c.source == "ingest", a.c.at >= now - ALARM_LOOKBACK,
            a.c.tag.is_not(None)).order_by(a.c.at.desc()).limit(ALARMS_MAX)):
        newest.setdefault(tag, at)
    return newest

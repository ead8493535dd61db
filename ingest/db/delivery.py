"""Rows behind reliable delivery: commands still to be sent (``commands.sent_at``), the ``resend`` requests
and the last ``seq`` stored per gateway (where gap tracking starts after a restart)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, select, update

from contract.payloads import OUTBOX_TARGET, Command, seq_ranges
from ingest.db import schema as t
from ingest.db.persist import Outgoing, apply_decisions, new_command
from ingest.gaps import Resend
from ingest.rules.model import Alert

EXPIRED_UNSENT = "expired before it could be sent"
DATA_LOST = "data_lost"
"""The alert kind of gateway messages that never arrived and can no longer be asked for."""


def unsent_commands(conn: Connection, store: str, limit: int) -> list[Command]:
    """Commands the broker has not taken yet and no gateway answered, oldest first."""
    c = t.commands.c
    rows = conn.execute(select(c.payload).where(
        c.store == store, c.sent_at.is_(None), c.acked_at.is_(None)).order_by(c.issued_at, c.id).limit(limit))
    return [Command.model_validate(payload) for payload in rows.scalars()]


def mark_sent(conn: Connection, ids: Iterable[str], at: datetime) -> None:
    c = t.commands.c
    conn.execute(update(t.commands).where(c.id.in_(list(ids)), c.sent_at.is_(None)).values(sent_at=at))


def expire_unsent(conn: Connection, ids: Iterable[str], at: datetime) -> None:
    """These unsent commands are answered as failed, never sent (a siren or a receipt is worth nothing late)."""
    c = t.commands.c
    conn.execute(update(t.commands).where(c.id.in_(list(ids)), c.sent_at.is_(None), c.acked_at.is_(None))
                 .values(ack_ok=False, ack_error=EXPIRED_UNSENT, acked_at=at))


def resend_request(conn: Connection, command_id: str) -> Command | None:
    """The ``resend`` command of this id (None if the id is another kind of command or unknown)."""
    c = t.commands.c
    payload = conn.execute(select(c.payload).where(c.id == command_id, c.action == "resend")).scalar()
    return None if payload is None else Command.model_validate(payload)


def last_seqs(conn: Connection, store: str) -> dict[str, int]:
    """The highest ``seq`` stored per gateway of the store."""
    g = t.gateways.c
    rows = conn.execute(select(g.gateway, g.last_seq).where(g.store == store, g.last_seq.is_not(None)))
    return {r.gateway: int(r.last_seq) for r in rows}


def gap_requests(conn: Connection, store: str, requests: Iterable[Resend], lost: dict[str, list[int]],
                 at: datetime) -> Outgoing:
    """Record a ``resend`` command per request and a ``data_lost`` alert per gateway that lost ``seq``."""
    out = Outgoing()
    for r in requests:
        out.commands.append(new_command(conn, store, r.gateway, "resend", OUTBOX_TARGET, at, from_seq=r.from_seq,
                                        to_seq=r.to_seq, reason=f"seq {r.from_seq}-{r.to_seq} never arrived"))
    alerts = [Alert(kind=DATA_LOST, severity="warning", at=at, rule="gap-resend",
                    message=f"gateway {gateway}: {len(seqs)} messages (seq {seq_ranges(seqs)}) never arrived "
                            "and the gateway no longer keeps them",
                    details={"gateway": gateway, "seq": seq_ranges(seqs), "count": str(len(seqs))})
              for gateway, seqs in sorted(lost.items())]
    out.extend(apply_decisions(conn, store, alerts))
    return out

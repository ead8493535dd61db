"""What the member rules send from ingest: the events decided elsewhere, and the fast lane's gate.

* :func:`outbox`: the business events the dashboard queued in ``event_outbox`` (a dispute's outcome, decided when
  the member disputes or when a person resolves it) become events to publish, each once, oldest first.
* :func:`fast_lane`: a member's card seen in the fast-lane zone is decided by :func:`crm.fastlane.fast_lane_decision`;
  the decision is recorded with its reason and an opening becomes an ``open`` command for the gate's actuator.

Both run in the caller's database transaction and return an :class:`~ingest.db.persist.Outgoing` the caller sends
after the commit, like every other event and command.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, select

from contract.payloads import BusinessEvent
from crm.fastlane import OPEN_RULE, RULES, fast_lane_decision
from crm.offers import FAST_LANE
from crm.settings import CrmSettings
from ingest import crm_store
from ingest.db import crm_repo
from ingest.db import schema as t
from ingest.db.persist import Outgoing, new_command
from ingest.rules.model import Sighting


def outbox(conn: Connection, store: str, now: datetime) -> Outgoing:
    """The store's queued events, marked published in this transaction (sent once the caller commits)."""
    return Outgoing(events=[BusinessEvent(store=e.store, type=e.type, at=e.at, data=e.data)  # type: ignore[arg-type]
                            for e in crm_repo.take_events(conn, store, now)])


def _last_decided(conn: Connection, member: str) -> datetime | None:
    c = t.crm_decisions.c
    found: datetime | None = conn.execute(select(c.at).where(c.member == member, c.rule.in_(RULES))
                                          .order_by(c.at.desc()).limit(1)).scalar()
    return found


def fast_lane(conn: Connection, store: str, sightings: Iterable[Sighting], settings: CrmSettings) -> Outgoing:
    """Members seen (live, not replayed from a gateway's outbox) in the fast-lane zone: open the gate or say why not."""
    out = Outgoing()
    lane = settings.fast_lane
    if lane is None:
        return out
    for s in sightings:
        if s.kind != "member" or s.ref is None or s.event != "seen" or s.historical or s.zone.name != lane.zone:
            continue
        rewards = [o.offer for o in crm_repo.member_offers(conn, s.ref, status="active") if o.offer.sku == FAST_LANE]
        record = fast_lane_decision(s.ref, s.zone.name, s.at, lane, rewards, _last_decided(conn, s.ref))
        if record is None:
            continue
        crm_store.record_decision(conn, store, record)
        if record.rule == OPEN_RULE:
            out.commands.append(new_command(conn, store, lane.gateway, "open", lane.actuator, s.at,
                                            duration_s=lane.open_s, reason=record.reason))
    return out

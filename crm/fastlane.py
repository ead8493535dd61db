"""The fast-lane reward that acts: its gate opens for a member who holds it.

A class A member's list carries a ``FAST-LANE`` reward (:mod:`crm.offers`). When the member's card is seen in the
store's fast-lane zone, :func:`fast_lane_decision` decides whether the gate opens, and says why either way. One
arrival is one decision: reads of the same card while the gate is still open (within ``open_s`` of the member's
last fast-lane decision) decide nothing new. Pure: the caller reads the rewards and the last decision, and sends
the ``open`` command for an opening.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from crm.model import DecisionRecord, Offer
from crm.offers import FAST_LANE
from crm.settings import FastLane

OPEN_RULE = "fast_lane_open"
CLOSED_RULE = "fast_lane_closed"
RULES = (OPEN_RULE, CLOSED_RULE)


def active_reward(rewards: Sequence[Offer], at: datetime) -> Offer | None:
    """The member's fast-lane reward valid at ``at`` (the one valid longest when several are)."""
    valid = [o for o in rewards if o.kind == "reward" and o.sku == FAST_LANE and o.active_from <= at < o.active_to]
    return max(valid, key=lambda o: (o.active_to, o.id), default=None)


def fast_lane_decision(member: str, zone: str, at: datetime, lane: FastLane, rewards: Sequence[Offer],
                       last_decided: datetime | None) -> DecisionRecord | None:
    """Open the gate (an ``offer`` record, rule ``fast_lane_open``) or keep it closed (a ``refusal``, rule
    ``fast_lane_closed``) for ``member`` seen in ``zone`` at ``at``; ``None`` when this is not the fast lane or
    the member's last fast-lane decision is less than ``open_s`` old (the same arrival)."""
    if zone != lane.zone:
        return None
    if last_decided is not None and timedelta(0) <= at - last_decided < timedelta(seconds=lane.open_s):
        return None
    context = {"zone": zone, "gateway": lane.gateway, "actuator": lane.actuator, "open_s": str(lane.open_s)}
    reward = active_reward(rewards, at)
    if reward is None:
        return DecisionRecord("refusal", member, CLOSED_RULE,
                              "the fast lane stays closed: no active fast-lane reward (it comes with the personal "
                              "list of the store's most valuable members)", at, {"opened": "false"}, context)
    reason = (f"fast lane opened for {lane.open_s:g} s: your fast-lane reward is valid until "
              f"{reward.active_to:%d %b %Y}")
    return DecisionRecord("offer", member, OPEN_RULE, reason, at, {"opened": "true", "offer_id": reward.id}, context)

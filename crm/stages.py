"""Relationship stages: awareness -> exploration -> expansion -> commitment -> dissolution.

Driven by visits and purchases; thresholds are in ``CrmSettings`` and
documented in docs/crm.md ("Relationship stages").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from crm.model import DecisionRecord, Purchase, Visit
from crm.settings import CrmSettings

Stage = Literal["awareness", "exploration", "expansion", "commitment", "dissolution"]
STAGES: tuple[Stage, ...] = ("awareness", "exploration", "expansion", "commitment", "dissolution")

#: Longest gap between consecutive purchases that still counts as "steady" for commitment.
STEADY_MAX_GAP_DAYS = 21


@dataclass(frozen=True, slots=True)
class StageFacts:
    """What the stage was decided from."""

    stage: Stage
    visits: int
    purchases: int  # distinct transactions
    days_idle: int | None  # whole days since the last purchase (or visit, if never bought)
    steady_weeks: int  # whole weeks covered by the current steady run of purchases
    rule: str
    reason: str


def _occasions(purchases: Sequence[Purchase], now: datetime) -> list[datetime]:
    first: dict[str, datetime] = {}
    for p in purchases:
        if p.at <= now:
            at = first.get(p.transaction_id)
            first[p.transaction_id] = p.at if at is None else min(at, p.at)
    return sorted(first.values())


def _steady_span(times: Sequence[datetime]) -> timedelta:
    """Span of the latest run of purchases with no gap above ``STEADY_MAX_GAP_DAYS``."""
    if not times:
        return timedelta(0)
    start = len(times) - 1
    while start > 0 and times[start] - times[start - 1] <= timedelta(days=STEADY_MAX_GAP_DAYS):
        start -= 1
    return times[-1] - times[start]


def stage_facts(
    visits: Sequence[Visit], purchases: Sequence[Purchase], now: datetime, settings: CrmSettings
) -> StageFacts:
    """The member's stage at ``now`` and the facts behind it (events after ``now`` ignored)."""
    seen = sorted(v.at for v in visits if v.at <= now)
    bought = _occasions(purchases, now)
    last = bought[-1] if bought else (seen[-1] if seen else None)
    idle = None if last is None else (now - last).days
    span = _steady_span(bought)
    weeks = span.days // 7
    n_visits, n_bought = len(seen), len(bought)

    def facts(stage: Stage, rule: str, reason: str) -> StageFacts:
        return StageFacts(stage, n_visits, n_bought, idle, weeks, rule, reason)

    if last is None:
        return facts("awareness", "stage.awareness", "known, no visit yet")
    if now - last >= timedelta(days=settings.dissolution_after_days_idle):
        return facts(
            "dissolution",
            "stage.dissolution",
            f"idle {idle} days (threshold {settings.dissolution_after_days_idle})",
        )
    if n_bought >= settings.expansion_after_purchases and span >= timedelta(
        weeks=settings.commitment_after_weeks_active
    ):
        return facts(
            "commitment",
            "stage.commitment",
            f"steady purchases over {weeks} weeks "
            f"(threshold {settings.commitment_after_weeks_active}, "
            f"gaps at most {STEADY_MAX_GAP_DAYS} days)",
        )
    if n_bought >= settings.expansion_after_purchases:
        return facts(
            "expansion",
            "stage.expansion",
            f"{n_bought} purchases (threshold {settings.expansion_after_purchases})",
        )
    if max(n_visits, n_bought) >= settings.exploration_after_visits:
        return facts(
            "exploration",
            "stage.exploration",
            f"{max(n_visits, n_bought)} visits (threshold {settings.exploration_after_visits})",
        )
    return facts("awareness", "stage.awareness", "known, too few visits")


def stage_of(
    visits: Sequence[Visit], purchases: Sequence[Purchase], now: datetime, settings: CrmSettings
) -> Stage:
    return stage_facts(visits, purchases, now, settings).stage


def stage_transitions(
    member: str,
    visits: Sequence[Visit],
    purchases: Sequence[Purchase],
    now: datetime,
    settings: CrmSettings,
    *,
    since: datetime | None = None,
) -> list[DecisionRecord]:
    """Every stage change up to ``now`` (after ``since`` when given), oldest first.

    The history is replayed at every visit and purchase and at the moment each
    would make the member idle long enough to dissolve, so a dissolution is
    dated when it happened, not when it was noticed.
    """
    idle = timedelta(days=settings.dissolution_after_days_idle)
    events = {v.at for v in visits} | {p.at for p in purchases}
    moments = sorted(t for t in events | {t + idle for t in events} if t <= now)
    records: list[DecisionRecord] = []
    current: Stage = "awareness"
    for t in moments:
        f = stage_facts(visits, purchases, t, settings)
        if f.stage == current:
            continue
        if since is None or t > since:
            records.append(
                DecisionRecord(
                    kind="stage",
                    member=member,
                    rule=f.rule,
                    reason=f"{current} -> {f.stage}: {f.reason}",
                    at=t,
                    data={"from": current, "to": f.stage},
                    context={
                        "visits": str(f.visits),
                        "purchases": str(f.purchases),
                        "days_idle": "" if f.days_idle is None else str(f.days_idle),
                        "steady_weeks": str(f.steady_weeks),
                    },
                )
            )
        current = f.stage
    return records


@dataclass(frozen=True, slots=True)
class StageMachine:
    """The stage rules bound to one set of settings."""

    settings: CrmSettings

    def stage(self, visits: Sequence[Visit], purchases: Sequence[Purchase], now: datetime) -> Stage:
        return stage_of(visits, purchases, now, self.settings)

    def facts(self, visits: Sequence[Visit], purchases: Sequence[Purchase], now: datetime) -> StageFacts:
        return stage_facts(visits, purchases, now, self.settings)

    def transitions(
        self,
        member: str,
        visits: Sequence[Visit],
        purchases: Sequence[Purchase],
        now: datetime,
        *,
        since: datetime | None = None,
    ) -> list[DecisionRecord]:
        return stage_transitions(member, visits, purchases, now, self.settings, since=since)

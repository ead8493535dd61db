"""Members' visits: opened at the entrance or a lane, refreshed by any read, closed at the exit or by time-out."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.rules.model import VisitClosed, VisitOpened


@dataclass(slots=True)
class Visit:
    member: str
    opened_at: datetime
    last_seen: datetime


class VisitBook:
    """Open visits, with a deadline heap so that a tick costs O(expired · log n), not O(visits)."""

    def __init__(self, timeout: timedelta) -> None:
        self.timeout = timeout
        self._open: dict[str, Visit] = {}
        self._deadlines: list[tuple[datetime, str, datetime]] = []
        """(deadline, member, opened_at): one live entry per open visit, moved on lazily."""
        self._closed_at: dict[str, datetime] = {}

    def __contains__(self, member: str) -> bool:
        return member in self._open

    def __len__(self) -> int:
        return len(self._open)

    def is_stale(self, member: str, at: datetime) -> bool:
        """A read from before the member's last exit (a late or redelivered report) opens nothing."""
        closed = self._closed_at.get(member)
        return closed is not None and at <= closed

    def open_or_refresh(self, member: str, zone: str, at: datetime) -> VisitOpened | None:
        visit = self._open.get(member)
        if visit is not None:
            if at > visit.last_seen:
                visit.last_seen = at
            return None
        self._open[member] = Visit(member, at, at)
        heapq.heappush(self._deadlines, (at + self.timeout, member, at))
        return VisitOpened(member, zone, at)

    def restore(self, member: str, opened_at: datetime, last_seen: datetime) -> None:
        """Take back a visit the database holds as open (no ``VisitOpened``: it was recorded already)."""
        if member in self._open:
            return
        self._open[member] = Visit(member, opened_at, last_seen)
        heapq.heappush(self._deadlines, (last_seen + self.timeout, member, opened_at))

    def refresh(self, member: str, at: datetime) -> None:
        visit = self._open.get(member)
        if visit is not None and at > visit.last_seen:
            visit.last_seen = at

    def close_at_exit(self, member: str, at: datetime) -> VisitClosed | None:
        previous = self._closed_at.get(member)
        if previous is None or at > previous:
            self._closed_at[member] = at
        if self._open.pop(member, None) is None:
            return None
        return VisitClosed(member, at, "exit")

    def expire(self, now: datetime) -> list[VisitClosed]:
        """Close the visits unseen for ``timeout``; each closes at its own deadline, not at ``now``."""
        closed: list[VisitClosed] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, member, opened_at = heapq.heappop(self._deadlines)
            visit = self._open.get(member)
            if visit is None or visit.opened_at != opened_at:
                continue  # the visit this entry was for has closed
            actual = visit.last_seen + self.timeout
            if actual > now:  # refreshed since the entry was pushed: move the entry on
                heapq.heappush(self._deadlines, (actual, member, opened_at))
                continue
            del self._open[member]
            self._closed_at[member] = max(self._closed_at.get(member, actual), actual)
            closed.append(VisitClosed(member, actual, "timeout"))
        return closed

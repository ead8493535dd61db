"""Put each gateway's messages back in ``seq`` order before the rules see them.

A gateway numbers every message of its outbox (reads, sensors, alarms, acks) with one rising ``seq``, and
that is the order its reads happened in. The way to ingest does not keep it: with several ingest workers a
store's owner gets some of a gateway's messages directly and the rest a hand-over poll later, and a broker
restart or a resend reorders them too. A visit spans many messages (the card in the lane, the items picked
up, the exit), so the rules must see them in ``seq`` order, or a basket is charged without the items that
arrived late.

:class:`Reorder` is the stage that restores the order. Per gateway it knows the last ``seq`` it let
through. A message with the next ``seq`` goes through at once, and so does one at or below the last (a
repeat, or a late one that fills an old gap: the caller handles those as before). A message that jumps
ahead is held until the ``seq`` before it arrive (then everything held that now follows on goes out, in
order) or until it was held ``wait_s`` (then it goes out with everything held below it, in order, and the
caller's gap tracking takes over the ``seq`` still missing). So a reordering within ``wait_s`` never reaches
the rules, and a real gap delays what follows it by at most ``wait_s``. A gateway the stage does not know
(a new one: nothing of it is stored) is expected to start at ``seq`` 1, where its outbox starts, so its
first visit is ordered too; one that starts higher (its outbox outlived the database) waits once. At most ``max_held`` messages are held in all (the oldest goes
out early beyond that), so a gateway that skipped ``seq`` cannot fill the caller's queue with held messages.

Pure: no I/O; the caller passes a monotonic ``now`` in seconds. The held items are the caller's (e.g. a
message it has not acknowledged yet): :meth:`Reorder.take_all` gives them back when the caller stops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class ReorderStats:
    held: int = 0
    """Messages that arrived ahead of a missing ``seq`` and were held."""
    in_order: int = 0
    """Held messages released because the ``seq`` before them arrived."""
    waited: int = 0
    """Held messages released after ``wait_s`` (or beyond ``max_held``) with a ``seq`` before them still missing."""


@dataclass(slots=True)
class _Held(Generic[T]):
    until: float
    """When the first message held with this ``seq`` has waited ``wait_s``."""
    items: list[T]
    """Every copy that arrived (a repeat is the caller's to drop, in order)."""


@dataclass
class Reorder(Generic[T]):
    """Per gateway: the last ``seq`` let through and the messages held ahead of it."""

    wait_s: float = 0.5
    max_held: int = 1000
    stats: ReorderStats = field(default_factory=ReorderStats)
    _last: dict[str, int] = field(default_factory=dict)
    _held: dict[str, dict[int, _Held[T]]] = field(default_factory=dict)
    _count: int = 0

    def seed(self, gateway: str, last_seq: int) -> None:
        """The highest ``seq`` stored before this stage existed (so the next one after a restart is expected)."""
        self._last[gateway] = max(last_seq, self._last.get(gateway, last_seq))

    @property
    def held(self) -> int:
        """How many messages are held now."""
        return self._count

    def offer(self, gateway: str, seq: int, item: T, now: float) -> list[T]:
        """``item`` (``gateway``'s ``seq``) arrived: return what goes through now, in order (``item`` and what
        it lets out, or nothing while it is held)."""
        last = self._last.setdefault(gateway, 0)
        if seq <= last:
            return [item]
        held = self._held.setdefault(gateway, {})
        if seq == last + 1:
            self._last[gateway] = seq
            return [item, *self._follow_on(gateway)]
        entry = held.get(seq)
        if entry is None:
            held[seq] = _Held(now + self.wait_s, [item])
        else:
            entry.items.append(item)
        self._count += 1
        self.stats.held += 1
        out: list[T] = []
        while self._count > self.max_held:
            oldest_gateway, oldest_seq = min(((g, s) for g, h in self._held.items() for s in h),
                                             key=lambda gs: self._held[gs[0]][gs[1]].until)
            out.extend(self._release_up_to(oldest_gateway, oldest_seq))
        return out

    def due(self, now: float) -> list[T]:
        """What has waited ``wait_s``, with everything held below it and what follows on, in ``seq`` order."""
        out: list[T] = []
        for gateway, held in self._held.items():
            expired = [seq for seq, entry in held.items() if entry.until <= now]
            if expired:
                out.extend(self._release_up_to(gateway, max(expired)))
        return out

    def next_due(self) -> float | None:
        """When :meth:`due` will next release something (None while nothing is held)."""
        return min((entry.until for held in self._held.values() for entry in held.values()), default=None)

    def waiting(self, gateway: str) -> list[int]:
        """The ``seq`` of ``gateway`` held now."""
        return sorted(self._held.get(gateway, {}))

    def take_all(self) -> list[T]:
        """Everything held, per gateway in ``seq`` order, forgotten here (the caller is stopping: it hands them
        back to where they came from, unprocessed)."""
        out = [item for held in self._held.values() for seq in sorted(held) for item in held[seq].items]
        self._held.clear()
        self._count = 0
        return out

    def _release_up_to(self, gateway: str, seq: int) -> list[T]:
        """Release ``gateway``'s held messages up to ``seq`` (the ``seq`` before them are given up waiting for)
        and those that follow on."""
        held = self._held[gateway]
        out: list[T] = []
        for below in sorted(s for s in held if s <= seq):
            out.extend(self._pop(held, below, waited=True))
        self._last[gateway] = max(seq, self._last[gateway])
        out.extend(self._follow_on(gateway))
        return out

    def _follow_on(self, gateway: str) -> list[T]:
        """The held messages that continue ``gateway``'s sequence from its last ``seq``, let through."""
        held = self._held.get(gateway, {})
        out: list[T] = []
        while (self._last[gateway] + 1) in held:
            self._last[gateway] += 1
            out.extend(self._pop(held, self._last[gateway], waited=False))
        return out

    def _pop(self, held: dict[int, _Held[T]], seq: int, *, waited: bool) -> list[T]:
        items = held.pop(seq).items
        self._count -= len(items)
        if waited:
            self.stats.waited += len(items)
        else:
            self.stats.in_order += len(items)
        return items

"""Which ``seq`` of each gateway never arrived, and when to ask the gateway for them again.

A gateway numbers every message of its outbox (reads, sensors, alarms, acks) with one rising ``seq``.
:class:`GapTracker` sees each stored ``seq`` once (repeats are dropped before it) and keeps the ones skipped.
A skipped ``seq`` is first given ``grace_s`` to arrive on its own (a reordered or late delivery); then it is
due for a ``resend`` request (contiguous runs become one request). While it stays missing it is asked for
again, ``retry_s`` after the first request and twice as long after each further one (at most
``retry_max_s``): a request or its answer can be lost too (a broker killed again, a gateway offline), so a
count of attempts would give up on batches the gateway still keeps. Only two things make a ``seq`` lost:
the gateway's failed ``resend`` ack (it no longer keeps the entry), or ``give_up_s`` passing since the gap
was noticed (set it to the gateway's ``keep_delivered_s``: after that the gateway has forgotten it anyway). At most ``max_missing`` skipped ``seq`` are tracked per gateway (the oldest are
given up beyond that) and at most ``max_requests`` requests are made per call, so memory and traffic stay
bounded whatever a gateway sends.

Pure: no I/O; the caller passes a monotonic ``now`` in seconds and turns the answers into commands and alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contract.payloads import MAX_RESEND_SPAN


@dataclass(frozen=True, slots=True)
class Resend:
    """Ask ``gateway`` to publish ``from_seq`` … ``to_seq`` again."""

    gateway: str
    from_seq: int
    to_seq: int


@dataclass
class GapStats:
    noticed: int = 0
    """``seq`` found missing."""
    late: int = 0
    """Missing ``seq`` that arrived before they were asked for."""
    requests: int = 0
    """``resend`` requests made."""
    filled: int = 0
    """Missing ``seq`` that arrived after they were asked for."""
    lost: int = 0
    """Missing ``seq`` given up."""


@dataclass(slots=True)
class _Missing:
    noticed_at: float
    due_at: float
    attempts: int = 0


@dataclass
class GapTracker:
    grace_s: float = 2.0
    retry_s: float = 10.0
    retry_max_s: float = 120.0
    give_up_s: float = 3600.0
    max_missing: int = 10_000
    max_requests: int = 8
    stats: GapStats = field(default_factory=GapStats)
    _last: dict[str, int] = field(default_factory=dict)
    _missing: dict[str, dict[int, _Missing]] = field(default_factory=dict)
    _given_up: dict[str, list[int]] = field(default_factory=dict)

    def seed(self, gateway: str, last_seq: int) -> None:
        """The highest ``seq`` stored before this tracker existed (so a gap across a restart is noticed)."""
        self._last[gateway] = max(last_seq, self._last.get(gateway, 0))

    def observe(self, gateway: str, seq: int, now: float) -> int:
        """``seq`` was stored; return how many ``seq`` it shows to be missing (0 for the next one in line)."""
        missing = self._missing.setdefault(gateway, {})
        last = self._last.get(gateway)
        if last is None or seq > last:
            self._last[gateway] = seq
            if last is None:
                return 0
            tracked_from = max(last + 1, seq - self.max_missing)
            self._give_up(gateway, list(range(last + 1, tracked_from)))  # more than can be tracked
            for skipped in range(tracked_from, seq):
                missing[skipped] = _Missing(now, now + self.grace_s)
            self._trim(gateway)
            self.stats.noticed += seq - last - 1
            return seq - last - 1
        found = missing.pop(seq, None)
        if found is not None:
            if found.attempts:
                self.stats.filled += 1
            else:
                self.stats.late += 1
        return 0

    def due(self, now: float) -> list[Resend]:
        """The requests to make now (each missing run when its back-off ends); ``seq`` missing for longer than
        ``give_up_s`` are given up."""
        requests: list[Resend] = []
        for gateway, missing in self._missing.items():
            self._give_up(gateway, [s for s, m in missing.items() if now - m.noticed_at >= self.give_up_s])
            ready = sorted(s for s, m in missing.items() if m.due_at <= now)
            for first, last in _runs(ready):
                if len(requests) >= self.max_requests:
                    return requests
                for seq in range(first, last + 1):
                    entry = missing[seq]
                    entry.due_at = now + min(self.retry_s * 2 ** entry.attempts, self.retry_max_s)
                    entry.attempts += 1
                requests.append(Resend(gateway, first, last))
                self.stats.requests += 1
        return requests

    def refused(self, gateway: str, from_seq: int, to_seq: int) -> None:
        """The gateway could not resend (some of) ``from_seq`` … ``to_seq``: what is still missing is lost."""
        missing = self._missing.get(gateway, {})
        self._give_up(gateway, [s for s in range(from_seq, to_seq + 1) if s in missing])

    def take_lost(self) -> dict[str, list[int]]:
        """The ``seq`` given up since the last call, per gateway (for the alert that reports them)."""
        lost, self._given_up = self._given_up, {}
        return lost

    def missing(self, gateway: str) -> list[int]:
        return sorted(self._missing.get(gateway, {}))

    def _give_up(self, gateway: str, seqs: list[int]) -> None:
        if not seqs:
            return
        missing = self._missing.get(gateway, {})
        for seq in seqs:
            missing.pop(seq, None)
        self._given_up.setdefault(gateway, []).extend(seqs)
        self.stats.lost += len(seqs)

    def _trim(self, gateway: str) -> None:
        missing = self._missing[gateway]
        if len(missing) > self.max_missing:
            self._give_up(gateway, sorted(missing)[: len(missing) - self.max_missing])


def _runs(seqs: list[int]) -> list[tuple[int, int]]:
    """Sorted ``seq`` → contiguous ``(first, last)`` runs of at most :data:`MAX_RESEND_SPAN`."""
    runs: list[tuple[int, int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][1] + 1 and seq - runs[-1][0] < MAX_RESEND_SPAN:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs

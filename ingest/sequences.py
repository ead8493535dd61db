"""Which ``(gateway, seq)`` messages ingest has taken already, answered from memory.

Every gateway numbers the messages of its outbox (reads, sensors, alarms, acks) with one increasing
``seq``. Asking the database "seen before?" cost a query per message; this book answers from memory
instead (the gaps are :mod:`ingest.gaps`'s business). Per gateway it keeps the highest seq taken and every
seq taken within :data:`DEFAULT_WINDOW` below it, loaded from ``gateway_batches`` at start. A seq older
than the window (a very late batch from an outbox) is the one case it cannot answer: the caller asks the
database. The table's primary key stays the final guard (a second ingest process sharing the database).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

DEFAULT_WINDOW = 4096
"""Seqs below the highest one that are still answered from memory."""

Verdict = Literal["new", "repeat", "unknown"]
"""``unknown``: older than the window; only the database knows."""

GatewayKey = tuple[str, str]
"""(store, gateway)."""


@dataclass(slots=True)
class _Gateway:
    base: int | None
    """The highest seq when the book was loaded (what ``last`` falls back to when claims are released)."""
    last: int | None
    seqs: set[int] = field(default_factory=set)


class SequenceBook:
    """Per gateway: the highest seq taken and the seqs taken in the window below it."""

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        if window < 1:
            raise ValueError("the window holds at least one seq")
        self.window = window
        self._gateways: dict[GatewayKey, _Gateway] = {}

    def load(self, key: GatewayKey, last: int | None, recent: Iterable[int]) -> None:
        """What the database holds for one gateway: its highest seq and the seqs stored within the window."""
        seqs = {s for s in recent if last is None or s > last - self.window}
        self._gateways[key] = _Gateway(last, last, seqs)

    def check(self, key: GatewayKey, seq: int) -> Verdict:
        """Is ``seq`` new, a repeat, or too old to tell?"""
        gateway = self._gateways.get(key)
        if gateway is None or gateway.last is None:
            return "new"
        if seq in gateway.seqs:
            return "repeat"
        if seq > gateway.last - self.window:
            return "new"  # beyond the highest, or a late one filling an earlier gap
        return "unknown"

    def claim(self, key: GatewayKey, seq: int) -> None:
        """Take ``seq`` (its batch is being stored); a later :meth:`check` calls it a repeat."""
        gateway = self._gateways.setdefault(key, _Gateway(None, None))
        gateway.seqs.add(seq)
        if gateway.last is None or seq > gateway.last:
            gateway.last = seq
        if len(gateway.seqs) > 2 * self.window:
            floor = gateway.last - self.window
            gateway.seqs = {s for s in gateway.seqs if s > floor}

    def release(self, key: GatewayKey, seq: int) -> None:
        """Forget a claim whose batch was not stored after all (so that its redelivery is processed)."""
        gateway = self._gateways.get(key)
        if gateway is None or seq not in gateway.seqs:
            return
        gateway.seqs.discard(seq)
        if seq == gateway.last:
            below = [*gateway.seqs, *([] if gateway.base is None else [gateway.base])]
            gateway.last = max(below, default=None)

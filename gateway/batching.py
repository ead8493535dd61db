"""Collects items into batches of at most ``max_items``, released at most ``max_delay_s`` after the first.

Pure: time is passed in (seconds on any monotonic scale).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    def __init__(self, max_items: int, max_delay_s: float) -> None:
        if max_items < 1 or max_delay_s < 0:
            raise ValueError("max_items must be at least 1 and max_delay_s not negative")
        self.max_items = max_items
        self.max_delay_s = max_delay_s
        self._items: list[T] = []
        self._opened_at = 0.0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, items: Iterable[T], now: float) -> list[list[T]]:
        """Add items; return the batches that are full (and the rest if it is already due)."""
        ready: list[list[T]] = []
        for item in items:
            if not self._items:
                self._opened_at = now
            self._items.append(item)
            if len(self._items) >= self.max_items:
                ready.append(self._items)
                self._items = []
        due = self.due(now)
        if due is not None:
            ready.append(due)
        return ready

    def due(self, now: float) -> list[T] | None:
        """The open batch if its first item waited ``max_delay_s``; else ``None``."""
        if self._items and now - self._opened_at >= self.max_delay_s:
            return self.drain()
        return None

    def drain(self) -> list[T]:
        items, self._items = self._items, []
        return items

    def next_due(self) -> float | None:
        """When the open batch falls due (``None`` if empty)."""
        return self._opened_at + self.max_delay_s if self._items else None

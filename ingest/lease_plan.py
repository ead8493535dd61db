"""Which stores an ingest worker should own: the pure arithmetic of the store leases (no I/O).

Every worker runs the same rule on what the database says (live workers, current leases), so they agree
without talking to each other:

* the fair share is ``ceil(stores / live workers)``: together the workers can always own every store;
* a worker claims free stores (never owned, released, or whose lease expired) until it owns its share;
* a worker that owns more than its share releases the excess, so a worker that starts (or comes back) finds
  stores to claim;
* which stores: a rendezvous hash of ``(worker, store)`` ranks them. A worker claims its highest-ranked
  free stores first and releases its lowest-ranked ones, so the same workers end up with the same stores
  after a restart (their visits and baskets are restored from the database either way; stability only
  spares work).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime


def fair_share(stores: int, live_workers: int) -> int:
    """How many stores one worker may own: ``ceil(stores / live_workers)`` (every store if it is alone)."""
    if stores <= 0:
        return 0
    workers = max(1, live_workers)
    return -(-stores // workers)


def rank(worker: str, store: str) -> int:
    """The rendezvous weight of ``store`` for ``worker``: the same on every machine and every run."""
    digest = hashlib.sha256(f"{worker}\x00{store}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def preferred(worker: str, stores: Iterable[str]) -> list[str]:
    """``stores`` in the order ``worker`` wants them (highest rendezvous weight first)."""
    return sorted(stores, key=lambda store: (-rank(worker, store), store))


@dataclass(frozen=True, slots=True)
class LeaseView:
    """One store's lease as the database holds it."""

    worker: str | None
    expires_at: datetime

    def free(self, now: datetime) -> bool:
        """Nobody owns the store: never claimed, released, or its owner stopped renewing."""
        return self.worker is None or self.expires_at <= now


@dataclass(frozen=True, slots=True)
class Plan:
    claim: tuple[str, ...]
    """Free stores to claim now, in the order to try them."""
    release: tuple[str, ...]
    """Owned stores to give up (the worker owns more than its share)."""


def plan(worker: str, stores: Collection[str], owned: Collection[str], leases: Mapping[str, LeaseView],
         live_workers: int, now: datetime) -> Plan:
    """What ``worker``, owning ``owned``, should claim and release among ``stores``.

    ``leases`` holds the lease of each store that has one (a store without one is free); ``live_workers``
    counts the workers whose heartbeat is recent, this one included.
    """
    share = fair_share(len(stores), max(1, live_workers))
    mine = [store for store in owned if store in stores]
    if len(mine) > share:
        return Plan(claim=(), release=tuple(preferred(worker, mine)[share:]))
    free = [store for store in stores
            if store not in owned and (store not in leases or leases[store].free(now))]
    return Plan(claim=tuple(preferred(worker, free)[: share - len(mine)]), release=())

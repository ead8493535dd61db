"""The store-lease arithmetic every ingest worker runs: fair share, which stores to claim and to release."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.lease_plan import LeaseView, fair_share, plan, preferred, rank

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
STORES = [f"store-{n}" for n in range(7)]


@pytest.mark.parametrize(("stores", "workers", "share"), [
    (0, 3, 0), (1, 3, 1), (3, 3, 1), (4, 3, 2), (7, 3, 3), (7, 1, 7), (7, 0, 7), (6, 2, 3),
])
def test_the_fair_share_rounds_up_so_the_workers_can_own_every_store(stores: int, workers: int, share: int) -> None:
    assert fair_share(stores, workers) == share
    assert fair_share(stores, workers) * max(1, workers) >= stores


def test_the_rendezvous_order_is_the_same_every_time_and_differs_between_workers() -> None:
    assert preferred("w1", STORES) == preferred("w1", list(reversed(STORES)))
    assert rank("w1", "store-0") == rank("w1", "store-0")
    assert preferred("w1", STORES) != preferred("w2", STORES)


def test_a_lone_worker_claims_every_free_store_in_its_preferred_order() -> None:
    todo = plan("w1", STORES, owned=set(), leases={}, live_workers=1, now=NOW)
    assert todo.claim == tuple(preferred("w1", STORES)) and todo.release == ()


def test_a_worker_claims_only_up_to_its_share_and_never_a_store_held_by_another() -> None:
    held = {"store-0": LeaseView("w2", NOW + timedelta(seconds=5)),
            "store-1": LeaseView("w3", NOW + timedelta(seconds=5))}
    todo = plan("w1", STORES, owned=set(), leases=held, live_workers=3, now=NOW)
    assert len(todo.claim) == 3
    assert not {"store-0", "store-1"} & set(todo.claim)
    assert list(todo.claim) == [s for s in preferred("w1", STORES) if s not in held][:3]


def test_expired_and_released_leases_are_free() -> None:
    view = {"store-0": LeaseView("w2", NOW - timedelta(seconds=1)), "store-1": LeaseView(None, NOW + timedelta(hours=1)),
            "store-2": LeaseView("w2", NOW)}
    todo = plan("w1", STORES[:3], owned=set(), leases=view, live_workers=1, now=NOW)
    assert set(todo.claim) == {"store-0", "store-1", "store-2"}


def test_a_worker_above_its_share_releases_its_least_preferred_stores_and_claims_nothing() -> None:
    todo = plan("w1", STORES, owned=set(STORES), leases={}, live_workers=3, now=NOW)
    assert todo.claim == ()
    assert todo.release == tuple(preferred("w1", STORES)[3:])


def test_when_every_worker_follows_the_plan_each_store_ends_with_exactly_one_owner() -> None:
    """Workers joining one by one, each planning on what the others left: no store is left unowned or
    owned twice, and nobody holds more than the fair share."""
    workers = ["w1", "w2", "w3"]
    owner: dict[str, str] = {}
    for joined in range(1, len(workers) + 1):
        live = workers[:joined]
        for _ in range(3):  # a few renewal rounds
            for worker in live:
                view = {store: LeaseView(w, NOW + timedelta(seconds=10)) for store, w in owner.items()}
                mine = {store for store, w in owner.items() if w == worker}
                todo = plan(worker, STORES, mine, view, len(live), NOW)
                for store in todo.release:
                    del owner[store]
                for store in todo.claim:
                    owner[store] = worker
        assert set(owner) == set(STORES)
        counts = [sum(1 for w in owner.values() if w == worker) for worker in live]
        assert max(counts) <= fair_share(len(STORES), len(live))
        assert min(counts) >= 1

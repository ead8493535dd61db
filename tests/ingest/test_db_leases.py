"""Store leases, the fence and the hand-over table against the real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from ingest.db import leases, records
from ingest.db import schema as t
from ingest.db.engine import make_engine

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=10)


@pytest.fixture
def db(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    with engine.begin() as conn:
        leases.ensure_lease_row(conn, "s1")
        leases.ensure_lease_row(conn, "s1")  # a second worker doing the same is harmless
    yield engine
    engine.dispose()


def claim(db: Engine, worker: str, at: datetime) -> leases.Lease | None:
    with db.begin() as conn:
        return leases.claim(conn, "s1", worker, at, TTL)


def dead_letters(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.dead_letters)).scalar_one())


def test_a_second_claimant_cannot_take_an_unexpired_lease(db: Engine) -> None:
    first = claim(db, "w1", NOW)
    assert first == leases.Lease("s1", "w1", 1)
    assert claim(db, "w2", NOW + TTL - timedelta(seconds=1)) is None
    with db.begin() as conn:  # renewed by its owner, it stays out of reach past the first expiry
        assert leases.renew(conn, first, NOW + timedelta(seconds=5), TTL)
    assert claim(db, "w2", NOW + TTL + timedelta(seconds=1)) is None
    assert claim(db, "w2", NOW + timedelta(seconds=15)) == leases.Lease("s1", "w2", 2)


def test_an_expired_lease_goes_to_the_next_claimant_and_the_old_owner_learns_it_lost_it(db: Engine) -> None:
    first = claim(db, "w1", NOW)
    assert first is not None
    second = claim(db, "w2", NOW + TTL)
    assert second == leases.Lease("s1", "w2", 2)
    with db.begin() as conn:
        assert not leases.renew(conn, first, NOW + TTL, TTL)
        leases.release(conn, first, NOW + TTL)  # too late: it is no longer first's to release
    assert claim(db, "w3", NOW + TTL + timedelta(seconds=1)) is None


def test_a_released_lease_is_free_at_once(db: Engine) -> None:
    first = claim(db, "w1", NOW)
    assert first is not None
    with db.begin() as conn:
        leases.release(conn, first, NOW + timedelta(seconds=1))
    assert claim(db, "w2", NOW + timedelta(seconds=1)) == leases.Lease("s1", "w2", 2)


def test_a_fenced_transaction_raises_lease_lost_and_writes_nothing(db: Engine) -> None:
    first = claim(db, "w1", NOW)
    assert first is not None
    with db.begin() as conn:
        leases.fence(conn, first)
        records.record_dead_letter(conn, "sc/v1/s1/gw1/reads", "while owned", b"x", NOW)
    assert claim(db, "w2", NOW + TTL) is not None
    with pytest.raises(leases.LeaseLost), db.begin() as conn:
        records.record_dead_letter(conn, "sc/v1/s1/gw1/reads", "before the check", b"x", NOW)
        leases.fence(conn, first)
    assert dead_letters(db) == 1


def test_a_claim_waits_for_the_owners_open_transaction_and_then_the_owner_is_fenced(db: Engine) -> None:
    """The owner's transaction passed the fence and is still writing when its lease expires: a claimant
    waits for it (the lease row is locked), so the new owner's restore sees what it wrote."""
    first = claim(db, "w1", NOW)
    assert first is not None
    claimed: list[leases.Lease | None] = []
    with db.begin() as conn:
        leases.fence(conn, first)
        claimant = threading.Thread(target=lambda: claimed.append(claim(db, "w2", NOW + TTL)))
        claimant.start()
        claimant.join(0.5)
        records.record_dead_letter(conn, "sc/v1/s1/gw1/reads", "the owner's last write", b"x", NOW)
        waited = not claimed
    claimant.join(15)
    assert waited and claimed == [leases.Lease("s1", "w2", 2)]
    assert dead_letters(db) == 1
    with pytest.raises(leases.LeaseLost), db.begin() as conn:
        leases.fence(conn, first)


def test_handed_over_messages_are_listed_for_their_store_without_those_in_flight(db: Engine) -> None:
    with db.begin() as conn:
        leases.hand_over(conn, [("s1", "sc/v1/s1/gw1/reads", b"one"), ("s2", "sc/v1/s2/gw1/reads", b"other"),
                                ("s1", "sc/v1/s1/gw1/reads", b"two")], NOW)
    with db.connect() as conn:
        present, rows = leases.pending_handoff(conn, {"s1"}, skip=set())
    assert [(r.store, r.payload) for r in rows] == [("s1", b"one"), ("s1", b"two")]
    assert present == {r.id for r in rows}
    with db.connect() as conn:
        present_again, fresh = leases.pending_handoff(conn, {"s1"}, skip={rows[0].id})
    assert present_again == present and [r.payload for r in fresh] == [b"two"]
    with db.begin() as conn:
        leases.take_handoff(conn, [rows[0].id])
    with db.connect() as conn:
        assert leases.pending_handoff(conn, {"s1"}, skip=set())[0] == {rows[1].id}
        assert leases.handoff_count(conn) == 2


def test_live_workers_are_those_with_a_recent_heartbeat(db: Engine) -> None:
    with db.begin() as conn:
        leases.heartbeat(conn, "w1", NOW)
        leases.heartbeat(conn, "w2", NOW - TTL - timedelta(seconds=1))
        leases.heartbeat(conn, "w3", NOW - timedelta(seconds=1))
        leases.forget_worker(conn, "w3")
        assert leases.live_workers(conn, NOW, TTL) == ["w1"]


def test_a_dead_workers_run_is_retired_once_and_its_store_is_free_at_once(db: Engine) -> None:
    """Its will came: the first worker to try frees its lease (no wait for the lease time) and drops it from the
    fair share; a second try gets nothing, and the fence stops the dead run should it write after all."""
    run = NOW - timedelta(minutes=5)
    with db.begin() as conn:
        leases.heartbeat(conn, "w2", run, started_at=run)
        leases.heartbeat(conn, "w2", NOW)
    held = claim(db, "w2", NOW)
    assert held is not None
    later = NOW + timedelta(seconds=2)
    with db.begin() as conn:
        assert leases.retire_worker(conn, "w2", run, later - timedelta(seconds=1), later) == ["s1"]
        assert leases.retire_worker(conn, "w2", run, later - timedelta(seconds=1), later) is None
        assert leases.live_workers(conn, later, TTL) == []
        assert leases.last_beat(conn, "w2") is None
    taken = claim(db, "w1", later)
    assert taken is not None and taken.epoch == held.epoch + 1
    with db.begin() as conn, pytest.raises(leases.LeaseLost):
        leases.fence(conn, held)


def test_a_worker_that_still_beats_or_runs_again_is_not_retired(db: Engine) -> None:
    """Its broker connection ended (a will) but its heartbeat is recent: it keeps its store. Started again, it
    is a new run: the old run's will retires nothing."""
    run = NOW - timedelta(minutes=5)
    with db.begin() as conn:
        leases.heartbeat(conn, "w2", run, started_at=run)
        leases.heartbeat(conn, "w2", NOW, started_at=run)
    assert claim(db, "w2", NOW) is not None
    with db.begin() as conn:
        assert leases.retire_worker(conn, "w2", run, NOW - timedelta(seconds=1), NOW) is None
        assert leases.last_beat(conn, "w2") == (run, NOW)
        leases.heartbeat(conn, "w2", NOW + timedelta(seconds=1), started_at=NOW + timedelta(seconds=1))
        assert leases.retire_worker(conn, "w2", run, NOW + timedelta(seconds=5), NOW + timedelta(seconds=6)) is None
    assert claim(db, "w1", NOW + timedelta(seconds=1)) is None


def test_a_handed_over_rows_id_is_never_reused(db: Engine) -> None:
    """The owner skips the ids it has in flight: a new row must not take the id of one just deleted."""
    with db.begin() as conn:
        leases.hand_over(conn, [("s1", "sc/v1/s1/gw1/reads", b"one")], NOW)
    with db.connect() as conn:
        (first,) = leases.pending_handoff(conn, {"s1"}, skip=set())[1]
    with db.begin() as conn:
        leases.take_handoff(conn, [first.id])
        leases.hand_over(conn, [("s1", "sc/v1/s1/gw1/reads", b"two")], NOW)
    with db.connect() as conn:
        (second,) = leases.pending_handoff(conn, {"s1"}, skip=set())[1]
    assert second.id > first.id


def test_a_renewal_does_not_wait_for_the_owners_open_transaction_on_postgresql(db: Engine) -> None:
    """A long transaction of the owner (a large store's first seed) must not let its own lease expire. SQLite
    has one writer at a time: there the renewal waits for the transaction, then succeeds."""
    first = claim(db, "w1", NOW)
    assert first is not None
    renewed: list[bool] = []

    def renew() -> None:
        with db.begin() as other:
            renewed.append(leases.renew(other, first, NOW + timedelta(seconds=5), TTL, wait_s=2.0))

    with db.begin() as conn:
        leases.fence(conn, first)
        renewer = threading.Thread(target=renew)
        renewer.start()
        renewer.join(0.5 if db.dialect.name == "sqlite" else 5)
        during = list(renewed)
    renewer.join(15)
    assert during == ([] if db.dialect.name == "sqlite" else [True])
    assert renewed == [True]

"""Store leases, worker heartbeats and the hand-over of stray messages between ingest workers.

A store's rules engine lives in the memory of one worker, so one worker at a time owns each store. The
database decides who: a lease row per store (``worker``, ``epoch``, ``expires_at``). A claim is a conditional
UPDATE that only succeeds on a free lease and bumps the epoch; every transaction of the owner first checks,
inside that same transaction, that the lease still names it with its epoch (:func:`fence`). A worker that
lost its lease (paused past the expiry, cut off from the database) therefore cannot write after the next
owner claimed the store, and the next owner's restore sees everything the old one committed.

Messages that reach a worker that does not own their store go into ``ingest_handoff`` (:func:`hand_over`)
and are acknowledged to the broker only then; the owner takes them from there (:func:`pending_handoff`) and
deletes each row in the transaction that stores its effects (:func:`take_handoff`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from ingest.db import schema as t
from ingest.lease_plan import LeaseView

NEVER = datetime(1970, 1, 1, tzinfo=UTC)


class LeaseLost(Exception):
    """This worker no longer holds the store's lease with the epoch it started with: stop, write nothing."""

    def __init__(self, store: str, worker: str, epoch: int) -> None:
        super().__init__(f"worker {worker!r} lost the lease of store {store!r} (epoch {epoch})")
        self.store, self.worker, self.epoch = store, worker, epoch


@dataclass(frozen=True, slots=True)
class Lease:
    store: str
    worker: str
    epoch: int


@dataclass(frozen=True, slots=True)
class Handoff:
    """One handed-over message, as the owner reads it back."""

    id: int
    store: str
    topic: str
    payload: bytes


# -- workers ---------------------------------------------------------------------------------------


def heartbeat(conn: Connection, worker: str, now: datetime, started_at: datetime | None = None) -> None:
    """Say that ``worker`` is alive. ``started_at`` (a process's first heartbeat) names this run of the worker,
    its incarnation: :func:`retire_worker` frees a worker only while the row still names the run that died."""
    row = t.ingest_workers.c
    values = {"seen_at": now} if started_at is None else {"seen_at": now, "started_at": started_at}
    done = conn.execute(update(t.ingest_workers).where(row.worker == worker).values(**values))
    if done.rowcount == 0:
        conn.execute(insert(t.ingest_workers).values(worker=worker, seen_at=now, started_at=started_at or now))


def retire_worker(conn: Connection, worker: str, started_at: datetime, beat_before: datetime,
                  now: datetime) -> list[str] | None:
    """Take the place of run ``started_at`` of ``worker``, gone without a clean stop (its Last Will came) and
    silent since ``beat_before``: remove its heartbeat (it no longer counts for the fair share) and free its
    leases at once (were it alive after all, the fence stops its writes). The stores freed; None when the row
    does not name that run any more (another worker retired it first, or the worker started again) or the run
    still beats: of several workers trying at once, at most one gets a list."""
    row = t.ingest_workers.c
    gone = conn.execute(delete(t.ingest_workers).where(row.worker == worker, row.started_at == started_at,
                                                       row.seen_at <= beat_before))
    if gone.rowcount != 1:
        return None
    lease = t.ingest_leases.c
    freed = list(conn.execute(select(lease.store).where(lease.worker == worker).order_by(lease.store)).scalars())
    conn.execute(update(t.ingest_leases).where(lease.worker == worker).values(worker=None, expires_at=now))
    return freed


def last_beat(conn: Connection, worker: str) -> tuple[datetime, datetime] | None:
    """When the run of ``worker`` that the heartbeat row names started, and when it last beat; None without a
    row."""
    row = t.ingest_workers.c
    found = conn.execute(select(row.started_at, row.seen_at).where(row.worker == worker)).first()
    return None if found is None else (found.started_at, found.seen_at)


def live_workers(conn: Connection, now: datetime, ttl: timedelta) -> list[str]:
    """The workers whose heartbeat is more recent than ``ttl``."""
    return list(conn.execute(select(t.ingest_workers.c.worker).where(t.ingest_workers.c.seen_at > now - ttl)
                             .order_by(t.ingest_workers.c.worker)).scalars())


def forget_worker(conn: Connection, worker: str) -> None:
    """A worker that stops cleanly no longer counts for the fair share."""
    conn.execute(delete(t.ingest_workers).where(t.ingest_workers.c.worker == worker))


# -- leases ----------------------------------------------------------------------------------------


def leases(conn: Connection, stores: Collection[str]) -> dict[str, LeaseView]:
    rows = conn.execute(select(t.ingest_leases.c.store, t.ingest_leases.c.worker, t.ingest_leases.c.expires_at)
                        .where(t.ingest_leases.c.store.in_(sorted(stores))))
    return {row.store: LeaseView(row.worker, row.expires_at) for row in rows}


def ensure_lease_row(conn: Connection, store: str) -> None:
    """Create the store's (free) lease row if it has none, so that a claim is always one UPDATE. Run it in
    its own transaction: two workers may create it at once, and the loser's insert fails harmlessly."""
    if conn.execute(select(t.ingest_leases.c.store).where(t.ingest_leases.c.store == store)).first() is None:
        try:
            with conn.begin_nested():
                conn.execute(insert(t.ingest_leases).values(store=store, worker=None, epoch=0, expires_at=NEVER))
        except IntegrityError:
            pass


def claim(conn: Connection, store: str, worker: str, now: datetime, ttl: timedelta) -> Lease | None:
    """Take the store's lease if it is free (no owner, or expired); the new epoch is one more than the last.
    None when another worker holds it. The UPDATE's condition is re-checked on the row it locks, so of two
    workers claiming at once only one succeeds."""
    lease = t.ingest_leases.c
    done = conn.execute(update(t.ingest_leases)
                        .where(lease.store == store, (lease.worker.is_(None)) | (lease.expires_at <= now))
                        .values(worker=worker, epoch=lease.epoch + 1, expires_at=now + ttl))
    if done.rowcount != 1:
        return None
    epoch = conn.execute(select(lease.epoch).where(lease.store == store)).scalar_one()
    return Lease(store, worker, int(epoch))


def renew(conn: Connection, held: Lease, now: datetime, ttl: timedelta, *, wait_s: float = 0.5) -> bool:
    """Extend a lease this worker still holds with the same epoch; False when it lost it.

    Run each lease in its own short transaction. On PostgreSQL a renewal does not wait for the owner's
    transactions (see :func:`fence`), only for a claim in progress: at most ``wait_s`` (then it raises, and
    the next round tries again), so one stuck row never stalls the renewal of the others.
    A lease that expired but that nobody claimed is renewed: nobody can have written for that store since,
    as a claim would have changed the epoch."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SET LOCAL lock_timeout = '{max(1, int(wait_s * 1000))}ms'"))
    lease = t.ingest_leases.c
    done = conn.execute(update(t.ingest_leases)
                        .where(lease.store == held.store, lease.worker == held.worker, lease.epoch == held.epoch)
                        .values(expires_at=now + ttl))
    return done.rowcount == 1


def release(conn: Connection, held: Lease, now: datetime) -> None:
    """Give the store up now (its lease expires at once), if this worker still holds it."""
    lease = t.ingest_leases.c
    conn.execute(update(t.ingest_leases)
                 .where(lease.store == held.store, lease.worker == held.worker, lease.epoch == held.epoch)
                 .values(worker=None, expires_at=now))


def fence(conn: Connection, held: Lease) -> None:
    """Raise :class:`LeaseLost` unless ``held`` is still the store's lease; the first statement of each of the
    owner's transactions.

    PostgreSQL: the lease row is read ``FOR KEY SHARE``. A claim changes ``epoch``, a key column (the unique
    ``(store, epoch)``), so it waits for this transaction to end, and a claim that committed first is seen (its
    new epoch fails the check); a renewal changes only ``expires_at`` and never waits for the owner's
    transactions (a long one, e.g. a large store's first seed, would otherwise let the lease expire). SQLite
    serialises writers: the check is a no-op UPDATE that takes the write lock at once (a plain read first could
    see a snapshot older than a claim and fail later with a busy error instead)."""
    lease = t.ingest_leases.c
    mine = (lease.store == held.store, lease.worker == held.worker, lease.epoch == held.epoch)
    if conn.dialect.name == "sqlite":
        ok = conn.execute(update(t.ingest_leases).where(*mine).values(epoch=lease.epoch)).rowcount == 1
    else:
        row = conn.execute(select(lease.worker, lease.epoch).where(lease.store == held.store)
                           .with_for_update(read=True, key_share=True)).first()
        ok = row is not None and (row.worker, row.epoch) == (held.worker, held.epoch)
    if not ok:
        raise LeaseLost(held.store, held.worker, held.epoch)


# -- hand-over -------------------------------------------------------------------------------------


def hand_over(conn: Connection, messages: Sequence[tuple[str, str, bytes]], now: datetime) -> None:
    """Store ``(store, topic, payload)`` messages for their owners, in one statement."""
    if messages:
        conn.execute(insert(t.ingest_handoff), [
            {"store": store, "topic": topic, "payload": payload, "received_at": now}
            for store, topic, payload in messages])


def park(conn: Connection, store: str, messages: Sequence[tuple[str, bytes]], now: datetime,
         wait_s: float = 0.5) -> list[int]:
    """Store the owner's own ``(topic, payload)`` messages of ``store`` like handed-over ones (so that they
    can be acknowledged to the broker while they wait); their ids, in the order given. Waits at most
    ``wait_s`` for a lock (the caller's thread has other work: on failure, the messages simply stay held)."""
    if not messages:
        return []
    h = t.ingest_handoff.c
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        busy = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)
        conn.exec_driver_sql(f"PRAGMA busy_timeout={int(wait_s * 1000)}")
    else:
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(wait_s * 1000)}ms'")
    try:
        rows = conn.execute(insert(t.ingest_handoff).returning(h.id, sort_by_parameter_order=True), [
            {"store": store, "topic": topic, "payload": payload, "received_at": now} for topic, payload in messages])
        return [int(row.id) for row in rows]
    finally:
        if sqlite:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={busy}")


def pending_handoff(conn: Connection, stores: Collection[str], skip: Collection[int],
                    limit: int = 500) -> tuple[set[int], list[Handoff]]:
    """Every handed-over id of ``stores`` still in the table, and the messages among them not in ``skip``
    (those the caller already has in flight), oldest first.

    Ids are read, not compared with a high-water mark: on PostgreSQL a transaction that took a smaller id
    may commit after one that took a larger id."""
    if not stores:
        return set(), []
    h = t.ingest_handoff.c
    present = set(conn.execute(select(h.id).where(h.store.in_(sorted(stores)))).scalars())
    wanted = sorted(present - set(skip))[:limit]
    if not wanted:
        return present, []
    rows = conn.execute(select(h.id, h.store, h.topic, h.payload).where(h.id.in_(wanted)).order_by(h.id))
    return present, [Handoff(row.id, row.store, row.topic, bytes(row.payload)) for row in rows]


def take_handoff(conn: Connection, ids: Collection[int]) -> None:
    """Delete handed-over messages: called in the transaction that stores their effects."""
    if ids:
        conn.execute(delete(t.ingest_handoff).where(t.ingest_handoff.c.id.in_(sorted(ids))))


def handoff_count(conn: Connection, store: str | None = None) -> int:
    query = select(func.count()).select_from(t.ingest_handoff)
    if store is not None:
        query = query.where(t.ingest_handoff.c.store == store)
    return int(conn.execute(query).scalar_one())

"""An ingest service running against the test broker: the one way ingest tests start and stop it.

``workers=1`` (the default) is today's single-store service; ``workers=3`` starts three ingest workers
(ingest.worker, in this process) that share the store through the broker's shared subscription: one owns the
store's service, the others hand its messages over through the database. The :func:`ingest_workers` fixture
runs a test each way on PostgreSQL and with the single service on SQLite (:func:`worker_forms` says why).
What the tests read of the service (its database, its figures) reads the same of the cluster
(:class:`IngestCluster`).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine

from ingest.db.engine import make_engine
from ingest.gaps import GapStats, GapTracker
from ingest.service import IngestService, IngestSettings, IngestStats
from ingest.worker import IngestWorker, WorkerSettings
from silentcommerce.broker import INGEST_USER
from tests.fixtures.broker import RunningBroker

INGEST_WORKERS = (1, 3)
SCALE_OUT_ENGINE = "postgresql"


def worker_forms(engine: str, *, sqlite_too: bool = False) -> tuple[int, ...]:
    """The ``ingest_workers`` forms a test runs in on ``engine``: every form on PostgreSQL, the single service
    only on SQLite unless ``sqlite_too`` (the test is marked ``sqlite_workers``).

    Why: every decision is checked on both engines with one service. The several-worker forms are about
    concurrency (the shared subscription, the hand-over table, the lease fence, the reorder stage), which is
    the same code on either engine, and PostgreSQL is the engine for scaling out (docs/deploy.md, "Ingest
    workers"). They cost about 73 s of a CI run, 34 s of it on SQLite; worker mode on SQLite stays covered
    by tests/ingest/test_workers.py and the worker-kill fault test, which run on both engines. A test whose
    several-worker form shows something only SQLite does (its lone writer: the database outage moves the
    store on SQLite) is marked ``sqlite_workers`` and runs in every form on both."""
    if engine == SCALE_OUT_ENGINE or sqlite_too:
        return INGEST_WORKERS
    return INGEST_WORKERS[:1]


def workers_id(count: int) -> str:
    return "1-ingest" if count == 1 else f"{count}-workers"


@pytest.fixture
def ingest_workers(request: pytest.FixtureRequest) -> int:
    """How many ingest processes serve the store: 1 (the single-store service) or 3 workers sharing it, in
    the forms :func:`worker_forms` gives the test's database engine (the test must take a database).

    A test marked ``seq_order`` plays a visit over several batches of one gateway: with several workers a
    batch handed over through the database can reach its owner after the one that followed it, and the
    service's reorder stage must put them back in seq order before the rules."""
    if not hasattr(request, "param"):
        raise pytest.UsageError(f"{request.node.nodeid}: ingest_workers needs a database (db_url) to pick its forms")
    return int(request.param)


@dataclasses.dataclass(frozen=True)
class LinkFigures:
    received: int
    """Messages the broker delivered to any worker's session (handed-over ones are not counted again)."""


C = TypeVar("C", IngestStats, GapStats)


def sum_counts(kind: type[C], figures: list[C]) -> C:
    """The counters of several services added up (``extra`` key by key)."""
    total = kind()
    for one in figures:
        for name, value in dataclasses.asdict(one).items():
            if name == "extra":
                for key, count in value.items():
                    total.extra[key] = total.extra.get(key, 0) + count  # type: ignore[union-attr]
            else:
                setattr(total, name, getattr(total, name) + value)
    return total


@dataclasses.dataclass(frozen=True)
class ClusterGaps:
    """The gaps of the store: what is missing now (the owner's view), the counters of every owner added up."""

    owner: GapTracker
    stats: GapStats

    def missing(self, gateway: str) -> list[int]:
        return self.owner.missing(gateway)


@dataclasses.dataclass(frozen=True)
class Links:
    stats: LinkFigures


class IngestCluster:
    """Ingest workers in this process sharing one store, read like one :class:`IngestService`: ``db``, the
    figures of the store's service (``stats`` summed over every service any worker ran for it), ``gaps`` (of
    the service that owns the store: asking for them after the store moved is an error, the figures would be
    split), ``link.stats`` summed over the workers' sessions (gateway traffic only: not the workers' states)."""

    def __init__(self, workers: list[IngestWorker], db_url: str) -> None:
        self.workers = workers
        self.store = next(iter(workers[0].stores))
        self._db_url = db_url
        self._db: Engine | None = None
        self._seen: dict[int, IngestService] = {}
        self._lock = threading.Lock()
        self._watching = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="cluster-watch", daemon=True)

    @property
    def db(self) -> Engine:
        if self._db is None:
            self._db = make_engine(self._db_url)
        return self._db

    def start(self, timeout: float = 30.0) -> None:
        for worker in self.workers:
            worker.start()
        for worker in self.workers:
            assert worker.wait_connected(10)
        self._watching.set()
        self._watcher.start()
        deadline = time.monotonic() + timeout
        while not self._services():
            assert time.monotonic() < deadline, f"no worker started store {self.store} within {timeout:.0f} s"
            time.sleep(0.05)

    def _watch(self) -> None:
        """Note each service as it starts: a store that moves between workers leaves no service unseen."""
        while self._watching.is_set():
            self._services()
            time.sleep(0.02)

    def stop(self) -> None:
        self._services()
        self._watching.clear()
        threads = [threading.Thread(target=worker.stop) for worker in self.workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self._db is not None:
            self._db.dispose()
            self._db = None

    def _services(self) -> list[IngestService]:
        """Every service a worker ran for the store, oldest first (the running one last)."""
        with self._lock:
            for worker in self.workers:
                service = worker.service(self.store)
                if service is not None:
                    self._seen.setdefault(id(service), service)
            return list(self._seen.values())

    @property
    def owners(self) -> int:
        """How many times a worker took the store (1 while nobody lost or gave it up)."""
        return sum(worker.stats.claimed for worker in self.workers)

    @property
    def owner(self) -> IngestWorker:
        """The worker that runs the store's service now."""
        (worker,) = [worker for worker in self.workers if worker.service(self.store) is not None]
        return worker

    @property
    def service(self) -> IngestService:
        services = self._services()
        if len(services) != 1 or self.owners != 1:
            raise AssertionError(f"store {self.store} moved between workers ({self.owners} owners): the "
                                 "figures of one service are not the store's")
        return services[0]

    @property
    def stats(self) -> IngestStats:
        services = self._services()
        if len(services) != self.owners:
            raise AssertionError(f"store {self.store} had {self.owners} owners, {len(services)} of them seen")
        return sum_counts(IngestStats, [service.stats for service in services])

    @property
    def gaps(self) -> ClusterGaps:
        services = self._services()
        return ClusterGaps(services[-1].gaps, sum_counts(GapStats, [service.gaps.stats for service in services]))

    @property
    def link(self) -> Links:
        return Links(LinkFigures(received=sum(worker.link.stats.received - worker.stats.states
                                              for worker in self.workers)))


Ingest = IngestService | IngestCluster

def cluster(broker: RunningBroker, settings: IngestSettings, client_id: str, count: int) -> IngestCluster:
    """``count`` workers (``w1`` ...) on the store of ``settings``, each with its own persistent session."""
    service = {f.name: getattr(settings, f.name) for f in dataclasses.fields(IngestSettings)
               if f.name not in ("store_file", "db_url", "mqtt", "tsdb")}
    return IngestCluster([IngestWorker(WorkerSettings(
        worker_id=f"w{n}", store_files=(settings.store_file,), db_url=settings.db_url,
        mqtt=broker.settings(INGEST_USER, f"{client_id}-w{n}", session_expiry_s=600), tsdb=settings.tsdb,
        quiet_s=0.2, service=service)) for n in range(1, count + 1)], settings.db_url)


@contextmanager
def running_ingest(
    broker: RunningBroker, tmp_path: Path, store: str | Path, client_id: str, db_url: str, *, workers: int = 1,
    **settings: Any,
) -> Iterator[Any]:
    """Ingest on ``store`` (a store file's path, or its text written to ``tmp_path``) with the database at
    ``db_url`` (the ``db_url`` fixture: each test runs on SQLite and on PostgreSQL), a persistent session as
    ``client_id``, a 0.1 s tick; ``settings`` override IngestSettings. ``workers`` > 1: that many ingest
    workers share the store (an :class:`IngestCluster`)."""
    if isinstance(store, str):
        path = tmp_path / "store.toml"
        path.write_text(store, encoding="utf-8")
        store = path
    ingest_settings = IngestSettings(
        store_file=store, db_url=db_url,
        mqtt=broker.settings(INGEST_USER, client_id, session_expiry_s=600), **{"tick_s": 0.1, **settings},
    )
    running: Ingest = IngestService(ingest_settings) if workers == 1 else cluster(broker, ingest_settings, client_id,
                                                                                  workers)
    running.start()
    if isinstance(running, IngestService):
        assert running.wait_connected(10)
    time.sleep(0.2)  # let the SUBACKs arrive before the first publish (a clean first session)
    try:
        yield running
    finally:
        running.stop()

"""Scaling: 1, 2, … N ingest workers on PostgreSQL over the same stores, each count on a fresh database.

A store's state lives in the memory of the one worker that holds its lease, so workers scale over stores,
not within one: the measurement uses several stores of a simulated chain (:mod:`simulators.chain`'s store
files), a gateway or more each. For every worker count k the bench copies a seeded template database,
restarts the broker empty, starts k ``silentcommerce ingest --worker-id`` processes over every store, waits
until every gateway is recorded online and the leases are spread (no worker over its fair share), then
feeds every gateway's real outbox and publisher flat out with the pipeline's bounded backlog
(:func:`silentcommerce.bench.pipeline.feed`).

Per k it reports the committed reads/s in the counted window, every published ``seq`` looked up (lost,
duplicated), the messages handed over between workers (``ingest_handoff``: they reached a worker that did
not own their store), and the CPU time of each class of process (the ingest workers, the broker,
PostgreSQL with its backends, the bench process whose threads are the gateways, the TSDB) from ``/proc``:
on a small machine they share the cores, and the table shows which one the added workers wait for.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, insert, text

from ingest.db.admin import seed_from_store_file
from ingest.db.engine import make_engine
from ingest.db.migrate import upgrade
from ingest.db.schema import items as items_table
from ingest.db.schema import tag_bindings
from ingest.storefile import load_store_file
from silentcommerce.bench.pipeline import WARM_UP, FeedResult, SimulatedGateway, feed
from silentcommerce.bench.rig import BenchError, BenchRig, pid_cpu_seconds, tree_cpu_seconds
from silentcommerce.bench.workload import StockItem, stock
from silentcommerce.chain import ingest_commands, ingest_has_workers
from silentcommerce.postgres import PostgresCluster
from silentcommerce.processes import ManagedProcess
from simulators.chain import store_id, write_chain_stores

Progress = Callable[[str], None]
FIRST_SERIAL = 100_000
"""The bench's stock takes serials above those of the store files' own items."""
READY_TIMEOUT_S = 300.0
ANNOUNCE_S = 1.0
"""A worker on a shared subscription is not sent retained births: missing gateways announce again this often."""
DRAIN_TIMEOUT_S = 180.0
POLL_S = 0.25
CPU_CLASSES = ("ingest", "broker", "postgresql", "gateways", "tsdb")


@dataclass(frozen=True)
class ScalingStores:
    """The chain stores the scaling runs share: their files and each (store, gateway)'s stock to read."""

    files: list[Path]
    stock: dict[tuple[str, str], list[StockItem]]

    @property
    def gateways(self) -> list[tuple[str, str]]:
        return list(self.stock)


def scaling_stores(directory: Path, stores: int, gateways: int, stock_per_store: int) -> ScalingStores:
    """Write ``stores`` chain store files with ``gateways`` each; every store gets ``stock_per_store`` items
    of its own products, and each gateway reads those in the zones it serves (all of them if it serves no
    shelf)."""
    files = write_chain_stores(directory, stores, gateways)
    per_gateway: dict[tuple[str, str], list[StockItem]] = {}
    for number, path in enumerate(files, start=1):
        store = store_id(number)
        items = stock(stock_per_store, first_serial=FIRST_SERIAL, seed=number, store_file=path)
        served = {zone.name: zone.gateway for zone in load_store_file(path).zones}
        for g in range(1, gateways + 1):
            name = f"gw{g}"
            per_gateway[(store, name)] = [i for i in items if served.get(i.zone) == name] or items
    return ScalingStores(files, per_gateway)


@dataclass
class ScalingRun(FeedResult):
    workers: int
    stores: int
    handed_over: int
    """Messages written to ``ingest_handoff`` from the traffic's start to the end of the drain: those that
    reached a worker that did not own their store, and the owner's own messages parked there while the reorder
    stage waited for an earlier ``seq`` (the gateways' births before the leases were taken are not counted)."""
    ready_s: float
    """From starting the workers to every gateway online and the leases spread."""
    leases: dict[str, int] = field(default_factory=dict)
    """Stores each worker owned when the traffic started."""
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds of each process class in the counted window (see ``CPU_CLASSES``)."""

    @property
    def handed_over_share(self) -> float:
        return self.handed_over / self.published_batches if self.published_batches else 0.0

    def us_per_read(self, cpu_class: str) -> float:
        """Microseconds of ``cpu_class``'s CPU per committed read: what capacity arithmetic multiplies."""
        reads = self.reads_per_s * self.seconds
        return self.cpu_s.get(cpu_class, 0.0) / reads * 1e6 if reads else 0.0

    def cores(self, cpu_class: str) -> float:
        """How many cores ``cpu_class`` kept busy on average in the counted window."""
        return self.cpu_s.get(cpu_class, 0.0) / self.seconds if self.seconds > 0 else 0.0

    @property
    def total_cores(self) -> float:
        return sum(self.cpu_s.values()) / self.seconds if self.seconds > 0 else 0.0


def measure_scaling(rig: BenchRig, stores: ScalingStores, *, workers: int, reads_per_batch: int,
                    duration_s: float, progress: Progress) -> list[ScalingRun]:
    """One :class:`ScalingRun` per worker count 1 … ``workers``."""
    if not ingest_has_workers():
        raise BenchError("this ingest has no worker mode ('--worker-id'): the scaling section needs it")
    cluster = rig.postgresql(progress)
    progress(f"scaling: migrating and seeding {len(stores.files)} stores on PostgreSQL")
    template = _template(cluster, stores)
    runs = []
    for k in range(1, workers + 1):
        progress(f"scaling: {k} ingest worker{'s' if k > 1 else ''} over {len(stores.files)} stores, "
                 f"{len(stores.gateways)} gateways, flat out for {duration_s:g} s")
        rig.fresh_broker()
        url = cluster.create_database(template)
        try:
            runs.append(_drive(rig, cluster, url, stores, k, reads_per_batch, duration_s))
        finally:
            cluster.drop_database(url)
    return runs


def _template(cluster: PostgresCluster, stores: ScalingStores) -> str:
    """A database with the schema, every store file seeded and the bench stock in store, to copy per run."""
    url = cluster.create_database()
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            for path in stores.files:
                seed_from_store_file(conn, load_store_file(path))
            rows = {i.epc_tag: i for items in stores.stock.values() for i in items}.values()
            conn.execute(insert(items_table), [{"tag": i.epc_tag, "sku": i.sku, "status": "in_store",
                                                "last_zone": i.zone} for i in rows])
            conn.execute(insert(tag_bindings), [{"tag": i.epc_tag, "kind": "item", "ref": i.sku} for i in rows])
    finally:
        engine.dispose()
    return url


def _drive(rig: BenchRig, cluster: PostgresCluster, url: str, stores: ScalingStores, workers: int,
           reads_per_batch: int, duration_s: float) -> ScalingRun:
    assert rig.broker is not None
    common = ["--db", url, "--mqtt-port", str(rig.broker.port),
              "--credentials", str(rig.workdir / "broker" / "credentials.json")]
    if rig.tsdb_url:
        common += ["--tsdb-url", rig.tsdb_url]
    started = time.monotonic()
    with contextlib.ExitStack() as cleanup:
        engine = make_engine(url)
        cleanup.callback(engine.dispose)
        ingest = []
        for name, args in ingest_commands(stores.files, workers, common):
            process = rig.spawn(f"scaling-{workers}-{name}", *args)
            cleanup.callback(rig.release, process)
            ingest.append(process)
        sims = {}
        for store, gateway in stores.gateways:
            sim = SimulatedGateway(rig, gateway, rig.workdir / f"scaling-{workers}-outbox-{store}-{gateway}.db",
                                   store)
            sim.start()
            cleanup.callback(sim.stop)
            sims[(store, gateway)] = sim
        leases = _wait_ready(engine, sims, workers, len(stores.files), ingest)
        ready_s = time.monotonic() - started
        pids = {
            "ingest": [p.process.pid for p in ingest if p.process is not None],
            "broker": [rig.broker.process.pid] if rig.broker.process is not None else [],
            "postgresql": [cluster.server.pid],
            "tsdb": [p.process.pid for p in rig.processes if p.name == "victoria-metrics" and p.process],
        }

        def check() -> None:
            for process in ingest:
                process.check()

        run = _run(engine, sims, stores, reads_per_batch, duration_s, pids, check)
        run.workers, run.stores, run.ready_s, run.leases = workers, len(stores.files), ready_s, leases
    return run


def _wait_ready(engine: Engine, sims: dict[tuple[str, str], SimulatedGateway], workers: int, stores: int,
                ingest: list[ManagedProcess]) -> dict[str, int]:
    """Until every gateway is recorded online and every store is leased with no worker over its fair share
    (so no lease moves while the traffic is counted); returns the stores each worker owns."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    announced = time.monotonic()
    share = -(-stores // min(workers, stores))
    while True:
        for process in ingest:
            process.check()
        with engine.connect() as conn:
            online = {(s, g) for s, g in conn.execute(text("SELECT store, gateway FROM gateways WHERE state = 'online'"))}
            leases = {w: int(n) for w, n in conn.execute(text(
                "SELECT worker, COUNT(*) FROM ingest_leases WHERE worker IS NOT NULL AND expires_at > now() "
                "GROUP BY worker"))}
        missing = [sim for key, sim in sims.items() if key not in online]
        spread = sum(leases.values()) == stores and max(leases.values(), default=0) <= share
        if not missing and spread:
            return leases
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {READY_TIMEOUT_S:.0f} s waiting for the workers: "
                             f"{len(missing)} gateways not online, leases {leases or 'none'}")
        if time.monotonic() - announced >= ANNOUNCE_S:
            announced = time.monotonic()
            for sim in missing:
                sim.announce()
        time.sleep(0.2)


def _run(engine: Engine, sims: dict[tuple[str, str], SimulatedGateway], stores: ScalingStores,
         reads_per_batch: int, duration_s: float, pids: dict[str, list[int]], check: Callable[[], None]) -> ScalingRun:
    stop = threading.Event()
    committed = dict.fromkeys(sims.values(), 0)
    feeders = [threading.Thread(target=feed, args=(sim, stores.stock[key], reads_per_batch, committed, stop),
                                daemon=True) for key, sim in sims.items()]
    samples: list[tuple[float, int, int, dict[str, float]]] = []
    handed_before = _handed_over(engine)
    start = time.monotonic()
    for feeder in feeders:
        feeder.start()
    try:
        while time.monotonic() - start < duration_s:
            counts = _batches(engine)
            for key, sim in sims.items():
                committed[sim] = counts.get(key, 0)
            samples.append((time.monotonic() - start, sum(s.appended for s in sims.values()),
                            sum(counts.values()), _cpu(pids)))
            check()
            time.sleep(POLL_S)
    finally:
        stop.set()
        for feeder in feeders:
            feeder.join(10)
    published = sum(s.appended for s in sims.values())
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while sum(_batches(engine).values()) < published:
        check()
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {DRAIN_TIMEOUT_S:.0f} s waiting for the workers to commit all "
                             f"{published} batches")
        time.sleep(0.2)
    window = [s for s in samples if s[0] >= duration_s * WARM_UP] or samples
    (t0, _, stored0, cpu0), (t1, _, stored1, cpu1) = window[0], window[-1]
    seconds = max(t1 - t0, 1e-9)
    backlogs = [appended - stored for _, appended, stored, _ in window]
    handed = _handed_over(engine) - handed_before
    with engine.connect() as conn:
        stored = int(conn.execute(text("SELECT COUNT(*) FROM gateway_batches WHERE kind = 'reads'")).scalar_one())
        distinct = int(conn.execute(text("SELECT COUNT(*) FROM (SELECT DISTINCT store, gateway, seq "
                                         "FROM gateway_batches WHERE kind = 'reads') AS d")).scalar_one())
        lost = 0
        for (store, gateway), sim in sims.items():
            found = conn.execute(text(
                "SELECT COUNT(DISTINCT seq) FROM gateway_batches WHERE store = :store AND gateway = :gateway "
                "AND kind = 'reads' AND seq BETWEEN 1 AND :last"),
                {"store": store, "gateway": gateway, "last": sim.appended}).scalar_one()
            lost += max(0, sim.appended - int(found))
    return ScalingRun(
        workers=0, stores=0, gateways=len(sims), reads_per_batch=reads_per_batch, seconds=seconds,
        reads_per_s=(stored1 - stored0) * reads_per_batch / seconds, published_batches=published,
        stored_batches=stored, lost=lost, duplicated=stored - distinct, handed_over=handed,
        backlog_start=backlogs[0], backlog_end=backlogs[-1], backlog_max=max(backlogs), ready_s=0.0,
        cpu_s={name: round(cpu1[name] - cpu0[name], 3) for name in CPU_CLASSES},
    )


def _batches(engine: Engine) -> dict[tuple[str, str], int]:
    with engine.connect() as conn:
        return {(s, g): int(n) for s, g, n in conn.execute(text(
            "SELECT store, gateway, COUNT(*) FROM gateway_batches WHERE kind = 'reads' GROUP BY store, gateway"))}


def _handed_over(engine: Engine) -> int:
    """Rows ever written to ``ingest_handoff`` (its id sequence: the owners delete the rows they store)."""
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT pg_sequence_last_value(pg_get_serial_sequence('ingest_handoff', 'id'))")).scalar() or 0)


def _cpu(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far per class; the gateways are this process's threads (not its children)."""
    cpu = tree_cpu_seconds(pids)
    cpu["gateways"] = pid_cpu_seconds(os.getpid())
    return cpu

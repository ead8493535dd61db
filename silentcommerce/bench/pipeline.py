"""The pipeline: simulated gateways through their real outbox and publisher → Mosquitto → the real ingest.

Each simulated gateway is the gateway's own delivery path (:class:`gateway.outbox.Outbox` in SQLite with
``seq`` taken in the append's transaction, :class:`gateway.publisher.Publisher` releasing entries on
PUBACK) fed with shelf inventory batches instead of serial readers. Ingest is the ``silentcommerce ingest``
process with the bench store, every rule, its durable SQLite commit and the TSDB writes when a TSDB runs.

The feeders run flat out but keep at most ``MAX_BACKLOG`` batches between their append and ingest's commit,
so the rate counted at the database (committed ``gateway_batches``) is what ingest sustains, with the
backlog (appended, not yet committed) sampled to show whether it grew. Afterwards every appended ``seq`` is
looked up: missing ones are lost, a ``seq`` committed twice would be a duplicate.
"""

from __future__ import annotations

import contextlib
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from contract import TagRead
from silentcommerce.bench.rig import BenchRig, StoreDatabase, cpu_seconds, peak_rss_kb, wait_until
from silentcommerce.bench.seed import prepare_database
from silentcommerce.bench.workload import STORE, ShelfTraffic, StockItem, stock
from silentcommerce.processes import ManagedProcess
from silentcommerce.simgateway import GatewayDelivery

MAX_BACKLOG = 64
"""Batches per gateway between the outbox append and ingest's commit (ingest's own queue holds 2,000)."""
POOL = 16
"""Distinct read lists per gateway, cycled (building 500 pydantic reads per batch would bound the feeder)."""
STOCK = 20_000
WARM_UP = 0.2
"""The first fifth of the run is not counted: ingest's caches and the broker's queues fill up."""
DRAIN_TIMEOUT_S = 120.0
POLL_S = 0.1
READY_TIMEOUT_S = 900.0


class SimulatedGateway(GatewayDelivery):
    """A gateway's delivery path without readers (:class:`GatewayDelivery`), fed the bench store's batches."""

    def __init__(self, rig: BenchRig, name: str, outbox: Path, store: str = STORE) -> None:
        super().__init__(store, name, outbox, rig.gateway_mqtt(name, store))

    def append(self, traffic: ShelfTraffic, reads: list[TagRead]) -> None:
        self.append_reads(lambda seq: traffic.payload(seq, reads))


@dataclass
class FeedResult:
    """What gateways fed flat out gave, counted in the database: the pipeline's and the scaling runs'."""

    gateways: int
    reads_per_batch: int
    seconds: float
    """The counted window (the warm-up left out)."""
    reads_per_s: float
    published_batches: int
    stored_batches: int
    lost: int
    duplicated: int
    backlog_start: int
    backlog_end: int
    backlog_max: int

    @property
    def backlog_grew(self) -> bool:
        return self.backlog_end > self.backlog_start + self.gateways * 8


@dataclass
class PipelineResult(FeedResult):
    ingest_ready_s: float = 0.0
    """From starting the ingest process to its having recorded the gateways online (state loaded)."""
    ingest_peak_rss_kb: int = 0
    ingest_cpu_s: float = 0.0
    """CPU time (user + system) the ingest process used in the counted window."""
    samples: list[tuple[float, int, int, float]] = field(default_factory=list)
    """(seconds since start, batches appended, batches committed, ingest CPU seconds) every ``POLL_S``."""

    @property
    def reads_per_cpu_s(self) -> float:
        """Reads committed per second of ingest CPU time: what one core would sustain on a quiet machine."""
        return self.reads_per_s * self.seconds / self.ingest_cpu_s if self.ingest_cpu_s > 0 else 0.0


def measure_pipeline(rig: BenchRig, *, gateways: int, reads_per_batch: int, duration_s: float) -> PipelineResult:
    """Throughput and accounting on a store with ``STOCK`` items on its shelves."""
    database = rig.database("pipeline")
    items = stock(STOCK)
    prepare_database(database, items)
    return drive(rig, "ingest-pipeline", database, items, gateways=gateways, reads_per_batch=reads_per_batch,
                 duration_s=duration_s)


def drive(rig: BenchRig, name: str, database: Path, items: list[StockItem], *, gateways: int,
          reads_per_batch: int, duration_s: float) -> PipelineResult:
    """Start ingest on the prepared ``database``, feed it ``items``' shelf reads flat out for ``duration_s``
    and account for every batch; the ingest process's peak RSS is taken before it stops."""
    started = time.monotonic()
    with contextlib.ExitStack() as cleanup:
        ingest = rig.start_ingest(name, database)
        cleanup.callback(rig.release, ingest)
        store = StoreDatabase(database)
        cleanup.callback(store.close)
        sims = []
        for number in range(1, gateways + 1):
            sim = SimulatedGateway(rig, f"gw{number}", rig.workdir / f"{name}-outbox-gw{number}.db")
            sim.start()
            cleanup.callback(sim.stop)
            sims.append(sim)
        wait_until(lambda: store.online(s.name for s in sims), READY_TIMEOUT_S,
                   "ingest to record the gateways online", watch=[ingest], interval=0.2)
        ready_s = time.monotonic() - started
        result = _run(sims, store, items, reads_per_batch, duration_s, ingest)
        result.ingest_ready_s = ready_s
        result.ingest_peak_rss_kb = peak_rss_kb(ingest)
    return result


def _run(sims: list[SimulatedGateway], store: StoreDatabase, items: list[StockItem], reads_per_batch: int,
         duration_s: float, ingest: ManagedProcess) -> PipelineResult:
    stop = threading.Event()
    committed = {sim: 0 for sim in sims}
    feeders = [threading.Thread(target=feed, args=(sim, items, reads_per_batch, committed, stop), daemon=True)
               for sim in sims]
    samples: list[tuple[float, int, int, float]] = []
    start = time.monotonic()
    for feeder in feeders:
        feeder.start()
    try:
        while time.monotonic() - start < duration_s:
            for sim in sims:
                committed[sim] = store.batches(sim.name)
            samples.append((time.monotonic() - start, sum(s.appended for s in sims), sum(committed.values()),
                            cpu_seconds(ingest)))
            ingest.check()
            time.sleep(POLL_S)
    finally:
        stop.set()
        for feeder in feeders:
            feeder.join(10)
    published = sum(s.appended for s in sims)
    wait_until(lambda: store.batches() >= published, DRAIN_TIMEOUT_S, f"ingest to commit all {published} batches")
    window = [s for s in samples if s[0] >= duration_s * WARM_UP] or samples
    (t0, _, stored0, cpu0), (t1, _, stored1, cpu1) = window[0], window[-1]
    seconds = max(t1 - t0, 1e-9)
    backlogs = [appended - stored for _, appended, stored, _ in window]
    stored = store.batches()
    distinct = store.scalar("SELECT COUNT(*) FROM (SELECT DISTINCT gateway, seq FROM gateway_batches "
                            "WHERE store = ? AND kind = 'reads')", STORE)
    lost = sum(max(0, sim.appended - _committed_seqs(store, sim)) for sim in sims)
    return PipelineResult(
        gateways=len(sims), reads_per_batch=reads_per_batch, seconds=seconds,
        reads_per_s=(stored1 - stored0) * reads_per_batch / seconds,
        published_batches=published, stored_batches=stored, lost=lost, duplicated=stored - distinct,
        backlog_start=backlogs[0], backlog_end=backlogs[-1], backlog_max=max(backlogs), ingest_cpu_s=cpu1 - cpu0,
        samples=samples,
    )


def _committed_seqs(store: StoreDatabase, sim: SimulatedGateway) -> int:
    """How many of the ``seq`` values this gateway handed out (1 … appended) ingest committed."""
    return store.scalar("SELECT COUNT(DISTINCT seq) FROM gateway_batches WHERE store = ? AND gateway = ? "
                        "AND kind = 'reads' AND seq BETWEEN 1 AND ?", STORE, sim.name, sim.appended)


def feed(sim: SimulatedGateway, items: list[StockItem], reads_per_batch: int,
         committed: dict[SimulatedGateway, int], stop: threading.Event) -> None:
    """Append ``items``' shelf reads to ``sim`` flat out until ``stop``, never more than ``MAX_BACKLOG``
    batches ahead of ``committed[sim]`` (which the caller keeps up to date from the database)."""
    traffic = ShelfTraffic(sim.name, items, seed=zlib.crc32(sim.name.encode()), store=sim.store)
    pool = [traffic.reads(reads_per_batch) for _ in range(POOL)]
    turn = 0
    while not stop.is_set():
        if sim.appended - committed[sim] >= MAX_BACKLOG:
            stop.wait(0.005)
            continue
        sim.append(traffic, pool[turn % POOL])
        turn += 1

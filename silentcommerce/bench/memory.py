"""Memory: the peak RSS of the real ingest process with a large store loaded, at steady state.

The database gets the bench store plus ``items`` tagged items on the shelves and ``members`` members with
cards (bulk-seeded; the seeding time is reported), then ``silentcommerce ingest`` starts on it, loads its
state and takes the pipeline's shelf traffic for a while; its ``VmHWM`` is read before it stops. The
gateway's figure comes from the gateway process of the latency measurement (see :mod:`.latency`).
"""

from __future__ import annotations

from dataclasses import dataclass

from silentcommerce.bench.pipeline import PipelineResult, drive
from silentcommerce.bench.rig import BenchRig
from silentcommerce.bench.seed import Seeded, prepare_database
from silentcommerce.bench.workload import stock


@dataclass(frozen=True)
class MemoryResult:
    seeded: Seeded
    run: PipelineResult

    @property
    def ingest_peak_rss_mb(self) -> float:
        return self.run.ingest_peak_rss_kb / 1024


def measure_ingest_memory(rig: BenchRig, *, items: int, members: int, duration_s: float,
                          reads_per_batch: int) -> MemoryResult:
    database = rig.database("memory")
    shelf = stock(items)
    seeded = prepare_database(database, shelf, members)
    run = drive(rig, "ingest-memory", database, shelf, gateways=1, reads_per_batch=reads_per_batch,
                duration_s=duration_s)
    return MemoryResult(seeded, run)

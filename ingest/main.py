"""Entry point of ``silentcommerce ingest``: build the settings, run the service until a signal."""

from __future__ import annotations

import gc
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from ingest.service import IngestService, IngestSettings
from ingest.tsdb import TsdbSettings
from ingest.worker import IngestWorker, WorkerSettings
from silentcommerce.mqtt import MqttSettings

log = logging.getLogger(__name__)

GC_YOUNG_THRESHOLD = 20_000
"""Net allocations between two young-generation collections (Python's default is 700). A group of reads
batches makes about ten short-lived objects per read and frees them when the group is done: at 700 the
collector ran dozens of times per group, promoted the group's live objects and so brought on the full
collections that walk the whole loaded state (a sixth of ingest's CPU at 500-read batches)."""


def run(store_file: Path, db_url: str, mqtt: MqttSettings, tsdb: TsdbSettings | None = None,
        reorder_wait_s: float = 0.5) -> None:
    """Run ingest for the store in ``store_file`` until SIGINT or SIGTERM (blocking).

    ``mqtt`` normally names the ``ingest`` user; a persistent session is used whatever it says (ingest
    must not lose the reads that arrive while it restarts).
    """
    service = IngestService(IngestSettings(store_file=store_file, db_url=db_url, mqtt=mqtt, tsdb=tsdb,
                                           reorder_wait_s=reorder_wait_s))
    stop = _stop_on_signal()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    service.start()
    gc.freeze()  # the state loaded at start lives as long as the process: the collector need not walk it
    log.info("ingest for store %s running (database %s)", service.store, _redact(db_url))
    try:
        stop.wait()
    finally:
        service.stop()
        log.info("ingest stopped: %s", service.stats)


def run_worker(settings: WorkerSettings) -> None:
    """Run one ingest worker (several share the stores) until SIGINT or SIGTERM; then hand over and stop."""
    worker = IngestWorker(settings)
    stop = _stop_on_signal()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])  # as for one store (stores come and go here:
    worker.start()  # their state is not frozen)
    log.info("ingest worker %s running for stores %s (database %s)", worker.worker, ", ".join(worker.stores),
             _redact(settings.db_url))
    try:
        stop.wait()
    finally:
        worker.stop()
        for store, stats in sorted(worker.store_stats.items()):
            log.info("store %s (last run in this worker): %s", store, stats)


def _stop_on_signal() -> threading.Event:
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping ingest", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, on_signal)
    return stop


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest

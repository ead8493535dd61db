"""Time series: reads and sensor samples as InfluxDB line protocol, written through the v2 write API.

The only module that imports ``influxdb_client``. Measurements:

* ``reads`` — one line per smoothed read. Tags: ``store, gateway, zone, zone_type, event``; fields:
  ``epc`` or ``uid`` (a string **field**: a tag identity is high-cardinality and never a tag), ``rssi``
  (when the reader gave one) and ``count``.
* ``reads_per_zone`` — one line per (batch, zone): tags ``store, zone``; field ``count`` (sum of counts).
* ``sensor`` — one line per sample: tags ``store, sensor, kind, zone``; field ``value``.
* ``gateway_batches`` — one line per reads batch, at the time ingest received it: tags ``store, gateway``;
  fields ``reads`` and ``lag_s`` (received minus the batch's ``sent_at``). A gateway emptying its outbox
  after an outage shows as a lag of minutes that falls back to well under a second: its backlog.

:class:`TsdbWriter` runs its own thread: callers hand it pre-built lines (never blocking), it writes them
in synchronous batches, retries failures with back-off, and when its bounded buffer is full it drops the
**oldest** lines and counts them (``stats.dropped``) rather than stall the consumer.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision

from contract.payloads import ReadsBatch, SensorsBatch
from contract.reads import ReadRows

log = logging.getLogger(__name__)

UNKNOWN_ZONE = "unknown"
_TAG_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\=", "\\": "\\\\", "\n": " "})


def _tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES) or "none"


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def reads_lines(batch: ReadsBatch | ReadRows, zone_types: Mapping[str, str], received_at: datetime | None = None) -> list[str]:
    """The ``reads`` and ``reads_per_zone`` lines of one batch (zone types from the store layout), and its
    ``gateway_batches`` line when ``received_at`` is given."""
    store, gateway = _tag(batch.store), _tag(batch.gateway)
    lines: list[str] = []
    per_zone: Counter[str] = Counter()
    series: dict[tuple[str | None, str], str] = {}
    """(zone, event) -> the line's measurement and tags: built once per batch, not once per read."""
    stamps: dict[datetime, int] = {}
    """A batch's reads share a handful of times: each converted once."""
    for read in batch.reads:
        zone, event, count = read.zone, read.event, read.count
        prefix = series.get((zone, event))
        if prefix is None:
            name = zone or UNKNOWN_ZONE
            prefix = series[(zone, event)] = (
                f"reads,store={store},gateway={gateway},zone={_tag(name)},"
                f"zone_type={_tag(zone_types.get(name, UNKNOWN_ZONE))},event={event} ")
        per_zone[zone or UNKNOWN_ZONE] += count
        stamp = stamps.get(read.last_seen)
        if stamp is None:
            stamp = stamps[read.last_seen] = _ns(read.last_seen)
        # EPC and UID are hex digits (the contract checks): nothing in them needs escaping
        if read.rssi is None:
            identity = f'epc="{read.epc}"' if read.epc is not None else f'uid="{read.uid}"'
        else:
            identity = (f'epc="{read.epc}",rssi={read.rssi!r}' if read.epc is not None
                        else f'uid="{read.uid}",rssi={read.rssi!r}')
        lines.append(f"{prefix}{identity},count={count}i {stamp}")
    at = _ns(batch.sent_at)
    lines.extend(f"reads_per_zone,store={store},zone={_tag(zone)} count={n}i {at}" for zone, n in per_zone.items())
    if received_at is not None:
        lag = (received_at - batch.sent_at).total_seconds()
        lines.append(f"gateway_batches,store={store},gateway={gateway} reads={len(batch.reads)}i,lag_s={lag!r} "
                     f"{_ns(received_at)}")
    return lines


def sensor_lines(batch: SensorsBatch) -> list[str]:
    store = _tag(batch.store)
    return [
        f"sensor,store={store},sensor={_tag(s.sensor)},kind={s.kind},zone={_tag(s.zone or UNKNOWN_ZONE)} "
        f"value={s.value!r} {_ns(s.at)}"
        for s in batch.samples
    ]


# -- the writer -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TsdbSettings:
    url: str
    """Base URL of an InfluxDB v2 compatible server, e.g. ``http://127.0.0.1:8428``."""
    org: str = "silentcommerce"
    bucket: str = "silentcommerce"
    token: str = ""
    timeout_s: float = 5.0
    batch_lines: int = 5000
    max_buffer_lines: int = 200_000
    retry_min_s: float = 0.5
    retry_max_s: float = 15.0


@dataclass
class TsdbStats:
    written: int = 0
    """Lines the server acknowledged."""
    dropped: int = 0
    """Oldest lines thrown away because the buffer was full (the server was down too long)."""
    failed_writes: int = 0
    last_error: str = ""
    pending: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class TsdbWriter:
    """Buffers line-protocol lines and writes them from its own thread; ``submit`` never blocks."""

    def __init__(self, settings: TsdbSettings) -> None:
        self.settings = settings
        self.stats = TsdbStats()
        self._buffer: deque[str] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._client = InfluxDBClient(
            url=settings.url, token=settings.token, org=settings.org, timeout=int(settings.timeout_s * 1000)
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tsdb-writer", daemon=True)
        self._thread.start()

    def submit(self, lines: list[str]) -> None:
        """Queue lines for writing; if the buffer would overflow, the oldest lines are dropped (counted)."""
        if not lines:
            return
        with self._lock:
            self._buffer.extend(lines)
            overflow = len(self._buffer) - self.settings.max_buffer_lines
            if overflow > 0:
                for _ in range(overflow):
                    self._buffer.popleft()
                self.stats.dropped += overflow
                log.warning("time-series buffer full: dropped the %d oldest lines", overflow)
            self.stats.pending = len(self._buffer)
            self._idle.clear()
        self._wake.set()

    def flush(self, timeout: float) -> bool:
        """Wait until everything submitted so far was written (True) or ``timeout`` passed (False)."""
        self._wake.set()
        return self._idle.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is buffered (for at most ``timeout``), then stop the thread and close the client."""
        if self._thread is not None:
            self.flush(timeout)
            self._stopping.set()
            self._wake.set()
            self._thread.join(timeout)
            self._thread = None
        self._client.close()  # type: ignore[no-untyped-call]

    def _take(self) -> list[str]:
        with self._lock:
            return list(islice(self._buffer, self.settings.batch_lines))

    def _done(self, n: int) -> None:
        with self._lock:
            for _ in range(min(n, len(self._buffer))):
                self._buffer.popleft()
            self.stats.written += n
            self.stats.pending = len(self._buffer)
            if not self._buffer:
                self._idle.set()

    def _run(self) -> None:
        delay = self.settings.retry_min_s
        while not self._stopping.is_set():
            lines = self._take()
            if not lines:
                self._wake.wait()
                self._wake.clear()
                continue
            try:
                self._write_api.write(  # one body: the client would otherwise encode line by line
                    bucket=self.settings.bucket, org=self.settings.org, record="\n".join(lines).encode(),
                    write_precision=WritePrecision.NS,  # type: ignore[arg-type]
                )
            except Exception as exc:  # HTTP errors, refused connections, timeouts: all retried
                self.stats.failed_writes += 1
                self.stats.last_error = str(exc)[:300]
                log.warning("time-series write of %d lines failed (retry in %.1f s): %s", len(lines), delay, exc)
                self._stopping.wait(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
                continue
            delay = self.settings.retry_min_s
            self._done(len(lines))

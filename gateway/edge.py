"""The exit alarm decided on the gateway: no broker, no ingest, no queue between a read and the relay.

:class:`ExitGuard` sits in the reader threads' sink, before the pipeline's queue: each raw UHF read of a
gate's inner or outer zone goes straight into the shared :class:`~ingest.rules.exitgate.ExitGateDetector`
(count 1). When a read completes a departure and the EPC is not on the :class:`~gateway.allowlist.AllowList`,
the same thread switches the gate's alarm relay on (the Modbus write jumps the bus's queue) and only then
appends a :class:`~contract.GateAlarm` to the outbox, which delivers it whenever the uplink is up (so an
alarm during an outage still reaches ingest, with the gateway's next ``seq``). The command executor switches
the relay off after ``alarm_duration_s``.

``latency_ms`` is measured from the arrival of the read that completed the evidence (its ``at``, stamped by
the reader thread when the bytes arrived) to the relay write being confirmed by the device.

Only live reads reach this class: it sees reads as the reader threads hand them over, never anything from
the outbox.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from contract import AlarmEvidence, GateAlarm, encode
from gateway.allowlist import AllowList
from gateway.config import ActuatorConfig, ExitConfig
from gateway.errors import DeviceError, OutboxError
from gateway.outbox import Outbox
from gateway.smoothing import RawRead
from ingest.rules.exitgate import Departure, ExitGate, ExitGateDetector, GateRead

log = logging.getLogger(__name__)

TICK_S = 1.0
MAX_EVIDENCE = 200

CoilWriter = Callable[[ActuatorConfig, bool], None]
AlarmHold = Callable[[str, float], None]
"""Tells the command executor that ``actuator`` is on and must go off after ``seconds``."""


@dataclass
class EdgeStats:
    gate_reads: int = 0
    departures: int = 0
    allowed: int = 0
    alarms: int = 0
    alarm_failures: int = 0
    last_latency_ms: float | None = None
    max_latency_ms: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def record(self, latency_ms: float) -> None:
        self.last_latency_ms = latency_ms
        self.max_latency_ms = max(self.max_latency_ms, latency_ms)
        self.latencies_ms = [*self.latencies_ms[-99:], latency_ms]


def gates_of(exits: list[ExitConfig]) -> list[ExitGate]:
    return [
        ExitGate(
            name=e.name,
            inner=e.inner,
            outer=e.outer,
            window_s=e.window_s,
            min_reads=e.min_reads,
            min_rssi=e.min_rssi,
            chatter_window_s=e.chatter_window_s,
            chatter_limit=e.chatter_limit,
            alarm=e.alarm,
        )
        for e in exits
    ]


class ExitGuard:
    """Watches the raw reads of the exit zones; sounds the alarm for a departing EPC not on the allow list."""

    def __init__(
        self,
        store: str,
        gateway: str,
        exits: list[ExitConfig],
        actuators: list[ActuatorConfig],
        allowlist: AllowList,
        outbox: Outbox,
        write_coil: CoilWriter,
        hold_alarm: AlarmHold,
        *,
        appended: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store, self.gateway = store, gateway
        self.stats = EdgeStats()
        self.allowlist = allowlist
        self._exits = {e.name: e for e in exits}
        self._actuators = {a.name: a for a in actuators}
        self._detector = ExitGateDetector(gates_of(exits))
        self._zones = self._detector.zones()
        self._outbox = outbox
        self._write_coil = write_coil
        self._hold_alarm = hold_alarm
        self._appended = appended
        self._clock = clock
        self._lock = threading.Lock()
        self._last_tick = time.monotonic()

    @property
    def zones(self) -> frozenset[str]:
        return self._zones

    def observe(self, reads: list[RawRead]) -> None:
        """Called by a reader thread with the raw reads of one chunk, before they are queued for smoothing."""
        departures: list[Departure] = []
        with self._lock:
            for read in reads:
                if read.epc is None or read.zone not in self._zones:
                    continue
                self.stats.gate_reads += 1
                departure = self._detector.observe(
                    GateRead(f"EPC:{read.epc}", read.zone, read.rssi, 1, read.at, read.reader, read.antenna)
                )
                if departure is not None:
                    self.stats.departures += 1
                    departures.append(departure)
        for departure in departures:
            if departure.tag in self.allowlist:
                self.stats.allowed += 1
                log.info("%s left through %s: allowed", departure.tag, departure.gate)
                continue
            self._sound(departure)

    def tick(self) -> None:
        """Forget stale gate state (called now and then by the pipeline thread)."""
        now = time.monotonic()
        if now - self._last_tick < TICK_S:
            return
        self._last_tick = now
        with self._lock:
            self._detector.tick(self._clock())

    # -- the alarm ----------------------------------------------------------------------------------

    def _sound(self, departure: Departure) -> None:
        gate = self._exits[departure.gate]
        actuator = self._actuators[gate.alarm]
        error = ""
        try:
            self._write_coil(actuator, True)
        except DeviceError as exc:
            error = str(exc)
        done = self._clock()
        latency_ms = max((done - departure.at).total_seconds() * 1000.0, 0.0)
        if error:
            self.stats.alarm_failures += 1
            log.error(
                "exit %s: %s is leaving unpaid but the alarm failed: %s", gate.name, departure.tag, error
            )
        else:
            self._hold_alarm(actuator.name, gate.alarm_duration_s)
            self.stats.alarms += 1
            self.stats.record(latency_ms)
            log.warning("exit %s: alarm for %s (%.1f ms)", gate.name, departure.tag, latency_ms)
        self._report(departure, gate, done, latency_ms, error)

    def _report(
        self, departure: Departure, gate: ExitConfig, done: datetime, latency_ms: float, error: str
    ) -> None:
        evidence = [
            AlarmEvidence(
                reader=r.reader, antenna=r.antenna, zone=r.zone, rssi=r.rssi, count=r.count, at=r.at
            )
            for r in departure.evidence[:MAX_EVIDENCE]
        ]
        params = {
            **dict(departure.params),
            "chatter": str(departure.chatter),
            "alarm_duration_s": f"{gate.alarm_duration_s:g}",
        }
        stamp = int(departure.at.timestamp() * 1000)

        def build(seq: int) -> bytes:
            return encode(
                GateAlarm(
                    store=self.store,
                    gateway=self.gateway,
                    seq=seq,
                    sent_at=self._clock(),
                    id=f"{self.gateway}.{gate.name}.{seq}.{stamp}"[:64],
                    gate=gate.name,
                    tag=departure.tag,
                    decided_at=done,
                    first_read_at=departure.first_read_at,
                    latency_ms=round(latency_ms, 3),
                    evidence=evidence,
                    zone_sequence=list(departure.zone_sequence),
                    params=params,
                    alarm=gate.alarm,
                    sounded=not error,
                    error=error[:200],
                )
            )

        try:
            self._outbox.append("alarms", build)
        except OutboxError:
            log.exception(
                "exit %s: the alarm for %s could not be stored for ingest", gate.name, departure.tag
            )
            return
        self._appended()

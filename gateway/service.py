"""The gateway process: readers → smoother → batcher → outbox → publisher, and commands back.

Threads: one per serial reader and per Modbus bus (they own their ports), the pipeline (smoothing and
batching), the publisher, the command executor, and paho's network thread. With ``[[exits]]`` the reader
threads also run the exit guard on their raw reads before queueing them (no hop between a read and the
alarm relay) and append its alarm reports to the outbox.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from contract import ReadsBatch, SensorSample, SensorsBatch, Status, TagRead, encode
from contract.payloads import DeviceSummary
from contract.topics import gateway_topic
from gateway.allowlist import AllowList, allowlist_path
from gateway.batching import Batcher
from gateway.commands import CommandExecutor
from gateway.config import ActuatorConfig, GatewayConfig
from gateway.edge import ExitGuard
from gateway.errors import DeviceError
from gateway.modbus_io import ModbusBus
from gateway.outbox import Outbox
from gateway.publisher import Publisher
from gateway.readers_io import ReaderLoop
from gateway.smoothing import RawRead, Smoother
from silentcommerce.mqtt import InboundMessage, MqttLink, MqttSettings, Will

log = logging.getLogger(__name__)

VERSION = "0.1.0"
TICK_S = 0.05
MAX_SAMPLES = 500
JOIN_S = 3.0


def _optional_path(path: Path | None) -> str | None:
    return None if path is None else str(path)


@dataclass
class PipelineStats:
    raw_reads: int = 0
    reads: int = 0
    samples: int = 0
    read_batches: int = 0
    sensor_batches: int = 0


class Gateway:
    """One edge gateway built from its config; ``start()`` returns at once, ``stop()`` shuts down cleanly."""

    def __init__(
        self, config: GatewayConfig, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.config = config
        self.stats = PipelineStats()
        self._clock = clock
        self._stop = threading.Event()
        self._inbox: queue.Queue[list[RawRead] | list[SensorSample]] = queue.Queue()
        store, gw = config.store, config.gateway_id
        self.topics = {kind: gateway_topic(store, gw, kind) for kind in ("status", "cmd")}
        self.outbox = Outbox(
            config.gateway.outbox,
            store,
            gw,
            keep_s=config.gateway.keep_delivered_s,
            keep_count=config.gateway.keep_delivered_max,
        )
        settings = MqttSettings(
            host=config.mqtt.host,
            port=config.mqtt.port,
            username=config.mqtt_username,
            password=config.mqtt.password,
            client_id=config.mqtt_client_id,
            keepalive_s=config.mqtt.keepalive_s,
            session_expiry_s=config.mqtt.session_expiry_s,
            tls_ca_file=_optional_path(config.mqtt.tls_ca_file),
            tls_cert_file=_optional_path(config.mqtt.tls_cert_file),
            tls_key_file=_optional_path(config.mqtt.tls_key_file),
        )
        self.link = MqttLink(
            settings,
            subscriptions=[(self.topics["cmd"], 1)],
            on_message=self._on_command,
            will=Will(self.topics["status"], self._status("offline")),
            on_connected=self._on_connected,
        )
        self.publisher = Publisher(
            self.outbox,
            self.link,
            max_in_flight=config.mqtt.max_in_flight,
            ack_timeout_s=config.mqtt.ack_timeout_s,
            historical_after_s=config.gateway.historical_after_s,
        )
        self.allowlist = AllowList(allowlist_path(config.gateway.outbox)) if config.exits else None
        self.readers = [ReaderLoop(r, self._raw_reads, self._stop, clock=clock) for r in config.readers]
        self.buses = {
            b.name: ModbusBus(b, config.sensors, self._inbox.put, self._stop, clock=clock)
            for b in config.buses
        }
        self.commands = CommandExecutor(
            store,
            gw,
            config.actuators,
            config.displays,
            self._write_coil,
            self.outbox,
            self.publisher.wake,
            self._stop,
            allowlist=self.allowlist,
            clock=clock,
        )
        self.guard: ExitGuard | None = None
        if self.allowlist is not None:
            self.guard = ExitGuard(
                store,
                gw,
                config.exits,
                config.actuators,
                self.allowlist,
                self.outbox,
                self._write_coil,
                self.commands.hold_alarm,
                appended=self.publisher.wake,
                clock=clock,
            )
        self._pipeline = threading.Thread(target=self._run_pipeline, name="pipeline", daemon=True)
        self._stats_thread = threading.Thread(target=self._log_stats, name="gateway-stats", daemon=True)
        self._started = False

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        log.info(
            "gateway %s/%s starting: %d readers, %d buses, outbox %s holds %d",
            self.config.store,
            self.config.gateway_id,
            len(self.readers),
            len(self.buses),
            self.outbox.path,
            self.outbox.depth(),
        )
        self.link.start()
        self.publisher.start()
        self.commands.start()
        self._pipeline.start()
        for loop in self.readers:
            loop.start()
        for bus in self.buses.values():
            bus.start()
        self._stats_thread.start()
        self._started = True

    def stop(self, drain_timeout: float = 2.0) -> None:
        """Stop the devices, put every read into the outbox, try to deliver it, then say ``offline``."""
        if not self._started:
            self.outbox.close()
            if self.allowlist is not None:
                self.allowlist.close()
            return
        self._started = False
        self._stop.set()
        for loop in self.readers:
            loop.join(JOIN_S)
        self.commands.join(JOIN_S)
        for bus in self.buses.values():
            bus.join(JOIN_S)
        self._pipeline.join(JOIN_S)
        self.publisher.drain_and_join(drain_timeout)
        self.link.stop(final_publish=(self.topics["status"], self._status("offline")))
        waiting = self.outbox.depth()
        self.outbox.close()
        if self.allowlist is not None:
            self.allowlist.close()
        log.info("gateway stopped; %d messages wait in the outbox", waiting)

    def counters(self) -> dict[str, object]:
        """Everything worth watching, as one flat-ish dict (logged every ``stats_interval_s``)."""
        return {
            **asdict(self.stats),
            "outbox_depth": self.outbox.depth(),
            "outbox_kept": self.outbox.kept(),
            "published": self.publisher.stats.published,
            "publish_refused": self.publisher.stats.refused,
            "resent": self.publisher.stats.resent,
            "mqtt_connects": self.link.stats.connects,
            "commands": asdict(self.commands.stats),
            "readers": {r.config.name: asdict(r.stats) for r in self.readers},
            "buses": {name: asdict(b.stats) for name, b in self.buses.items()},
            "edge": {} if self.guard is None else {
                **{k: v for k, v in asdict(self.guard.stats).items() if k != "latencies_ms"},
                "allowed_tags": len(self.guard.allowlist),
            },
        }

    # -- reader threads ---------------------------------------------------------------------------

    def _raw_reads(self, reads: list[RawRead]) -> None:
        """A reader thread's sink: the exit guard first (it may sound an alarm), then the pipeline's queue."""
        if self.guard is not None:
            try:
                self.guard.observe(reads)
            except Exception:  # the reads must still reach the pipeline
                log.exception("exit guard failed on %d reads", len(reads))
        self._inbox.put(reads)

    # -- pipeline thread --------------------------------------------------------------------------

    def _run_pipeline(self) -> None:
        smoothing, batching = self.config.smoothing, self.config.batching
        smoother = Smoother(smoothing.report_interval_s, smoothing.leave_after_s)
        reads: Batcher[TagRead] = Batcher(batching.max_reads, batching.max_delay_s)
        samples: Batcher[SensorSample] = Batcher(MAX_SAMPLES, batching.max_delay_s)
        last_tick = time.monotonic()
        while True:
            stopping = self._stop.is_set()
            items = self._take(TICK_S)
            now, mono = self._clock(), time.monotonic()
            smoothed: list[TagRead] = []
            new_samples: list[SensorSample] = []
            for item in items:
                for element in item:
                    if isinstance(element, RawRead):
                        self.stats.raw_reads += 1
                        smoothed += smoother.observe(element, now)
                    else:
                        new_samples.append(element)
            if mono - last_tick >= TICK_S:
                smoothed += smoother.tick(now)
                last_tick = mono
                if self.guard is not None:
                    self.guard.tick()
            if stopping and not items:
                smoothed += smoother.flush(now)
            self.stats.reads += len(smoothed)
            self.stats.samples += len(new_samples)
            ready_reads = reads.add(smoothed, mono)
            ready_samples = samples.add(new_samples, mono)
            if stopping and not items:
                ready_reads.append(reads.drain())
                ready_samples.append(samples.drain())
            for batch in ready_reads:
                if batch:
                    self._append_reads(batch)
            for sample_batch in ready_samples:
                if sample_batch:
                    self._append_samples(sample_batch)
            if stopping and not items:
                return

    def _take(self, timeout: float) -> list[list[RawRead] | list[SensorSample]]:
        try:
            items = [self._inbox.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(items) < 1000:
            try:
                items.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return items

    def _append_reads(self, batch: list[TagRead]) -> None:
        store, gw, sent_at = self.config.store, self.config.gateway_id, self._clock()
        self.outbox.append(
            "reads",
            lambda seq: encode(ReadsBatch(store=store, gateway=gw, seq=seq, sent_at=sent_at, reads=batch)),
        )
        self.stats.read_batches += 1
        self.publisher.wake()

    def _append_samples(self, batch: list[SensorSample]) -> None:
        store, gw, sent_at = self.config.store, self.config.gateway_id, self._clock()
        self.outbox.append(
            "sensors",
            lambda seq: encode(
                SensorsBatch(store=store, gateway=gw, seq=seq, sent_at=sent_at, samples=batch)
            ),
        )
        self.stats.sensor_batches += 1
        self.publisher.wake()

    # -- MQTT side --------------------------------------------------------------------------------

    def _status(self, state: str) -> bytes:
        devices = [
            DeviceSummary(name=r.name, protocol=r.protocol, zones=sorted(set(r.antennas.values())))
            for r in self.config.readers
        ]
        devices += [
            DeviceSummary(name=s.name, protocol=f"modbus-{s.kind}", zones=[s.zone] if s.zone else [])
            for s in self.config.sensors
        ]
        devices += [DeviceSummary(name=a.name, protocol=f"modbus-{a.kind}") for a in self.config.actuators]
        devices += [DeviceSummary(name=d.name, protocol="pole-display") for d in self.config.displays]
        status = Status(
            store=self.config.store,
            gateway=self.config.gateway_id,
            state="online" if state == "online" else "offline",
            at=self._clock(),
            version=VERSION,
            devices=devices,
        )
        return encode(status)

    def _on_connected(self) -> None:
        # Runs on paho's network thread: queue the birth message, never wait for it here.
        self.link.publish(self.topics["status"], self._status("online"), retain=True)
        self.publisher.wake()

    def _on_command(self, message: InboundMessage) -> None:
        if message.topic == self.topics["cmd"]:
            self.commands.submit(message.payload)

    def _write_coil(self, actuator: ActuatorConfig, value: bool) -> None:
        bus = self.buses.get(actuator.bus)
        if bus is None:
            raise DeviceError(f"actuator {actuator.name!r}: bus {actuator.bus!r} is not configured")
        bus.write_coil(actuator, value)

    def _log_stats(self) -> None:
        while not self._stop.wait(self.config.gateway.stats_interval_s):
            log.info("gateway counters: %s", self.counters())

"""Modbus RTU buses: sensor polling and coil writes (the only module that imports the pymodbus client).

One thread per bus owns its :class:`ModbusSerialClient` (which opens pyserial URLs, so PTYs and
``socket://`` work like device paths). Coil writes from commands jump the queue ahead of sensor polls;
a failed request closes the client, and it is reopened with a back-off of 0.5 s doubling to 10 s.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime

from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusException

from contract import SensorSample
from gateway.config import ActuatorConfig, BusConfig, SensorConfig
from gateway.errors import DeviceError
from readers.errors import ReaderError
from readers.modbus import decode_door, decode_temperature

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 10.0
UNITS = {"temperature": "°C", "door": ""}

SampleSink = Callable[[list[SensorSample]], None]


@dataclass
class BusStats:
    polls: int = 0
    samples: int = 0
    errors: int = 0
    reconnects: int = 0
    writes: int = 0
    open: bool = False
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class _CoilWrite:
    unit: int
    address: int
    value: bool
    done: Future[None]


class ModbusBus:
    """The thread that owns one Modbus RTU bus."""

    def __init__(
        self,
        bus: BusConfig,
        sensors: list[SensorConfig],
        sink: SampleSink,
        stop: threading.Event,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.bus = bus
        self.sensors = [s for s in sensors if s.bus == bus.name]
        self.stats = BusStats()
        self._sink = sink
        self._stop = stop
        self._clock = clock
        self._writes: queue.Queue[_CoilWrite | None] = queue.Queue()
        self._client: ModbusSerialClient | None = None
        self._thread = threading.Thread(target=self._run, name=f"modbus-{bus.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._writes.put(None)
        self._thread.join(timeout)

    def write_coil(self, actuator: ActuatorConfig, value: bool, timeout: float = 3.0) -> None:
        """Switch a coil; blocks until the device confirmed it; raises :class:`DeviceError`."""
        done: Future[None] = Future()
        self._writes.put(_CoilWrite(actuator.unit, actuator.address, value, done))
        try:
            done.result(timeout)
        except TimeoutError:
            raise DeviceError(
                f"bus {self.bus.name!r}: no answer to coil {actuator.address} within {timeout} s"
            ) from None

    # -- the bus thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        next_poll = {s.name: time.monotonic() for s in self.sensors}
        backoff = BACKOFF_MIN_S
        while not self._stop.is_set():
            if self._client is None and not self._connect():
                self._fail_writes(f"bus {self.bus.name!r} is not connected")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = BACKOFF_MIN_S
            wait = min((t for t in next_poll.values()), default=time.monotonic() + 1.0) - time.monotonic()
            try:
                write = self._writes.get(timeout=max(wait, 0.0))
            except queue.Empty:
                write = None
            if write is not None:
                self._do_write(write)
                continue
            now = time.monotonic()
            due = [s for s in self.sensors if next_poll[s.name] <= now]
            samples = []
            for sensor in due:
                next_poll[sensor.name] = now + sensor.interval_s
                sample = self._poll(sensor)
                if sample is not None:
                    samples.append(sample)
                if self._client is None:
                    break
            if samples:
                self.stats.samples += len(samples)
                self._sink(samples)
        self._fail_writes("gateway stopping")
        self._close()

    def _connect(self) -> bool:
        if self.stats.open or self.stats.polls or self.stats.errors:
            self.stats.reconnects += 1
        client = ModbusSerialClient(
            self.bus.url, baudrate=self.bus.baudrate, timeout=self.bus.timeout_s, retries=0, reconnect_delay=0
        )
        if not client.connect():
            self.stats.last_error = f"cannot open {self.bus.url!r}"
            log.warning("modbus bus %s: cannot open %s", self.bus.name, self.bus.url)
            return False
        self._client = client
        self.stats.open = True
        log.info("modbus bus %s: opened %s", self.bus.name, self.bus.url)
        return True

    def _close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()  # type: ignore[no-untyped-call]
            except Exception:  # closing a dead port must not end the loop
                log.debug("modbus bus %s: close failed", self.bus.name, exc_info=True)
        self._client = None
        self.stats.open = False

    def _failed(self, what: str, exc: BaseException | str) -> str:
        message = f"bus {self.bus.name!r}: {what}: {exc}"
        self.stats.errors += 1
        self.stats.last_error = message
        log.warning("%s", message)
        return message

    def _fail_writes(self, reason: str) -> None:
        while True:
            try:
                write = self._writes.get_nowait()
            except queue.Empty:
                return
            if write is not None and not write.done.done():
                write.done.set_exception(DeviceError(reason))

    def _do_write(self, write: _CoilWrite) -> None:
        assert self._client is not None
        what = f"write coil {write.address} of unit {write.unit}"
        try:
            response = self._client.write_coil(write.address, write.value, device_id=write.unit)
        except (ModbusException, OSError) as exc:
            write.done.set_exception(DeviceError(self._failed(what, exc)))
            self._close()
            return
        if response.isError():
            write.done.set_exception(DeviceError(self._failed(what, f"exception response {response}")))
            return
        self.stats.writes += 1
        write.done.set_result(None)

    def _poll(self, sensor: SensorConfig) -> SensorSample | None:
        assert self._client is not None
        self.stats.polls += 1
        what = f"read {sensor.name!r}"
        try:
            if sensor.kind == "temperature":
                response = self._client.read_holding_registers(sensor.address, count=1, device_id=sensor.unit)
                if response.isError():
                    self._failed(what, f"exception response {response}")
                    return None
                value = decode_temperature(response.registers[0], sensor.scale)
            else:
                response = self._client.read_discrete_inputs(sensor.address, count=1, device_id=sensor.unit)
                if response.isError():
                    self._failed(what, f"exception response {response}")
                    return None
                value = 1.0 if decode_door(bool(response.bits[0])) == "open" else 0.0
        except (ModbusException, OSError) as exc:
            self._failed(what, exc)
            self._close()
            return None
        except (ReaderError, IndexError) as exc:
            self._failed(what, exc)
            return None
        return SensorSample(
            sensor=sensor.name,
            kind=sensor.kind,
            value=value,
            unit=UNITS[sensor.kind],
            zone=sensor.zone,
            at=self._clock(),
        )

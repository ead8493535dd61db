"""The store's I/O board on a Modbus RTU bus, served by pymodbus (the only pymodbus server import).

Register map (the demo device map, ``readers.modbus``), on one unit (default 1):

* holding register 0 — cooler temperature, signed int16 in 0.1 °C (read-only: it is a sensor);
* discrete input 0 — cooler door contact, 1 = open;
* coil 0 — exit alarm relay; coil 1 — cooler lock; coil 2 — the fast lane's gate.

The world sets the temperature and the door (:meth:`ModbusIoDevice.set_temperature`,
:meth:`ModbusIoDevice.set_door`); whoever wants to see the alarm sound reads the coils
(:attr:`ModbusIoDevice.alarm`, :attr:`ModbusIoDevice.lock`). The pymodbus server runs its own asyncio
loop in a thread and opens ``device_path`` (one end of a null modem); the gateway opens the other end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from readers.modbus import (
    ALARM_COIL,
    DEFAULT_SCALE,
    DEFAULT_UNIT,
    DOOR_INPUT,
    LOCK_COIL,
    TEMPERATURE_REGISTER,
    encode_temperature,
)
from simulators.errors import SimulatorError

_READ_DISCRETE_INPUTS = 2
_READ_HOLDING_REGISTERS = 3
_WRITE_COIL_CODES = frozenset({5, 15})
_COILS = 16  # one register of bits


class ModbusIoDevice:
    """Temperature sensor, door contact, alarm relay and lock on one Modbus unit."""

    def __init__(
        self,
        name: str = "io",
        *,
        unit: int = DEFAULT_UNIT,
        celsius: float = 3.0,
        scale: float = DEFAULT_SCALE,
    ) -> None:
        if not 1 <= unit <= 247:
            raise SimulatorError(f"{name}: Modbus unit {unit!r} is outside 1..247")
        self.name = name
        self.unit = unit
        self.baudrate = 9600
        self.protocol = "modbus-rtu"
        self._scale = scale
        self._lock = threading.Lock()
        self._register = encode_temperature(celsius, scale)
        self._celsius = celsius
        self._door = False
        self._coils = [False] * _COILS
        self.coil_writes: list[tuple[int, bool]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusSerialServer | None = None
        self._thread: threading.Thread | None = None

    # -- the world's side -------------------------------------------------------------------------------

    def set_temperature(self, celsius: float) -> None:
        register = encode_temperature(celsius, self._scale)  # ReaderError if the register cannot hold it
        with self._lock:
            self._celsius, self._register = celsius, register

    def set_door(self, is_open: bool) -> None:
        with self._lock:
            self._door = bool(is_open)

    @property
    def temperature(self) -> float:
        with self._lock:
            return self._celsius

    @property
    def door_open(self) -> bool:
        with self._lock:
            return self._door

    def coil(self, address: int) -> bool:
        with self._lock:
            return self._coils[address]

    @property
    def alarm(self) -> bool:
        """The exit alarm relay (coil 0) as the gateway last set it."""
        return self.coil(ALARM_COIL)

    @property
    def lock(self) -> bool:
        """The cooler lock (coil 1) as the gateway last set it."""
        return self.coil(LOCK_COIL)

    # -- the server ---------------------------------------------------------------------------------------

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus calls this on every access: fresh sensor values before a read, coil writes recorded."""
        with self._lock:
            if function_code == _READ_HOLDING_REGISTERS:
                registers[TEMPERATURE_REGISTER - start_address] = self._register
            elif function_code == _READ_DISCRETE_INPUTS:
                registers[0] = (1 << DOOR_INPUT) if self._door else 0
            elif function_code in _WRITE_COIL_CODES and set_values is not None:
                for offset, value in enumerate(set_values):
                    if 0 <= address + offset < _COILS:
                        self._coils[address + offset] = bool(value)
                        self.coil_writes.append((address + offset, bool(value)))
        return None

    def _sim_device(self) -> SimDevice:
        return SimDevice(
            id=self.unit,
            simdata=(
                [SimData(0, count=_COILS, values=False, datatype=DataType.BITS)],
                [SimData(0, count=_COILS, values=False, datatype=DataType.BITS, readonly=True)],
                [
                    SimData(
                        TEMPERATURE_REGISTER,
                        values=self._register,
                        datatype=DataType.REGISTERS,
                        readonly=True,
                    )
                ],
                [SimData(0, values=0, datatype=DataType.REGISTERS, readonly=True)],
            ),
            action=self._action,
        )

    def serve(self, path: str, *, timeout: float = 5.0) -> None:
        """Start the RTU server on the serial port ``path`` in a background thread."""
        started = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            try:
                self._server = ModbusSerialServer(
                    [self._sim_device()], framer=FramerType.RTU, port=path, baudrate=self.baudrate
                )
                await self._server.serve_forever(background=True)
            except BaseException as exc:
                failure.append(exc)
                started.set()
                return
            started.set()
            await self._server.serving

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(main())
            finally:
                loop.close()

        logging.getLogger("pymodbus").setLevel(logging.ERROR)  # its deprecation notes are not ours to show
        self._thread = threading.Thread(target=run, name=f"sim-modbus-{self.name}", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise SimulatorError(f"{self.name}: the Modbus server on {path} did not start within {timeout} s")
        if failure:
            raise SimulatorError(
                f"{self.name}: cannot serve Modbus RTU on {path}: {failure[0]}"
            ) from failure[0]

    def stop(self) -> None:
        loop, server, thread = self._loop, self._server, self._thread
        if loop is not None and server is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(timeout=5)  # type: ignore[no-untyped-call]
        if thread is not None:
            thread.join(timeout=5)
        self._thread = None

"""The world: where every tagged item and card is, applied to the devices; and the scenario runner.

:class:`World` keeps each item's zone and RSSI and gives each zone's UHF module exactly the tags in its
field; card and sensor steps go straight to their device. :func:`run_scenario` plays a scenario's steps at
their (time-scaled) moments; the clock and the wait are injected, so tests run it without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from simulators.devices import CardReaderDevice, SerialDevice, UhfReaderDevice
from simulators.errors import ScenarioError
from simulators.modbus_device import ModbusIoDevice
from simulators.scenario import CardIn, CardOut, Door, Note, Scenario, Step, TagsTo, Temperature, TimedStep


class World:
    """The simulated store's physical state, applied to its devices."""

    def __init__(
        self,
        devices: Mapping[str, SerialDevice],
        uhf_by_zone: Mapping[str, str],
        io: ModbusIoDevice | None = None,
    ) -> None:
        self._devices = dict(devices)
        self._uhf_by_zone = dict(uhf_by_zone)
        self._io = io
        self._lock = threading.Lock()
        self._where: dict[str, tuple[str | None, float]] = {}
        self.notes: list[str] = []

    def place(self, epcs_by_zone: Mapping[str, Mapping[str, float]]) -> None:
        """Put items in zones at once (the stock at the start): zone → {EPC hex: RSSI}."""
        with self._lock:
            for zone, epcs in epcs_by_zone.items():
                for epc, rssi in epcs.items():
                    self._where[epc.upper()] = (zone, rssi)
        self._refresh(set(epcs_by_zone))

    def zone_of(self, epc: str) -> str | None:
        with self._lock:
            return self._where.get(epc.upper(), (None, 0.0))[0]

    def apply(self, step: Step) -> None:
        if isinstance(step, CardIn):
            self._card_reader(step.reader).present(step.uid)
        elif isinstance(step, CardOut):
            self._card_reader(step.reader).remove()
        elif isinstance(step, TagsTo):
            if step.zone is not None and step.zone not in self._uhf_by_zone:
                raise ScenarioError(f"step {step!r}: zone {step.zone!r} has no UHF reader")
            touched: set[str] = set() if step.zone is None else {step.zone}
            with self._lock:
                for epc in step.epcs:
                    previous = self._where.get(epc.upper(), (None, 0.0))[0]
                    if previous is not None:
                        touched.add(previous)
                    self._where[epc.upper()] = (step.zone, step.rssi)
            self._refresh(touched)
        elif isinstance(step, Temperature):
            self._require_io(step).set_temperature(step.celsius)
        elif isinstance(step, Door):
            self._require_io(step).set_door(step.open)
        elif isinstance(step, Note):
            self.notes.append(step.text)

    def _refresh(self, zones: set[str]) -> None:
        for zone in zones:
            name = self._uhf_by_zone.get(zone)
            if name is None:
                continue
            device = self._devices[name]
            assert isinstance(device, UhfReaderDevice)
            with self._lock:
                field = {epc: rssi for epc, (where, rssi) in self._where.items() if where == zone}
            device.set_field(field)

    def _card_reader(self, name: str) -> CardReaderDevice:
        device = self._devices.get(name)
        if not isinstance(device, CardReaderDevice):
            raise ScenarioError(f"no card reader named {name!r}; the store has {sorted(self._devices)}")
        return device

    def _require_io(self, step: Step) -> ModbusIoDevice:
        if self._io is None:
            raise ScenarioError(f"step {step!r} needs the Modbus I/O board, and this store has none")
        return self._io


def run_scenario(
    scenario: Scenario,
    world: World,
    *,
    speed: float = 1.0,
    loop: bool = False,
    clock: Callable[[], float] = time.monotonic,
    wait: Callable[[float], bool] | None = None,
    on_step: Callable[[Scenario, TimedStep], None] | None = None,
) -> int:
    """Play ``scenario`` (and, with ``loop``, the rounds after it) at ``speed`` times real time.

    ``wait(seconds)`` sleeps and returns True to stop early (default: an Event that is never set, so Ctrl-C
    interrupts it). Returns the number of steps applied.
    """
    if speed <= 0:
        raise ScenarioError(f"speed {speed!r} must be positive")
    if wait is None:
        never = threading.Event()
        wait = never.wait
    applied = 0
    current: Scenario | None = scenario
    while current is not None:
        start = clock()
        for timed in current.steps:
            delay = timed.at / speed - (clock() - start)
            if delay > 0 and wait(delay):
                return applied
            world.apply(timed.step)
            applied += 1
            if on_step is not None:
                on_step(current, timed)
        current = current.next_round() if loop and current.next_round is not None else None
    return applied

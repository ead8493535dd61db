"""The world: where every tagged item and card is, applied to the devices; and the scenario runner.

:class:`World` keeps each item's zone and RSSI and gives each zone's UHF module exactly the tags in its
field (and, for zones with ``neighbours``, the tags next door that a noise profile lets it overhear); card and sensor steps go straight to their device. :func:`run_scenario` plays a scenario's steps at
their (time-scaled) moments; the clock and the wait are injected, so tests run it without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

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
        *,
        neighbours: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._devices = dict(devices)
        self._uhf_by_zone = dict(uhf_by_zone)
        self._io = io
        self._lock = threading.Lock()
        self._where: dict[str, tuple[str | None, float]] = {}
        self._in_zone: dict[str, dict[str, float]] = {}
        self._neighbours = {zone: frozenset(others) for zone, others in (neighbours or {}).items()}
        self._overheard_by: dict[str, set[str]] = {}
        """zone -> the zones whose readers overhear it (the reverse of ``neighbours``)."""
        for zone, others in self._neighbours.items():
            for other in others:
                self._overheard_by.setdefault(other, set()).add(zone)
        self.notes: list[str] = []

    def place(self, epcs_by_zone: Mapping[str, Mapping[str, float]]) -> None:
        """Put items in zones at once (the stock at the start): zone → {EPC hex: RSSI}."""
        with self._lock:
            for zone, epcs in epcs_by_zone.items():
                for epc, rssi in epcs.items():
                    self._move(epc.upper(), zone, rssi)
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
                    previous = self._move(epc.upper(), step.zone, step.rssi)
                    if previous is not None:
                        touched.add(previous)
            self._refresh(touched)
        elif isinstance(step, Temperature):
            self._require_io(step).set_temperature(step.celsius)
        elif isinstance(step, Door):
            self._require_io(step).set_door(step.open)
        elif isinstance(step, Note):
            self.notes.append(step.text)

    def _move(self, epc: str, zone: str | None, rssi: float) -> str | None:
        """Move one tag (lock held); returns the zone it was in."""
        previous = self._where.get(epc, (None, 0.0))[0]
        if previous is not None:
            self._in_zone.get(previous, {}).pop(epc, None)
        if zone is None:
            self._where.pop(epc, None)
        else:
            self._where[epc] = (zone, rssi)
            self._in_zone.setdefault(zone, {})[epc] = rssi
        return previous

    def _refresh(self, zones: set[str]) -> None:
        affected = set(zones)
        for zone in zones:
            affected |= self._overheard_by.get(zone, set())
        for zone in sorted(affected):
            name = self._uhf_by_zone.get(zone)
            if name is None:
                continue
            device = self._devices[name]
            assert isinstance(device, UhfReaderDevice)
            with self._lock:
                field = dict(self._in_zone.get(zone, {}))
                stray: list[str] | None = None
                if zone in self._neighbours:
                    stray = [epc for other in self._neighbours[zone] for epc in self._in_zone.get(other, {})]
            device.set_field(field, stray)

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

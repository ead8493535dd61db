"""What the simulators need from a store file, and which devices that store gets.

The store file is read and checked by :mod:`ingest.storefile`, the one parser of that format; this
module keeps the parts that decide the simulated hardware and the scenarios: zones, products, members,
staff and items. A file the strict loader refuses is refused here too, as :class:`StorePlanError` carrying
its message (the file and each wrong field).

Devices by zone type (the demo device map):

* ``entrance`` — an RDM6300 card reader ``{zone}-card``;
* ``shelf``, ``cooler``, ``backroom``, ``exit`` — an M100 UHF module ``{zone}-uhf``;
* ``lane`` — a card reader ``{zone}-card``, a UHF module ``{zone}-uhf`` and a pole display (the zone's
  ``display`` name, default ``{zone}-display``);
* one Modbus bus ``io`` (unit 1) when the store has a cooler or an exit: the first cooler's temperature
  (holding register 0) and door (discrete input 0), the first exit's alarm relay (coil 0) and the cooler's
  lock (coil 1).

An exit gate (``[[exits]]``) is two exit zones, ``inner`` and ``outer``, each with its own UHF module; the
gate's ``alarm`` is the relay on coil 0. Zones' ``neighbours`` are the zones whose tags a reader may
overhear (a noise profile's stray reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from crm.settings import FastLane
from ingest.storefile import StoreFile, StoreFileError, load_store_file, parse_store_file
from simulators.errors import StorePlanError

UHF_ZONE_TYPES = frozenset({"shelf", "cooler", "backroom", "exit", "lane"})

DeviceKind = Literal["uhf", "card", "display", "modbus"]


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    type: str
    display: str | None = None
    alarm: str | None = None
    neighbours: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExitPlan:
    """An exit gate of the store file: leaving is ``inner`` then ``outer``; its rule settings as given."""

    name: str
    inner: str
    outer: str
    alarm: str | None = None
    gateway: str | None = None
    decide_at: str = "edge"
    window_s: float = 3.0
    min_reads: int = 2
    min_rssi: float = -70.0
    chatter_window_s: float = 300.0
    chatter_limit: int = 6


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    price: str
    gtin: str | None
    category: str | None


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    tags: tuple[str, ...]

    @property
    def card_uid(self) -> str | None:
        """The 10-hex-digit UID of the person's first 125 kHz card, if any."""
        return next((tag.removeprefix("UID:") for tag in self.tags if tag.startswith("UID:")), None)


@dataclass(frozen=True, slots=True)
class Item:
    tag: str  # "EPC:<hex>"
    sku: str
    zone: str | None

    @property
    def epc(self) -> str:
        return self.tag.removeprefix("EPC:")


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One simulated device: its name on the gateway, what it is, and which zone it serves."""

    name: str
    kind: DeviceKind
    zone: str | None
    protocol: str
    baudrate: int
    antenna: int = 1


@dataclass(frozen=True, slots=True)
class StorePlan:
    store_id: str
    name: str
    zones: tuple[Zone, ...]
    products: tuple[Product, ...]
    members: tuple[Person, ...]
    staff: tuple[Person, ...]
    items: tuple[Item, ...]
    settle_time_s: float = 4.0
    source: str = "<memory>"
    exits: tuple[ExitPlan, ...] = ()
    min_rssi: float = -75.0
    fast_lane: FastLane | None = None
    """The gate the fast-lane reward opens (the store file's ``[crm.fast_lane]``)."""

    def neighbours(self) -> dict[str, tuple[str, ...]]:
        """Zone → the zones its reader may overhear (declared either way round, so both ways)."""
        out: dict[str, set[str]] = {}
        for zone in self.zones:
            for other in zone.neighbours:
                out.setdefault(zone.name, set()).add(other)
                out.setdefault(other, set()).add(zone.name)
        return {zone: tuple(sorted(others)) for zone, others in sorted(out.items())}

    def exit_alarm(self) -> str | None:
        """The alarm relay's actuator name: the first gate's ``alarm``, else the first exit zone's."""
        for gate in self.exits:
            if gate.alarm:
                return gate.alarm
        exits = self.zones_of("exit")
        return (exits[0].alarm or f"{exits[0].name}-alarm") if exits else None

    def zone(self, name: str) -> Zone:
        for zone in self.zones:
            if zone.name == name:
                return zone
        raise StorePlanError(f"{self.source}: no zone named {name!r}")

    def zones_of(self, zone_type: str) -> tuple[Zone, ...]:
        return tuple(zone for zone in self.zones if zone.type == zone_type)

    def product(self, sku: str) -> Product:
        for product in self.products:
            if product.sku == sku:
                return product
        raise StorePlanError(f"{self.source}: no product with SKU {sku!r}")

    def devices(self) -> tuple[DeviceSpec, ...]:
        """The simulated hardware this store gets (see the module docstring)."""
        specs: list[DeviceSpec] = []
        for zone in self.zones:
            if zone.type in ("entrance", "lane"):
                specs.append(DeviceSpec(f"{zone.name}-card", "card", zone.name, "rdm6300", 9600, antenna=0))
            if zone.type in UHF_ZONE_TYPES:
                specs.append(DeviceSpec(f"{zone.name}-uhf", "uhf", zone.name, "uhf-m100", 115200))
            if zone.type == "lane":
                display = zone.display or f"{zone.name}-display"
                specs.append(DeviceSpec(display, "display", zone.name, "pole-display", 9600, antenna=0))
        if self.zones_of("cooler") or self.zones_of("exit"):
            specs.append(DeviceSpec("io", "modbus", None, "modbus-rtu", 9600, antenna=0))
        return tuple(specs)


def plan_from_store_file(store_file: StoreFile, source: str = "<memory>") -> StorePlan:
    """The simulators' view of a store file already checked by :mod:`ingest.storefile`."""
    return StorePlan(
        store_id=store_file.store.id,
        name=store_file.store.name,
        zones=tuple(
            Zone(z.name, z.type, z.display, z.alarm, tuple(z.neighbours)) for z in store_file.zones
        ),
        products=tuple(
            Product(p.sku, p.name, str(p.price), p.gtin, p.category or None) for p in store_file.products
        ),
        members=tuple(Person(m.id, m.name, tuple(m.tags)) for m in store_file.members),
        staff=tuple(Person(s.id, s.name, tuple(s.tags)) for s in store_file.staff),
        items=tuple(Item(i.tag, i.sku, i.zone) for i in store_file.items),
        settle_time_s=store_file.rules.settle_time_s,
        source=source,
        exits=tuple(
            ExitPlan(e.name, e.inner, e.outer, e.alarm, e.gateway, e.decide_at, e.window_s, e.min_reads,
                     e.min_rssi, e.chatter_window_s, e.chatter_limit)
            for e in store_file.exits
        ),
        min_rssi=store_file.rules.min_rssi,
        fast_lane=store_file.crm_settings().fast_lane,
    )


def plan_from_mapping(data: dict[str, Any], source: str = "<memory>") -> StorePlan:
    """Build a plan from an already parsed store file (a dict as tomllib returns it)."""
    try:
        store_file = parse_store_file(data, source)
    except StoreFileError as exc:
        raise StorePlanError(str(exc)) from exc
    return plan_from_store_file(store_file, source)


def load_store_plan(path: Path | str) -> StorePlan:
    """Read a store file (TOML) into a :class:`StorePlan`."""
    try:
        store_file = load_store_file(path)
    except StoreFileError as exc:
        raise StorePlanError(str(exc)) from exc
    return plan_from_store_file(store_file, str(path))


def demo_store_path() -> Path:
    """The demo store file shipped with the simulators."""
    return Path(__file__).parent / "scenarios" / "demo-store.toml"

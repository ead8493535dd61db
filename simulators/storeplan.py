"""What the simulators need from a store file, and which devices that store gets.

The store file format is shared with ingest (``ingest/storefile.py`` owns its full validation); this
module reads only the parts that decide the simulated hardware and the scenarios: zones, products,
members, staff and items. A file that lacks them is refused with :class:`StorePlanError` naming the file
and the entry.

Devices by zone type (the demo device map):

* ``entrance`` — an RDM6300 card reader ``{zone}-card``;
* ``shelf``, ``cooler``, ``backroom``, ``exit`` — an M100 UHF module ``{zone}-uhf``;
* ``lane`` — a card reader ``{zone}-card``, a UHF module ``{zone}-uhf`` and a pole display (the zone's
  ``display`` name, default ``{zone}-display``);
* one Modbus bus ``io`` (unit 1) when the store has a cooler or an exit: the first cooler's temperature
  (holding register 0) and door (discrete input 0), the first exit's alarm relay (coil 0) and the cooler's
  lock (coil 1).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from simulators.errors import StorePlanError

ZONE_TYPES = frozenset({"entrance", "shelf", "lane", "exit", "backroom", "cooler"})
UHF_ZONE_TYPES = frozenset({"shelf", "cooler", "backroom", "exit", "lane"})
_UID_TAG = re.compile(r"UID:[0-9A-F]{10}")
_EPC_TAG = re.compile(r"EPC:(?:[0-9A-F]{4})+")

DeviceKind = Literal["uhf", "card", "display", "modbus"]


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    type: str
    display: str | None = None
    alarm: str | None = None


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


def _table_list(data: dict[str, Any], key: str, source: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise StorePlanError(f"{source}: [[{key}]] must be a list of tables")
    return value


def _text(entry: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise StorePlanError(f"{where}: {key!r} is missing")
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise StorePlanError(f"{where}: {key!r} must be text, got {value!r}")
    return str(value)


def _people(data: dict[str, Any], key: str, source: str) -> tuple[Person, ...]:
    people = []
    for index, entry in enumerate(_table_list(data, key, source)):
        where = f"{source}: {key}[{index}]"
        tags = entry.get("tags", [])
        if not isinstance(tags, list) or not all(
            isinstance(t, str) and (_UID_TAG.fullmatch(t) or _EPC_TAG.fullmatch(t)) for t in tags
        ):
            raise StorePlanError(
                f"{where}: tags must be a list of 'UID:<10 hex>' or 'EPC:<hex>', got {tags!r}"
            )
        people.append(Person(str(_text(entry, "id", where)), str(_text(entry, "name", where)), tuple(tags)))
    return tuple(people)


def plan_from_mapping(data: dict[str, Any], source: str = "<memory>") -> StorePlan:
    """Build a plan from an already parsed store file (a dict as tomllib returns it)."""
    store = data.get("store")
    if not isinstance(store, dict):
        raise StorePlanError(f"{source}: the [store] table is missing")
    zones = []
    for index, entry in enumerate(_table_list(data, "zones", source)):
        where = f"{source}: zones[{index}]"
        zone_type = _text(entry, "type", where)
        if zone_type not in ZONE_TYPES:
            raise StorePlanError(f"{where}: type {zone_type!r} is not one of {sorted(ZONE_TYPES)}")
        zones.append(
            Zone(
                str(_text(entry, "name", where)),
                zone_type,
                _text(entry, "display", where, required=False),
                _text(entry, "alarm", where, required=False),
            )
        )
    products = []
    for index, entry in enumerate(_table_list(data, "products", source)):
        where = f"{source}: products[{index}]"
        products.append(
            Product(
                str(_text(entry, "sku", where)),
                str(_text(entry, "name", where)),
                str(_text(entry, "price", where)),
                _text(entry, "gtin", where, required=False),
                _text(entry, "category", where, required=False),
            )
        )
    skus = {product.sku for product in products}
    zone_names = {zone.name for zone in zones}
    items = []
    for index, entry in enumerate(_table_list(data, "items", source)):
        where = f"{source}: items[{index}]"
        tag, sku = str(_text(entry, "tag", where)), str(_text(entry, "sku", where))
        zone = _text(entry, "zone", where, required=False)
        if not _EPC_TAG.fullmatch(tag):
            raise StorePlanError(f"{where}: tag {tag!r} is not 'EPC:<hex in whole words>'")
        if sku not in skus:
            raise StorePlanError(f"{where}: SKU {sku!r} is not among the products")
        if zone is not None and zone not in zone_names:
            raise StorePlanError(f"{where}: zone {zone!r} is not among the zones")
        items.append(Item(tag, sku, zone))
    rules = data.get("rules", {})
    settle = rules.get("settle_time_s", 4.0) if isinstance(rules, dict) else 4.0
    return StorePlan(
        store_id=str(_text(store, "id", f"{source}: [store]")),
        name=str(_text(store, "name", f"{source}: [store]", required=False) or ""),
        zones=tuple(zones),
        products=tuple(products),
        members=_people(data, "members", source),
        staff=_people(data, "staff", source),
        items=tuple(items),
        settle_time_s=float(settle),
        source=source,
    )


def load_store_plan(path: Path | str) -> StorePlan:
    """Read a store file (TOML) into a :class:`StorePlan`."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise StorePlanError(f"cannot read store file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise StorePlanError(f"store file {path} is not valid TOML: {exc}") from exc
    return plan_from_mapping(data, str(path))


def demo_store_path() -> Path:
    """The demo store file shipped with the simulators."""
    return Path(__file__).parent / "scenarios" / "demo-store.toml"

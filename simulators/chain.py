"""A chain of simulated stores: store files derived from the demo store, and each store's shoppers as raw reads.

Every store of a chain is the demo store's layout and catalog (entrance, two pay lanes, an exit gate, two
shelves, a cooler and a backroom) with names of its own: the database keys zones, SKUs and people by name
across stores, so store ``store-0007`` has zones ``s0007-…``, SKUs ``S0007-…`` and members ``M-0007-…``. Its
products get GTINs under a company prefix of their own (``4100000 + n``), so the SGTIN-96 EPCs of two stores
never collide, restocked items included. Its exit gate is decided by ingest (``decide_at = "ingest"``): the
simulated gateways have no relays.

A store's zones are spread over its M gateways the way an installation would wire them: the entrance and
the exit gate, the pay lanes, the shelves, the cooler and backroom, and, past four gateways, one extra aisle
per gateway (with a share of the dry goods).

:class:`StoreTraffic` plays the looping demo scenario (shoppers tap in, pick, sometimes put an item back,
pay at a lane and leave; a shoplifter per round) and says, tick by tick, which raw reads each gateway's
readers would make: card readers and the lanes' and gate's antennas every tick, the shelves' inventory at
``SHELF_READS_PER_S``. Pure: time is passed in; no clock, thread or I/O.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.smoothing import RawRead
from readers.epc import encode_sgtin96, gtin_check_digit
from simulators.demo import demo_scenario, initial_stock
from simulators.errors import ScenarioError
from simulators.gatewayconfig import toml_value
from simulators.scenario import CardIn, CardOut, Scenario, TagsTo
from simulators.storeplan import StorePlan, demo_store_path, load_store_plan

MAX_GATEWAYS = 16
COMPANY_PREFIX_BASE = 4_100_000
"""Store n's GTINs use the GS1 company prefix ``4100000 + n`` (7 digits)."""
ITEMS_PER_PRODUCT = 6
"""Items of each product on its shelf at the start (one more waits in the backroom)."""
MEMBERS = 12
SHOPPER_GAP_S = 5.0
"""Between two shoppers' arrivals: with two lanes, a lane is free again long before the next shopper."""
PUT_BACKS = 0.25
SHELF_READS_PER_S = 2.0
"""Inventory reads of each stocked item: often enough that a late tick never makes the smoother see it leave."""

_BASE_ZONES: tuple[tuple[tuple[str, str], ...], ...] = (
    (("entrance", "entrance"), ("exit-inner", "exit"), ("exit-outer", "exit")),
    (("lane-1", "lane"), ("lane-2", "lane")),
    (("shelf-dairy", "shelf"), ("shelf-dry", "shelf")),
    (("cooler-1", "cooler"), ("backroom", "backroom")),
)
_NEIGHBOURS = {"lane-1": ("lane-2",), "exit-inner": ("exit-outer",)}


def store_id(number: int) -> str:
    return f"store-{number:04d}"


def _code(number: int) -> str:
    return f"s{number:04d}"


def _gtin(number: int, item_ref: int) -> str:
    first13 = f"0{COMPANY_PREFIX_BASE + number:07d}{item_ref:05d}"
    return first13 + str(gtin_check_digit(first13))


def zone_layout(gateways: int) -> list[tuple[str, str, str]]:
    """(zone name without the store's code, zone type, gateway) of every zone of a chain store."""
    if not 1 <= gateways <= MAX_GATEWAYS:
        raise ScenarioError(f"gateways per store must be 1 to {MAX_GATEWAYS}, not {gateways}")
    groups = [list(group) for group in _BASE_ZONES]
    groups += [[(f"aisle-{k}", "shelf")] for k in range(1, gateways - len(_BASE_ZONES) + 1)]
    return [(name, kind, f"gw{index % gateways + 1}") for index, group in enumerate(groups) for name, kind in group]


def _table(header: str, entries: Mapping[str, Any]) -> list[str]:
    lines = [header]
    for key, value in entries.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            lines.append(f"{key} = [{', '.join(toml_value(v) for v in value)}]")
        else:
            lines.append(f"{key} = {toml_value(value)}")
    return [*lines, ""]


def chain_store_text(number: int, gateways: int, demo: StorePlan | None = None) -> str:
    """The store file (TOML) of store ``number`` (1-based) of a chain whose stores have ``gateways`` each."""
    demo = demo or load_store_plan(demo_store_path())
    code, upper = _code(number), _code(number).upper()
    layout = zone_layout(gateways)
    aisles = [name for name, _, _ in layout if name.startswith("aisle-")]
    lines = [
        f"# Store {number} of a simulated chain ('silentcommerce sim chain'), derived from the demo store.",
        "",
        *_table("[store]", {"id": store_id(number), "name": f"Chain store {number}", "currency": "EUR"}),
        *_table("[rules]", {"settle_time_s": demo.settle_time_s, "min_rssi": -75.0, "min_reads": 2}),
        *_table("[inventory]", {"cycle_s": 30.0, "missing_after_cycles": 4}),
    ]
    for name, kind, gateway in layout:
        lines += _table("[[zones]]", {
            "name": f"{code}-{name}", "type": kind, "gateway": gateway,
            "neighbours": [f"{code}-{n}" for n in _NEIGHBOURS.get(name, ())] or None,
        })
    gate_gateway = next(gw for name, _, gw in layout if name == "exit-inner")
    lines += _table("[[exits]]", {
        "name": f"{code}-exit", "inner": f"{code}-exit-inner", "outer": f"{code}-exit-outer",
        "gateway": gate_gateway, "decide_at": "ingest", "window_s": 3.0, "min_reads": 2, "min_rssi": -70.0,
    })
    items: list[tuple[str, str, str]] = []  # (EPC hex, SKU, zone)
    serial = 0
    for ref, product in enumerate(demo.products, start=1):
        home = next(item.zone for item in demo.items if item.sku == product.sku and item.zone != "backroom")
        if home == "shelf-dry" and aisles:
            home = ([home, *aisles])[ref % (len(aisles) + 1)]
        sku, gtin = f"{upper}-{product.sku}", _gtin(number, ref)
        lines += _table("[[products]]", {
            "sku": sku, "name": product.name, "price": product.price, "gtin": gtin,
            "category": product.category, "reorder_below": 2, "home_zones": [f"{code}-{home}"],
        })
        for zone in [home] * ITEMS_PER_PRODUCT + ["backroom"]:
            serial += 1
            items.append((encode_sgtin96(gtin, serial), sku, f"{code}-{zone}"))
    for k in range(1, MEMBERS + 1):
        lines += _table("[[members]]", {
            "id": f"M-{number:04d}-{k:02d}", "name": f"Member {k} of store {number}",
            "tags": [f"UID:{0xA000000000 + number * 0x100 + k:010X}"],
            "consent": {"offers": k % 3 != 0, "reminders": False, "data_sharing": False},
        })
    lines += _table("[[staff]]", {
        "id": f"S-{number:04d}-01", "name": f"Staff of store {number}",
        "tags": [f"UID:{0xB000000000 + number * 0x100 + 1:010X}"],
    })
    for epc, sku, zone in items:
        lines += _table("[[items]]", {"tag": f"EPC:{epc}", "sku": sku, "zone": zone})
    return "\n".join(lines)


def write_chain_stores(directory: Path, stores: int, gateways: int) -> list[Path]:
    """Write the store files of a chain of ``stores`` stores into ``directory``; return their paths."""
    if stores < 1:
        raise ScenarioError(f"a chain needs at least one store, not {stores}")
    directory.mkdir(parents=True, exist_ok=True)
    demo = load_store_plan(demo_store_path())
    paths = []
    for number in range(1, stores + 1):
        path = directory / f"{store_id(number)}.toml"
        path.write_text(chain_store_text(number, gateways, demo), encoding="utf-8")
        paths.append(path)
    return paths


@dataclass(frozen=True, slots=True)
class _Reader:
    name: str
    antenna: int
    zone: str
    card: bool
    inventory: bool
    """A shelf-like zone: read at ``SHELF_READS_PER_S``, not every tick."""


class StoreTraffic:
    """One store's shoppers as the raw reads its readers make, grouped by the gateway each reader is on."""

    def __init__(self, plan: StorePlan, gateway_of: Mapping[str, str], *, seed: int, shoppers: int = 6,
                 gap_s: float = SHOPPER_GAP_S, put_backs: float = PUT_BACKS) -> None:
        self.store = plan.store_id
        inventory_types = {"shelf", "cooler", "backroom"}
        types = {zone.name: zone.type for zone in plan.zones}
        self._readers = [
            _Reader(spec.name, spec.antenna, spec.zone, spec.kind == "card", types[spec.zone] in inventory_types)
            for spec in plan.devices() if spec.kind in ("uhf", "card") and spec.zone is not None
        ]
        self.gateway_of = {r.name: gateway_of[r.zone] for r in self._readers}
        self._scenario: Scenario = demo_scenario(seed, shoppers, loop=True, store=plan, cooler=False, gap_s=gap_s,
                                                 put_backs=put_backs)
        self._next = 0
        self._round_start = 0.0
        self._last_inventory = -1e9
        self._rng = random.Random(f"chain-reads:{seed}")
        self.tags: dict[str, dict[str, float]] = {z: dict(e) for z, e in initial_stock(plan, seed).items()}
        self._where = {epc: zone for zone, epcs in self.tags.items() for epc in epcs}
        self.cards: dict[str, str] = {}
        self.steps = 0

    def start(self, now_s: float) -> None:
        self._round_start = now_s

    def advance(self, now_s: float) -> None:
        """Apply every step of the scenario due by ``now_s`` (seconds on the clock given to :meth:`start`)."""
        while True:
            steps = self._scenario.steps
            if self._next >= len(steps):
                if now_s - self._round_start < self._scenario.duration or self._scenario.next_round is None:
                    return
                self._round_start += self._scenario.duration
                self._scenario, self._next = self._scenario.next_round(), 0
                continue
            timed = steps[self._next]
            if self._round_start + timed.at > now_s:
                return
            self._apply(timed.step)
            self._next += 1
            self.steps += 1

    def _apply(self, step: object) -> None:
        if isinstance(step, CardIn):
            self.cards[step.reader] = step.uid.upper()
        elif isinstance(step, CardOut):
            self.cards.pop(step.reader, None)
        elif isinstance(step, TagsTo):
            for epc in step.epcs:
                old = self._where.pop(epc, None)
                if old is not None:
                    self.tags[old].pop(epc, None)
                if step.zone:
                    self.tags.setdefault(step.zone, {})[epc] = step.rssi
                    self._where[epc] = step.zone

    def reads(self, now_s: float, at: datetime) -> dict[str, list[RawRead]]:
        """The raw reads of this tick, by gateway: what is in each reader's field now."""
        inventory = now_s - self._last_inventory >= 1.0 / SHELF_READS_PER_S
        if inventory:
            self._last_inventory = now_s
        out: dict[str, list[RawRead]] = {}
        jitter = self._rng.randint
        for reader in self._readers:
            if reader.card:
                uid = self.cards.get(reader.name)
                if uid is not None:
                    out.setdefault(self.gateway_of[reader.name], []).append(
                        RawRead(reader=reader.name, antenna=reader.antenna, zone=reader.zone, uid=uid, at=at))
                continue
            if reader.inventory and not inventory:
                continue
            tags = self.tags.get(reader.zone)
            if tags:
                sink = out.setdefault(self.gateway_of[reader.name], [])
                sink += [RawRead(reader=reader.name, antenna=reader.antenna, zone=reader.zone, epc=epc,
                                 rssi=rssi + jitter(-2, 2), at=at) for epc, rssi in tags.items()]
        return out

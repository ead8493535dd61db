"""Store scenarios: the seeded demo (shoppers, a shoplifter, a warming cooler) and a small fixed one.

Times are scenario seconds; :func:`simulators.world.run_scenario` scales them. Everything random comes
from one ``random.Random(seed)``, so a seed gives the same steps and the same expected outcome every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from readers.epc import Sgtin, decode_epc, encode_sgtin96
from simulators.errors import ScenarioError
from simulators.noise import WalkThrough
from simulators.scenario import (
    CardIn,
    CardOut,
    Door,
    Note,
    Scenario,
    ScriptBuilder,
    TagsTo,
    Temperature,
)
from simulators.storeplan import StorePlan, demo_store_path, load_store_plan

SHELF_RSSI = (-70.0, -58.0)
LANE_RSSI = (-55.0, -40.0)
EXIT_RSSI = (-58.0, -48.0)
SHOPPER_GAP_S = 14.0
RESTOCK_SERIAL_BASE = 100_000


def initial_stock(store: StorePlan, seed: int = 0) -> dict[str, dict[str, float]]:
    """The items of the store file in their zones, each with a steady RSSI: zone → {EPC hex: dBm}."""
    rng = random.Random(f"stock:{seed}")
    stock: dict[str, dict[str, float]] = {}
    for item in store.items:
        if item.zone is not None:
            stock.setdefault(item.zone, {})[item.epc] = round(rng.uniform(*SHELF_RSSI))
    return stock


def _maps(store: StorePlan) -> dict[str, Any]:
    return {
        "lane_readers": {f"{zone.name}-card": zone.name for zone in store.zones_of("lane")},
        "entrance_readers": frozenset(f"{zone.name}-card" for zone in store.zones_of("entrance")),
        "exit_zones": frozenset(zone.name for zone in store.zones_of("exit")),
        "gates": tuple((gate.inner, gate.outer) for gate in store.exits),
        "members": {p.card_uid: p.id for p in store.members if p.card_uid is not None},
        "skus": {item.epc: item.sku for item in store.items},
    }


def exit_route(store: StorePlan) -> tuple[str, str | None]:
    """Where shoppers leave: the first gate's (inner, outer) zones, else the first exit zone (and None)."""
    if store.exits:
        return store.exits[0].inner, store.exits[0].outer
    return _require(store, "exit")[0], None


def walk_through(
    script: ScriptBuilder,
    epcs: tuple[str, ...],
    start: float,
    route: tuple[str, str | None],
    rng: random.Random,
    walk: WalkThrough | None = None,
    *,
    entering: bool = False,
) -> float:
    """Carry ``epcs`` through the exit from ``start``: through the gate's inner then outer zone with the
    walk-through RSSI profile (outer then inner when ``entering``), or a 1.5 s pass of a gate-less exit zone.
    Returns the time the items are out of every field."""
    first, second = route
    if second is None:
        script.at(start, TagsTo(epcs, first, round(rng.uniform(*EXIT_RSSI))))
        script.at(start + 1.5, TagsTo(epcs, None))
        return start + 1.5
    if entering:
        first, second = second, first
    end = start
    for at, zone, rssi in (walk or WalkThrough()).curve(rng, first, second, start):
        script.at(at, TagsTo(epcs, zone or None, rssi))
        end = at
    return end


def _require(store: StorePlan, zone_type: str) -> list[str]:
    names = [zone.name for zone in store.zones_of(zone_type)]
    if not names:
        raise ScenarioError(f"{store.source}: the scenario needs a zone of type {zone_type!r}")
    return names


@dataclass
class _DemoRounds:
    store: StorePlan
    seed: int
    shoppers: int
    thief: bool
    cooler: bool
    cooler_hold_s: float
    gap_s: float = SHOPPER_GAP_S
    put_backs: float = 0.0
    round: int = 0
    on_shelf: dict[str, str] = field(default_factory=dict)  # EPC -> zone
    skus: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shelf_like = {z.name for z in self.store.zones if z.type in ("shelf", "cooler")}
        for item in self.store.items:
            self.skus[item.epc] = item.sku
            if item.zone in shelf_like:
                self.on_shelf[item.epc] = item.zone

    def build(self) -> Scenario:
        store, rng, script = self.store, random.Random(f"demo:{self.seed}:{self.round}"), ScriptBuilder()
        entrance = _require(store, "entrance")[0]
        lanes, route = _require(store, "lane"), exit_route(store)
        exit_zone = route[0]
        members = [m for m in store.members if m.card_uid is not None]
        if not members:
            raise ScenarioError(f"{store.source}: the demo needs members with 'UID:' cards")
        if self.round > 0:
            self._restock(script, rng)
        end = 0.0
        for index in range(self.shoppers):
            member = members[(index + self.round * self.shoppers) % len(members)]
            uid = str(member.card_uid)
            t0 = 2.0 + self.gap_s * index
            lane = lanes[index % len(lanes)]
            script.at(t0, Note(f"{member.name} taps in at {entrance}"))
            script.at(t0, CardIn(f"{entrance}-card", uid))
            script.at(t0 + 1.5, CardOut(f"{entrance}-card"))
            picked = self._pick(rng, rng.randint(1, 3))
            for j, epc in enumerate(picked):
                script.at(t0 + 3.0 + 1.2 * j, TagsTo((epc,), None))
            if self.put_backs:
                self._put_back(script, t0, member.name)
            if not picked:
                continue
            script.at(t0 + 3.0, Note(f"{member.name} picks {', '.join(self.skus[e] for e in picked)}"))
            script.at(t0 + 9.0, Note(f"{member.name} at {lane}"))
            script.at(t0 + 9.0, CardIn(f"{lane}-card", uid))
            for epc in picked:
                script.at(t0 + 9.5, TagsTo((epc,), lane, round(rng.uniform(*LANE_RSSI))))
            script.at(t0 + 13.0, CardOut(f"{lane}-card"))
            script.at(t0 + 13.0, TagsTo(picked, None))
            leave = t0 + 13.0 + store.settle_time_s + 1.0
            script.at(leave, Note(f"{member.name} leaves through {exit_zone}"))
            end = max(end, walk_through(script, picked, leave, route, rng))
        if self.thief:
            stolen = self._pick(rng, 1)
            t = 2.0 + self.gap_s * self.shoppers + 2.0
            if stolen:
                script.at(t, Note(f"a shoplifter takes {self.skus[stolen[0]]}"))
                script.at(t, TagsTo(stolen, None))
                end = max(end, walk_through(script, stolen, t + 5.0, route, rng))
        if self.cooler and store.zones_of("cooler"):
            end = max(end, self._cooler(script))
        script.at(end + 1.0, Note("round over"))
        self.round += 1
        return Scenario(
            name=f"demo seed {self.seed} round {self.round - 1}",
            steps=script.steps(),
            **{**_maps(store), "skus": dict(self.skus)},
        )

    def _put_back(self, script: ScriptBuilder, t0: float, name: str) -> None:
        """With probability ``put_backs``, the shopper also takes an item and puts it back where it was a few
        seconds later. Drawn from a generator of its own, so a seed's purchases are the same with or without."""
        rng = random.Random(f"put-back:{self.seed}:{self.round}:{t0}")
        if rng.random() >= self.put_backs or not self.on_shelf:
            return
        epc = rng.choice(sorted(self.on_shelf))
        zone = self.on_shelf[epc]
        script.at(t0 + 2.5, TagsTo((epc,), None))
        script.at(t0 + 2.5, Note(f"{name} takes {self.skus[epc]} and puts it back"))
        script.at(t0 + 6.5, TagsTo((epc,), zone, round(rng.uniform(*SHELF_RSSI))))

    def _pick(self, rng: random.Random, count: int) -> tuple[str, ...]:
        available = sorted(self.on_shelf)
        picked = tuple(rng.sample(available, min(count, len(available))))
        for epc in picked:
            del self.on_shelf[epc]
        return picked

    def _restock(self, script: ScriptBuilder, rng: random.Random) -> None:
        """Staff put fresh items (new serials of the products sold so far) back where the originals were."""
        originals = {item.epc: item for item in self.store.items if item.zone is not None}
        sold = [
            epc for epc in sorted(originals) if epc not in self.on_shelf and originals[epc].zone != "backroom"
        ]
        fresh: dict[str, list[str]] = {}
        for k, epc in enumerate(sold):
            decoded = decode_epc(epc)
            zone = originals[epc].zone
            if not isinstance(decoded, Sgtin) or zone is None:
                continue
            serial = RESTOCK_SERIAL_BASE * self.round + k
            new = encode_sgtin96(decoded.gtin, serial, len(decoded.company_prefix))
            self.skus[new], self.on_shelf[new] = originals[epc].sku, zone
            fresh.setdefault(zone, []).append(new)
        for zone, epcs in sorted(fresh.items()):
            script.at(0.5, Note(f"staff restock {zone} with {len(epcs)} items"))
            script.at(0.5, TagsTo(tuple(epcs), zone, round(rng.uniform(*SHELF_RSSI))))

    def _cooler(self, script: ScriptBuilder) -> float:
        """Door open, 3 °C → 8 °C, held, back to 3 °C. Returns the time of the last step."""
        script.at(0.0, Temperature(3.0))
        script.at(1.0, Door(True))
        script.at(1.0, Note("the cooler door is left open"))
        for k in range(1, 11):
            script.at(1.0 + 2.0 * k, Temperature(round(3.0 + 0.5 * k, 1)))
        script.at(21.0, Door(False))
        cool_from = 21.0 + self.cooler_hold_s
        for k in range(1, 11):
            script.at(cool_from + 2.0 * k, Temperature(round(8.0 - 0.5 * k, 1)))
        return cool_from + 20.0


def demo_scenario(
    seed: int = 0,
    shoppers: int = 3,
    *,
    loop: bool = False,
    store: StorePlan | None = None,
    thief: bool = True,
    cooler: bool = True,
    cooler_hold_s: float = 130.0,
    gap_s: float = SHOPPER_GAP_S,
    put_backs: float = 0.0,
) -> Scenario:
    """The demo: ``shoppers`` members tap in, pick 1–3 items, pay at a lane and leave; a shoplifter takes
    one item straight to the exit; the cooler warms from 3 °C to 8 °C for ``cooler_hold_s`` and recovers.
    With ``loop``, :attr:`Scenario.next_round` builds endless further rounds (shelves restocked with new
    serials). ``gap_s`` is the time between two shoppers' arrivals; ``put_backs`` the probability that a shopper
    also picks up an item and puts it back on its shelf."""
    if shoppers < 0:
        raise ScenarioError(f"shoppers {shoppers!r} must not be negative")
    rounds = _DemoRounds(
        store if store is not None else load_store_plan(demo_store_path()),
        seed,
        shoppers,
        thief,
        cooler,
        cooler_hold_s,
        gap_s,
        put_backs,
    )
    first = rounds.build()
    if not loop:
        return first

    def chain(scenario: Scenario) -> Scenario:
        return replace(scenario, next_round=lambda: chain(rounds.build()))

    return chain(first)


def small_scenario(store: StorePlan | None = None) -> Scenario:
    """A fixed, 15-second script for tests: the first member buys the first two shelf items (of two
    products) at the first lane; a shoplifter takes a third item out through the exit."""
    store = store if store is not None else load_store_plan(demo_store_path())
    entrance, lane, route = _require(store, "entrance")[0], _require(store, "lane")[0], exit_route(store)
    rng = random.Random("small")
    member = next((m for m in store.members if m.card_uid is not None), None)
    if member is None:
        raise ScenarioError(f"{store.source}: the scenario needs a member with a 'UID:' card")
    uid = str(member.card_uid)
    shelf_like = {z.name for z in store.zones if z.type in ("shelf", "cooler")}
    chosen: list[str] = []
    seen_skus: set[str] = set()
    for item in store.items:
        if item.zone in shelf_like and item.sku not in seen_skus:
            chosen.append(item.epc)
            seen_skus.add(item.sku)
        if len(chosen) == 3:
            break
    if len(chosen) < 3:
        raise ScenarioError(f"{store.source}: the scenario needs shelf items of three products")
    bought, stolen = (chosen[0], chosen[1]), (chosen[2],)
    settle = store.settle_time_s
    script = ScriptBuilder()
    script.at(0.0, CardIn(f"{entrance}-card", uid))
    script.at(0.5, CardOut(f"{entrance}-card"))
    script.at(1.0, TagsTo((bought[0],), None))
    script.at(1.5, TagsTo((bought[1],), None))
    script.at(2.0, TagsTo(stolen, None))
    script.at(2.5, CardIn(f"{lane}-card", uid))
    script.at(3.0, TagsTo((bought[0],), lane, -45.0))
    script.at(3.0, TagsTo((bought[1],), lane, -48.0))
    script.at(6.0, CardOut(f"{lane}-card"))
    script.at(6.0, TagsTo(bought, None))
    walk_through(script, bought, 6.0 + settle + 0.5, route, rng)
    walk_through(script, stolen, 13.0, route, rng)
    return Scenario(name="small", steps=script.steps(), **_maps(store))

"""The evaluation script: K seeded passages through the exit gate, with the ground truth of each.

Pure and seeded: :func:`evaluation_scenario` turns a store plan, a noise profile, K and a seed into a
:class:`~simulators.scenario.Scenario` plus one :class:`Passage` per actor, saying what a correct store does:

* ``shopper`` — a member pays for 1–3 items at a lane and walks out through the gate (charged, no alarm);
* ``put_back`` — the same, but one item read in the lane goes back on a shelf before the card leaves (that
  one is not charged);
* ``thief`` — 1–2 items carried straight out through the gate, no lane (an alarm for each);
* ``staff`` — a staff wristband (an allowed tag) walks out (no alarm);
* ``entering`` — a delivery carried in from outside: outer zone, then inner (no alarm);
* ``again`` — a member who paid earlier comes back in and walks out again with the paid items (no alarm).

Many shoppers run at once: each takes the lane that frees first (a lane is free once the previous card's
``left`` has reached ingest: ``card_release_s`` after the card leaves), and members are reused only after
their last walk-out. Items are minted as SGTIN-96 of catalog GTINs, so the store knows each one's product.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from readers.epc import encode_sgtin96
from simulators.demo import LANE_RSSI, SHELF_RSSI, exit_route, walk_through
from simulators.errors import ScenarioError
from simulators.noise import NoiseProfile, company_prefix_length
from simulators.scenario import CardIn, CardOut, Scenario, ScriptBuilder, TagsTo
from simulators.storeplan import Product, StorePlan

PassageKind = Literal["shopper", "put_back", "thief", "staff", "entering", "again"]
EVAL_SERIAL_BASE = 5_000_000

DEFAULT_MIX: tuple[tuple[PassageKind, float], ...] = (
    ("shopper", 0.60),
    ("put_back", 0.12),
    ("thief", 0.10),
    ("staff", 0.06),
    ("entering", 0.07),
    ("again", 0.05),
)


@dataclass(frozen=True, slots=True)
class Timing:
    """How long things take in the evaluation script (seconds of scenario time)."""

    lane_dwell_s: float = 2.0
    """From the card entering the lane reader to card and items leaving it."""
    put_back_after_s: float = 0.7
    """A put-back shopper puts the item on a shelf this long after the items reached the lane..."""
    put_back_dwell_s: float = 3.5
    """...and stays in the lane this long in all (paying takes a moment after changing one's mind)."""
    card_release_s: float = 1.6
    """After the card leaves, until the lane takes the next member (the gateway's leave time plus margin)."""
    to_exit_s: tuple[float, float] = (2.0, 4.0)
    """From leaving the lane to stepping into the gate."""
    arrival_gap_s: float = 0.25
    """Between two actors that need no lane."""


@dataclass(frozen=True, slots=True)
class Passage:
    """One actor's pass through the gate and what a correct store decides for it."""

    index: int
    kind: PassageKind
    member: str | None
    lane: str | None
    carried: tuple[str, ...]  # "EPC:<hex>" through the gate
    charged: tuple[str, ...]  # "EPC:<hex>" the member must be charged for
    put_back: tuple[str, ...]  # read in the lane, then put back: never charged
    walk_at: float  # scenario seconds: the first step into the gate
    leaving: bool

    @property
    def honest(self) -> bool:
        return self.kind != "thief"


@dataclass(frozen=True)
class Evaluation:
    scenario: Scenario
    passages: tuple[Passage, ...]

    @property
    def honest_exits(self) -> int:
        return sum(1 for p in self.passages if p.honest)

    @property
    def stolen(self) -> frozenset[str]:
        return frozenset(tag for p in self.passages if p.kind == "thief" for tag in p.carried)


class _Mint:
    def __init__(self, store: StorePlan, seed: int) -> None:
        self.products = [p for p in store.products if p.gtin is not None]
        if not self.products:
            raise ScenarioError(f"{store.source}: the evaluation needs products with a GTIN")
        self.store = store
        self.serial = EVAL_SERIAL_BASE + 100_000 * (seed % 100)
        self.skus: dict[str, str] = {}

    def item(self, rng: random.Random) -> str:
        product: Product = rng.choice(self.products)
        assert product.gtin is not None
        self.serial += 1
        epc = encode_sgtin96(product.gtin, self.serial, company_prefix_length(product.gtin, self.store))
        self.skus[epc] = product.sku
        return epc


def _choose(rng: random.Random, mix: Sequence[tuple[PassageKind, float]]) -> PassageKind:
    roll, total = rng.random() * sum(w for _, w in mix), 0.0
    for kind, weight in mix:
        total += weight
        if roll < total:
            return kind
    return mix[-1][0]


def evaluation_scenario(
    store: StorePlan,
    profile: NoiseProfile,
    exits: int,
    seed: int = 0,
    *,
    timing: Timing = Timing(),
    mix: Sequence[tuple[PassageKind, float]] = DEFAULT_MIX,
    start_s: float = 1.0,
) -> Evaluation:
    """``exits`` passages through the store's first gate (see the module docstring)."""
    if exits < 1:
        raise ScenarioError(f"exits {exits!r} must be at least 1")
    if not store.exits:
        raise ScenarioError(f"{store.source}: the evaluation needs an [[exits]] gate (inner and outer zones)")
    lanes = [zone.name for zone in store.zones_of("lane")]
    shelves = [zone.name for zone in store.zones if zone.type in ("shelf", "cooler")]
    members = [m for m in store.members if m.card_uid is not None]
    wristbands = tuple(
        tag.removeprefix("EPC:") for person in store.staff for tag in person.tags if tag.startswith("EPC:")
    )
    if not lanes or not members:
        raise ScenarioError(f"{store.source}: the evaluation needs lanes and members with 'UID:' cards")
    rng = random.Random(f"evaluate:{profile.name}:{seed}")
    mint = _Mint(store, seed)
    route = exit_route(store)
    script = ScriptBuilder()
    lane_free = {lane: start_s for lane in lanes}
    member_free = {m.id: start_s for m in members}
    paid: list[tuple[str, tuple[str, ...]]] = []  # (member, EPCs) of earlier purchases
    passages: list[Passage] = []
    cursor = start_s
    for index in range(exits):
        kind = _choose(rng, mix)
        if kind == "staff" and not wristbands:
            kind = "entering"
        if kind == "again" and not paid:
            kind = "shopper"
        if kind in ("shopper", "put_back"):
            lane = min(lanes, key=lambda name: (lane_free[name], name))
            member = min(members, key=lambda m: (member_free[m.id], m.id))
            start = max(cursor, lane_free[lane], member_free[member.id])
            uid = str(member.card_uid)
            items = tuple(mint.item(rng) for _ in range(rng.randint(1, 3)))
            back = (mint.item(rng),) if kind == "put_back" else ()
            script.at(start, CardIn(f"{lane}-card", uid))
            for epc in (*items, *back):
                script.at(start + 0.2, TagsTo((epc,), lane, round(rng.uniform(*LANE_RSSI))))
            dwell = timing.put_back_dwell_s if back else timing.lane_dwell_s
            if back:
                shelf = rng.choice(shelves)
                script.at(start + 0.2 + timing.put_back_after_s,
                          TagsTo(back, shelf, round(rng.uniform(*SHELF_RSSI))))
                script.at(start + dwell + 8.0, TagsTo(back, None))  # staff tidy it away
            leave = start + dwell
            script.at(leave, CardOut(f"{lane}-card"))
            script.at(leave, TagsTo(items, None))
            lane_free[lane] = leave + timing.card_release_s
            walk_at = leave + rng.uniform(*timing.to_exit_s)
            end = walk_through(script, items, walk_at, route, rng, profile.walk)
            member_free[member.id] = end + 1.0
            paid.append((member.id, items))
            tags = tuple(f"EPC:{epc}" for epc in items)
            passages.append(Passage(index, kind, member.id, lane, tags, tags, tuple(f"EPC:{e}" for e in back),
                                    walk_at, True))
            cursor = max(cursor + timing.arrival_gap_s, start - dwell)
            continue
        walk_at = cursor + rng.uniform(0.0, 1.0)
        cursor += timing.arrival_gap_s
        if kind == "thief":
            items = tuple(mint.item(rng) for _ in range(rng.randint(1, 2)))
            walk_through(script, items, walk_at, route, rng, profile.walk)
            tags = tuple(f"EPC:{epc}" for epc in items)
            passages.append(Passage(index, kind, None, None, tags, (), (), walk_at, True))
        elif kind == "staff":
            band = rng.choice(wristbands)
            walk_through(script, (band,), walk_at, route, rng, profile.walk)
            passages.append(Passage(index, kind, None, None, (f"EPC:{band}",), (), (), walk_at, True))
        elif kind == "entering":
            items = tuple(mint.item(rng) for _ in range(rng.randint(1, 4)))
            walk_through(script, items, walk_at, route, rng, profile.walk, entering=True)
            tags = tuple(f"EPC:{epc}" for epc in items)
            passages.append(Passage(index, kind, None, None, tags, (), (), walk_at, False))
        else:  # again: a member who paid earlier walks in, then out again, with the paid items
            member_id, items = paid[rng.randrange(len(paid))]
            walk_at = max(walk_at, member_free[member_id])
            back_in = walk_through(script, items, walk_at, route, rng, profile.walk, entering=True)
            out_at = back_in + rng.uniform(3.0, 6.0)
            end = walk_through(script, items, out_at, route, rng, profile.walk)
            member_free[member_id] = max(member_free[member_id], end + 1.0)
            tags = tuple(f"EPC:{epc}" for epc in items)
            passages.append(Passage(index, kind, member_id, None, tags, (), (), out_at, True))
    scenario = Scenario(
        name=f"evaluate {profile.name} seed {seed} exits {exits}",
        steps=script.steps(),
        lane_readers={f"{lane}-card": lane for lane in lanes},
        entrance_readers=frozenset(f"{z.name}-card" for z in store.zones_of("entrance")),
        exit_zones=frozenset(zone.name for zone in store.zones_of("exit")),
        gates=tuple((gate.inner, gate.outer) for gate in store.exits),
        allowed=frozenset(wristbands),
        members={p.card_uid: p.id for p in store.members if p.card_uid is not None},
        skus={**{item.epc: item.sku for item in store.items}, **mint.skus},
    )
    return Evaluation(scenario, tuple(passages))

"""The noise model: how real UHF read zones misbehave, as a profile file anyone can write.

A profile (TOML, see ``simulators/profiles/``) says how often a reader misses a tag, how much less often
liquid or metal items are read (a factor per product category), how often a reader hears a tag standing in
a neighbouring zone and how strongly, how many static tags stand near the gate, how RSSI rises and falls
while a shopper walks through an exit (inner zone, then outer), and how often a reader repeats a frame on the
serial line. It is applied inside the simulated devices and the world, so the byte-exact protocols are
unchanged: a missed read is a notice not sent, a duplicated frame is a notice sent twice.

Everything here is pure: random draws come from a ``random.Random`` the caller seeds.
"""

from __future__ import annotations

import math
import random
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readers.epc import Sgtin, decode_epc, encode_sgtin96
from simulators.errors import SimulatorError

if TYPE_CHECKING:
    from simulators.storeplan import StorePlan

PROFILES_DIR = Path(__file__).parent / "profiles"


class NoiseProfileError(SimulatorError):
    """A profile file that cannot be used; the message names the file, the field and what was expected."""


@dataclass(frozen=True, slots=True)
class WalkThrough:
    """RSSI while a tag is carried through an exit gate: it rises from ``edge_dbm`` to a peak and falls back,
    first in the inner zone, then in the outer one. The peaks are drawn per walk from the ranges; a walk
    takes ``inner_s`` + ``outer_s`` seconds times a pace factor drawn from ``pace``; each zone's curve has
    ``steps`` levels."""

    inner_peak_dbm: tuple[float, float] = (-56.0, -46.0)
    outer_peak_dbm: tuple[float, float] = (-58.0, -48.0)
    edge_dbm: float = -68.0
    inner_s: float = 1.0
    outer_s: float = 1.0
    steps: int = 4
    pace: tuple[float, float] = (0.7, 1.4)

    def curve(self, rng: random.Random, first: str, second: str, start: float) -> list[tuple[float, str, float]]:
        """The walk's levels as (time, zone, RSSI dBm): ``first`` zone, then ``second``."""
        pace = rng.uniform(*self.pace)
        out: list[tuple[float, str, float]] = []
        at = start
        for zone, span, peak_range in (
            (first, self.inner_s, self.inner_peak_dbm),
            (second, self.outer_s, self.outer_peak_dbm),
        ):
            peak = rng.uniform(*peak_range)
            step_s = span * pace / self.steps
            for k in range(self.steps):
                level = self.edge_dbm + (peak - self.edge_dbm) * math.sin(math.pi * (k + 0.5) / self.steps)
                out.append((round(at, 3), zone, float(round(level))))
                at += step_s
        out.append((round(at, 3), "", 0.0))  # the end of the walk: out of every field
        return out


@dataclass(frozen=True, slots=True)
class NoiseProfile:
    """One noise profile (see the module docstring and ``simulators/profiles/default.toml``)."""

    name: str = "clean"
    description: str = ""
    miss_probability: float = 0.0
    jitter_db: int = 2
    category_read_factor: Mapping[str, float] = field(default_factory=dict)
    stray_probability: float = 0.0
    stray_rssi: tuple[float, float] = (-90.0, -75.0)
    static_count: int = 0
    static_rssi: tuple[float, float] = (-70.0, -60.0)
    static_outer_share: float = 0.0
    walk: WalkThrough = WalkThrough()
    duplicate_probability: float = 0.0

    def read_probability(self, category: str | None) -> float:
        """The chance that one inventory round hears a tag of this product category."""
        factor = self.category_read_factor.get(category or "", 1.0)
        return max(0.0, min(1.0, (1.0 - self.miss_probability) * factor))

    def device_noise(self, category_of: Callable[[str], str | None]) -> DeviceNoise:
        """What a UHF reader applies, with ``category_of(epc_hex)`` telling an item's product category."""
        cache: dict[str, float] = {}

        def probability(epc: str) -> float:
            found = cache.get(epc)
            if found is None:
                found = cache[epc] = self.read_probability(category_of(epc))
            return found

        return DeviceNoise(
            read_probability=probability,
            jitter_db=self.jitter_db,
            stray_probability=self.stray_probability,
            stray_rssi=self.stray_rssi,
            duplicate_probability=self.duplicate_probability,
        )


@dataclass(frozen=True, slots=True)
class DeviceNoise:
    """The part of a profile one UHF reader applies to each inventory round."""

    read_probability: Callable[[str], float] = lambda epc: 1.0
    jitter_db: int = 2
    stray_probability: float = 0.0
    stray_rssi: tuple[float, float] = (-90.0, -75.0)
    duplicate_probability: float = 0.0


_TOP = {"name", "description", "reads", "categories", "stray", "static", "walkthrough", "serial"}
_SECTIONS: dict[str, set[str]] = {
    "reads": {"miss_probability", "jitter_db"},
    "stray": {"probability", "rssi"},
    "static": {"count", "rssi", "outer_share"},
    "walkthrough": {"inner_peak_dbm", "outer_peak_dbm", "edge_dbm", "inner_s", "outer_s", "steps", "pace"},
    "serial": {"duplicate_probability"},
}


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def number(self, table: Mapping[str, Any], section: str, key: str, default: float, low: float,
               high: float) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            self.problems.append(f"{section}.{key}: expected a number in [{low:g}, {high:g}], got {value!r}")
            return default
        return float(value)

    def integer(self, table: Mapping[str, Any], section: str, key: str, default: int, low: int, high: int) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problems.append(f"{section}.{key}: expected an integer in [{low}, {high}], got {value!r}")
            return default
        return value

    def span(self, table: Mapping[str, Any], section: str, key: str, default: tuple[float, float],
             low: float, high: float) -> tuple[float, float]:
        value = table.get(key, list(default))
        if (
            not isinstance(value, list) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
            or not low <= value[0] <= value[1] <= high
        ):
            self.problems.append(
                f"{section}.{key}: expected [low, high] with {low:g} <= low <= high <= {high:g}, got {value!r}"
            )
            return default
        return (float(value[0]), float(value[1]))

    def table(self, data: Mapping[str, Any], section: str) -> Mapping[str, Any]:
        value = data.get(section, {})
        if not isinstance(value, dict):
            self.problems.append(f"{section}: expected a table, got {value!r}")
            return {}
        allowed = _SECTIONS.get(section)
        if allowed is not None:
            for key in sorted(set(value) - allowed):
                self.problems.append(f"{section}.{key}: unknown key; expected some of {sorted(allowed)}")
        return value


def parse_noise_profile(data: Mapping[str, Any], source: str = "<memory>") -> NoiseProfile:
    """A profile from a parsed TOML document; :class:`NoiseProfileError` names every wrong field."""
    r = _Reader(source)
    for key in sorted(set(data) - _TOP):
        r.problems.append(f"{key}: unknown key; expected some of {sorted(_TOP)}")
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str) or not name:
        r.problems.append(f"name: expected a non-empty string, got {name!r}")
        name = "profile"
    description = data.get("description", "")
    if not isinstance(description, str):
        r.problems.append(f"description: expected a string, got {description!r}")
        description = ""
    reads, stray, static = r.table(data, "reads"), r.table(data, "stray"), r.table(data, "static")
    walk, serial, categories = r.table(data, "walkthrough"), r.table(data, "serial"), r.table(data, "categories")
    factors: dict[str, float] = {}
    for category in sorted(categories):
        factors[category] = r.number(categories, "categories", category, 1.0, 0.0, 1.0)
    base = WalkThrough()
    walkthrough = WalkThrough(
        inner_peak_dbm=r.span(walk, "walkthrough", "inner_peak_dbm", base.inner_peak_dbm, -128, 0),
        outer_peak_dbm=r.span(walk, "walkthrough", "outer_peak_dbm", base.outer_peak_dbm, -128, 0),
        edge_dbm=r.number(walk, "walkthrough", "edge_dbm", base.edge_dbm, -128, 0),
        inner_s=r.number(walk, "walkthrough", "inner_s", base.inner_s, 0.1, 30),
        outer_s=r.number(walk, "walkthrough", "outer_s", base.outer_s, 0.1, 30),
        steps=r.integer(walk, "walkthrough", "steps", base.steps, 1, 50),
        pace=r.span(walk, "walkthrough", "pace", base.pace, 0.1, 10),
    )
    profile = NoiseProfile(
        name=name,
        description=description,
        miss_probability=r.number(reads, "reads", "miss_probability", 0.0, 0.0, 0.99),
        jitter_db=r.integer(reads, "reads", "jitter_db", 2, 0, 30),
        category_read_factor=factors,
        stray_probability=r.number(stray, "stray", "probability", 0.0, 0.0, 1.0),
        stray_rssi=r.span(stray, "stray", "rssi", (-90.0, -75.0), -128, 0),
        static_count=r.integer(static, "static", "count", 0, 0, 1000),
        static_rssi=r.span(static, "static", "rssi", (-70.0, -60.0), -128, 0),
        static_outer_share=r.number(static, "static", "outer_share", 0.0, 0.0, 1.0),
        walk=walkthrough,
        duplicate_probability=r.number(serial, "serial", "duplicate_probability", 0.0, 0.0, 1.0),
    )
    if r.problems:
        raise NoiseProfileError(f"{source}: " + "; ".join(r.problems))
    return profile


def load_noise_profile(path: Path | str) -> NoiseProfile:
    """Read a profile file; a bare name (``harsh``) means ``simulators/profiles/<name>.toml``."""
    path = Path(path)
    if not path.suffix and not path.exists():
        path = PROFILES_DIR / f"{path.name}.toml"
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise NoiseProfileError(f"{path}: cannot read the noise profile: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise NoiseProfileError(f"{path}: not valid TOML: {exc}") from exc
    return parse_noise_profile(data, str(path))


def category_lookup(categories_by_gtin: Mapping[str, str | None], listed: Mapping[str, str | None]
                    ) -> Callable[[str], str | None]:
    """``epc_hex -> category``: a listed item's category, else the catalog category of an SGTIN's GTIN."""

    def category_of(epc: str) -> str | None:
        epc = epc.upper()
        if epc in listed:
            return listed[epc]
        try:
            decoded = decode_epc(epc)
        except ValueError:
            return None
        if isinstance(decoded, Sgtin):
            return categories_by_gtin.get(decoded.gtin)
        return None

    return category_of


STATIC_SERIAL_BASE = 900_000


def static_stock(store: StorePlan, profile: NoiseProfile, seed: int = 0) -> dict[str, dict[str, float]]:
    """The profile's static tags by the gate: items of the catalog displayed beside the door, each standing
    in a gate's inner zone (or, for ``outer_share`` of them, its outer zone) at a steady RSSI.
    zone → {EPC hex: dBm}. Stores without gates get none."""
    rng = random.Random(f"static:{profile.name}:{seed}")
    products = [p for p in store.products if p.gtin is not None]
    out: dict[str, dict[str, float]] = {}
    if not store.exits or not products or profile.static_count == 0:
        return out
    for k in range(profile.static_count):
        gate = store.exits[k % len(store.exits)]
        product = products[k % len(products)]
        assert product.gtin is not None
        epc = encode_sgtin96(product.gtin, STATIC_SERIAL_BASE + k, company_prefix_length(product.gtin, store))
        zone = gate.outer if rng.random() < profile.static_outer_share else gate.inner
        out.setdefault(zone, {})[epc] = float(round(rng.uniform(*profile.static_rssi)))
    return out


def company_prefix_length(gtin: str, store: StorePlan) -> int:
    """The company prefix length the store's listed items of this GTIN use (7 when none is listed)."""
    for item in store.items:
        try:
            decoded = decode_epc(item.epc)
        except ValueError:
            continue
        if isinstance(decoded, Sgtin) and decoded.gtin == gtin:
            return len(decoded.company_prefix)
    return 7


def store_categories(store: StorePlan) -> Callable[[str], str | None]:
    """``epc_hex -> category`` for the store's listed items and any SGTIN of its catalog."""
    by_sku = {p.sku: p.category for p in store.products}
    by_gtin = {p.gtin: p.category for p in store.products if p.gtin is not None}
    listed = {item.epc.upper(): by_sku.get(item.sku) for item in store.items}
    return category_lookup(by_gtin, listed)

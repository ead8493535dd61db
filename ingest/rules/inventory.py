"""Shelves and stock: ALE-style inventory cycles per zone, missing and misplaced items, low stock.

Pure: item sightings and ``tick(now)`` in, decisions out; time is the sightings' ``at`` and the ``now`` of a
tick (whichever is later), never a clock.

* **Cycles.** Every zone of type shelf, backroom or cooler has an event cycle of ``cycle_s`` seconds; cycles are
  aligned to 1970-01-01 UTC, so cycle ``n`` spans ``[n * cycle_s, (n + 1) * cycle_s)`` in every zone and keeps
  its number across restarts. A cycle is closed ``grace_s`` after its end (reads arrive in batches, a little
  late); a read for an already closed cycle is too late for its report but still counts as "seen". At the
  close, an :class:`InventoryCycleReport` gives CURRENT (the tags read in the cycle), ADDITIONS (in CURRENT,
  not in the previous cycle) and DELETIONS (in the previous cycle, not in CURRENT); a zone with nothing in
  either is not reported. The first cycle after start is partial: it is not reported and decides nothing, it
  only serves as the previous cycle of the next one.
* **Missing.** An in-store item (known from the start locations or from any read) read in no zone for
  ``missing_after_cycles`` whole cycles is :class:`ItemMissing`, once; read again anywhere, it is
  :class:`ItemFound`. Sold items are never missing.
* **Misplaced.** An item whose product has ``home_zones``, read through a whole cycle on a shelf or cooler that
  is not one of them, is :class:`ItemMisplaced`, once per stay. "Through a whole cycle": its stay in the zone
  (reads no more than a cycle apart) began at or before the cycle's start, it was read in the cycle, and its
  latest read anywhere is still in that zone.
* **Low stock.** At each cycle end a zone counts, per product, the items present: read in the cycle, not sold
  nor in a basket, and not read since in a lane, exit or entrance (carried off the shelf). A product is checked
  in its ``home_zones``; a product without home zones in every shelf or cooler where it once had at least
  ``reorder_below`` items (so one stray item on a wrong shelf is not "low stock"). Below ``reorder_below``:
  :class:`StockLow`, once; back at or above: :class:`StockRestored`.

Costs: a sighting is O(1); a cycle close is proportional to the zone's tags, never to the whole stock; the
start is O(1). Memory holds one record per item read since the start, the tags of the open and previous
cycles, and the stays of the items away from their home zones only; the start stock is kept as given (not
copied) and an item of it gets its record when it is first read. Only the one close that finds the never-read
start stock missing walks all of it, and reports those items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ingest.rules.errors import RulesError
from ingest.rules.model import (
    Decision,
    InventoryCycleReport,
    ItemFound,
    ItemMisplaced,
    ItemMissing,
    Product,
    Sighting,
    StockLow,
    StockRestored,
    Zone,
)

INVENTORY_ZONES = frozenset({"shelf", "backroom", "cooler"})
"""Zone types that run inventory cycles."""
SALES_FLOOR_ZONES = frozenset({"shelf", "cooler"})
"""Zone types where an item can be misplaced, and where products without home zones are checked for stock."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class InventorySettings:
    cycle_s: float = 30.0
    """The length of every zone's inventory (event) cycle."""
    missing_after_cycles: int = 4
    """An in-store item read in no zone for this many whole cycles is missing."""
    grace_s: float = 2.0
    """A cycle is closed this long after its end (at most half a cycle), so that late batches still count."""

    def __post_init__(self) -> None:
        if not self.cycle_s >= 0.001:
            raise RulesError(f"inventory cycle_s {self.cycle_s!r} must be at least 0.001 s")
        if self.missing_after_cycles < 1:
            raise RulesError(f"inventory missing_after_cycles {self.missing_after_cycles!r} must be at least 1")
        if not self.grace_s >= 0:
            raise RulesError(f"inventory grace_s {self.grace_s!r} must not be negative")


@dataclass(slots=True)
class _Item:
    """An in-store item: its product, where and when it was last read, the cycle of that read."""

    sku: str
    zone: str | None
    last_at: datetime | None
    cycle: int
    missing: bool = False


@dataclass(slots=True)
class _Stay:
    """A tag's continuous presence in one zone (reads no more than a cycle apart)."""

    since: datetime
    last_at: datetime
    reported: bool = False


@dataclass(slots=True)
class _ZoneCycles:
    zone: Zone
    open: dict[int, set[str]] = field(default_factory=dict)
    """Cycle number -> tags read in it, for the cycles not closed yet (at most two: grace)."""
    previous: frozenset[str] = frozenset()
    stays: dict[str, _Stay] = field(default_factory=dict)
    low: set[str] = field(default_factory=set)
    """SKUs whose StockLow is raised in this zone."""
    stocked: set[str] = field(default_factory=set)
    """SKUs without home zones that once had at least ``reorder_below`` items here (checked from then on)."""


def _never(_tag: str) -> bool:
    return False


def _add(sets: dict[int, set[str]], key: int, tag: str) -> None:
    """``sets.setdefault(key, set()).add(tag)`` without building a set on every read."""
    bucket = sets.get(key)
    if bucket is None:
        sets[key] = {tag}
    else:
        bucket.add(tag)


class InventoryCycles:
    """The inventory rules of a store. ``settings`` None: switched off (every call returns nothing).

    ``stock``: tag -> SKU of the in-store items at the start (they are missing if never read);
    ``missing``: those of them already missing (not missing again; read, they are found);
    ``locations``: tag -> their last known zone (kept until the never-read stock goes missing); ``taken(tag)``:
    the item is sold or in a basket (not stock on a shelf, and never missing). ``stock``, ``locations`` and a
    set ``missing`` are kept, not copied (a large store has a million items): the caller hands them over and
    does not change them afterwards.
    """

    def __init__(
        self,
        zones: Mapping[str, Zone],
        products: Mapping[str, Product],
        settings: InventorySettings | None,
        *,
        stock: Mapping[str, str] | None = None,
        missing: Iterable[str] = (),
        locations: Mapping[str, str] | None = None,
        taken: Callable[[str], bool] = _never,
    ) -> None:
        self.settings = settings
        self._taken = taken
        self._cycle_us = round(settings.cycle_s * 1_000_000) if settings is not None else 1
        self._cycle = self._cycle_us * _MICROSECOND
        """One cycle's length (kept, not recomputed: it is compared on every read)."""
        grace = min(settings.grace_s, settings.cycle_s / 2) if settings is not None else 0.0
        self._grace = timedelta(seconds=grace)
        self._zone_types: dict[str, str] = {}
        self._zones: dict[str, _ZoneCycles] = {}
        self._products: dict[str, Product] = {}
        self._homes: dict[str, set[str]] = {}
        self.update_catalog(zones, products)
        self._items: dict[str, _Item] = {}
        self._buckets: dict[int, set[str]] = {}
        """Cycle number -> in-store, not missing items last read in that cycle."""
        self._start_stock: Mapping[str, str] = (stock or {}) if settings is not None else {}
        self._locations: Mapping[str, str] = (locations or {}) if settings is not None else {}
        self._start_missing: AbstractSet[str] = frozenset()
        if settings is not None:
            self._start_missing = missing if isinstance(missing, AbstractSet) else frozenset(missing)
        self._start_due = True
        """The never-read start stock is not yet missing: its first cycle has not been decided."""
        self._dropped: set[str] = set()
        """Start stock found sold when deciding missing items: no longer stock (read again, it is a new item)."""
        self._now: datetime | None = None
        self._recent = 0
        """The cycle number last computed (its int object is shared, see :meth:`_cycle_of`)."""
        self._first = 0
        """The partial cycle the rules started in."""
        self._closed = 0
        """The newest closed cycle."""

    # -- configuration ---------------------------------------------------------------------------

    def update_catalog(self, zones: Mapping[str, Zone], products: Mapping[str, Product]) -> None:
        """Layout or catalog edits: new zones start cycling; products' home zones and thresholds apply from now."""
        self._zone_types = {name: zone.type for name, zone in zones.items()}
        for name, zone in zones.items():
            if zone.type in INVENTORY_ZONES:
                state = self._zones.get(name)
                if state is None:
                    self._zones[name] = _ZoneCycles(zone)
                else:
                    state.zone = zone
        for name in [name for name in self._zones if name not in zones or zones[name].type not in INVENTORY_ZONES]:
            del self._zones[name]
        self._products = dict(products)
        self._homes = {}
        for product in products.values():
            for home in product.home_zones:
                self._homes.setdefault(home, set()).add(product.sku)

    # -- inputs ----------------------------------------------------------------------------------

    def observe(self, s: Sighting) -> list[Decision]:
        """An item read (any zone): keeps the item in stock and, in an inventory zone, in the open cycle."""
        if self.settings is None or s.kind != "item" or s.ref is None or s.ref not in self._products:
            return []
        out = self._advance(s.at)
        if s.event != "seen":
            return out
        tag, at = s.tag, s.at
        cycle = self._cycle_of(at)
        item = self._items.get(tag) or self._from_start(tag)
        if item is None:
            item = self._items[tag] = _Item(s.ref, None, None, cycle)
            _add(self._buckets, cycle, tag)
        if item.last_at is None or at >= item.last_at:
            item.zone, item.last_at = s.zone.name, at
        if item.missing and not self._taken(tag):
            item.missing = False
            item.cycle = cycle
            _add(self._buckets, cycle, tag)
            out.append(ItemFound(tag, item.sku, s.zone.name, at))
        elif cycle > item.cycle:
            bucket = self._buckets.get(item.cycle)
            if bucket is not None:
                bucket.discard(tag)
                if not bucket:
                    del self._buckets[item.cycle]
            item.cycle = cycle
            _add(self._buckets, cycle, tag)
        zone = self._zones.get(s.zone.name)
        if zone is None:
            return out
        if self._away(item.sku, zone.zone):
            self._stay(zone, tag, at)
        if cycle > self._closed:
            _add(zone.open, cycle, tag)
        return out

    def tick(self, now: datetime) -> list[Decision]:
        """Let time pass to ``now``: close the cycles that ended (``grace_s`` ago)."""
        if self.settings is None:
            return []
        return self._advance(now)

    # -- views -----------------------------------------------------------------------------------

    def current(self, zone: str) -> frozenset[str]:
        """The tags of the zone's last closed cycle."""
        state = self._zones.get(zone)
        return state.previous if state is not None else frozenset()

    def is_missing(self, tag: str) -> bool:
        item = self._items.get(tag)
        if item is not None:
            return item.missing
        return self._now is not None and self._unread(tag) is not None and not self._taken(tag) and (
            tag in self._start_missing or not self._start_due)

    def _away(self, sku: str, zone: Zone) -> bool:
        """The item is on a sales floor zone that is not its product's home: only there can it be misplaced,
        so only there is its stay kept (most items sit at home: no record per item for them)."""
        if zone.type not in SALES_FLOOR_ZONES:
            return False
        product = self._products.get(sku)
        return product is not None and bool(product.home_zones) and zone.name not in product.home_zones

    def _stay(self, zone: _ZoneCycles, tag: str, at: datetime) -> None:
        stay = zone.stays.get(tag)
        if stay is None or abs(at - stay.last_at) > self._cycle:
            zone.stays[tag] = _Stay(at, at)
        elif at < stay.since:
            stay.since = at
        elif at > stay.last_at:
            stay.last_at = at

    # -- cycles ----------------------------------------------------------------------------------

    def _cycle_of(self, at: datetime) -> int:
        cycle = ((at - EPOCH) // _MICROSECOND) // self._cycle_us
        if cycle == self._recent:
            return self._recent  # the same int object for all the items read in a cycle, not one each
        self._recent = cycle
        return cycle

    def _start_of(self, cycle: int) -> datetime:
        return EPOCH + cycle * self._cycle

    def _advance(self, now: datetime) -> list[Decision]:
        out: list[Decision] = []
        if self._now is None:
            self._start(now)
        elif now <= self._now:
            return out
        self._now = now
        due = self._cycle_of(now - self._grace) - 1
        while self._closed < due:
            cycle = self._closed + 1
            self._close(cycle, out)
            self._closed = cycle
            if cycle + 2 < due and not any(c <= due for z in self._zones.values() for c in z.open):
                self._close(cycle + 1, out)  # the first empty cycle reports the deletions
                self._closed = due - 1  # the ones between would be empty too: one close decides for all
        return out

    def _start(self, now: datetime) -> None:
        """The first cycle is the one of the first time seen; the start stock waits in it without records."""
        self._now = now
        self._first = self._cycle_of(now)
        self._closed = self._first - 1

    def _unread(self, tag: str) -> str | None:
        """The SKU of a start-stock item never read since the start and not dropped; None for any other tag."""
        sku = self._start_stock.get(tag)
        if sku is None or tag in self._items or tag in self._dropped:
            return None
        product = self._products.get(sku)
        return product.sku if product is not None else None

    def _from_start(self, tag: str) -> _Item | None:
        """The record of a start-stock item read for the first time: as if it had been made at the start."""
        sku = self._unread(tag)
        if sku is None or self._taken(tag):
            return None  # taken at its first read: not stock, as if dropped at the start
        gone = tag in self._start_missing or not self._start_due
        item = self._items[tag] = _Item(sku, None, None, self._first, missing=gone)  # the read gives the zone
        if not gone:
            _add(self._buckets, self._first, tag)
        return item

    def _close(self, cycle: int, out: list[Decision]) -> None:
        assert self.settings is not None
        start = self._start_of(cycle)
        end = self._start_of(cycle + 1)
        for zone in self._zones.values():
            current = zone.open.pop(cycle, set())
            for stale in [c for c in zone.open if c < cycle]:
                current |= zone.open.pop(stale)
            previous, zone.previous = zone.previous, frozenset(current)
            for tag in [tag for tag, stay in zone.stays.items() if stay.last_at < start]:
                del zone.stays[tag]  # not read in this cycle: that stay is over
            if cycle == self._first:
                continue  # the partial first cycle: the previous of the next one, nothing more
            if current or previous:
                out.append(InventoryCycleReport(
                    zone.zone.name, cycle, end, tuple(sorted(current)), tuple(sorted(current - previous)),
                    tuple(sorted(previous - current)),
                ))
            present = [tag for tag in sorted(current) if self._present(tag, zone.zone.name)]
            self._misplaced(zone, present, start, end, out)
            self._stock(zone, present, end, out)
        if cycle - self.settings.missing_after_cycles >= self._first:
            self._missing(cycle - self.settings.missing_after_cycles, end, out)

    def _present(self, tag: str, zone: str) -> bool:
        """Read in the zone this cycle and still there: not sold, not in a basket, not carried off since."""
        if self._taken(tag):
            return False
        item = self._items.get(tag)
        if item is None:
            return False
        return item.zone == zone or self._zone_types.get(item.zone or "") in INVENTORY_ZONES

    def _misplaced(self, zone: _ZoneCycles, present: list[str], start: datetime, end: datetime,
                   out: list[Decision]) -> None:
        if zone.zone.type not in SALES_FLOOR_ZONES:
            return
        for tag in present:
            item = self._items[tag]
            product = self._products.get(item.sku)
            if product is None or not product.home_zones or zone.zone.name in product.home_zones:
                continue
            stay = zone.stays.get(tag)
            if stay is None or stay.reported or stay.since > start or item.zone != zone.zone.name:
                continue
            stay.reported = True
            out.append(ItemMisplaced(tag, item.sku, zone.zone.name, product.home_zones, end))

    def _stock(self, zone: _ZoneCycles, present: list[str], end: datetime, out: list[Decision]) -> None:
        counts = Counter(self._items[tag].sku for tag in present)
        name = zone.zone.name
        floor = zone.zone.type in SALES_FLOOR_ZONES
        for sku, count in counts.items():
            product = self._products.get(sku)
            if (product is not None and floor and not product.home_zones and product.reorder_below > 0
                    and count >= product.reorder_below):
                zone.stocked.add(sku)
        for sku in sorted(self._homes.get(name, set()) | zone.stocked | zone.low):
            product = self._products.get(sku)
            if product is None or product.reorder_below <= 0:
                zone.low.discard(sku)
                continue
            count = counts.get(sku, 0)
            if count < product.reorder_below and sku not in zone.low:
                zone.low.add(sku)
                out.append(StockLow(sku, product.name, name, count, product.reorder_below, end))
            elif count >= product.reorder_below and sku in zone.low:
                zone.low.discard(sku)
                out.append(StockRestored(sku, name, count, end))

    def _missing(self, through: int, at: datetime, out: list[Decision]) -> None:
        """Items last read in cycle ``through`` or earlier are missing now (the never-read start stock with the
        first cycle: this is the one walk over the whole start stock)."""
        cycles = {c for c in self._buckets if c <= through}
        if self._start_due and through >= self._first:
            cycles.add(self._first)
        for cycle in sorted(cycles):
            tags = self._buckets.pop(cycle, set())
            if cycle == self._first and self._start_due:
                tags.update(tag for tag in self._start_stock
                            if tag not in tags and tag not in self._start_missing and self._unread(tag) is not None)
                self._start_due = False
            for tag in sorted(tags):
                self._went_missing(tag, at, out)
            if cycle == self._first:
                self._locations = {}  # only the never-read stock's ItemMissing needed them

    def _went_missing(self, tag: str, at: datetime, out: list[Decision]) -> None:
        item = self._items.get(tag)
        if self._taken(tag):  # sold: no longer stock, never missing
            if item is not None:
                del self._items[tag]
            if tag in self._start_stock:
                self._dropped.add(tag)
            return
        if item is None:  # start stock never read
            out.append(ItemMissing(tag, self._start_stock[tag], self._locations.get(tag), None, at))
            return
        item.missing = True
        out.append(ItemMissing(tag, item.sku, item.zone, item.last_at, at))


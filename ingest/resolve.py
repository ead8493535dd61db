"""From validated reads to the engine's :class:`Sighting`: which zone, and what each tag is bound to.

Pure: the resolver is built from the store layout, the catalog and the tag bindings (loaded by the
service from the database) and does no I/O. A tag is, in this order:

1. a member or staff card/wristband bound to that person, if the read falls inside the binding's validity;
2. an item explicitly bound to a product SKU (the store file's ``[[items]]``, the dashboard);
3. an SGTIN-96 EPC whose GTIN is in the catalog: an item of that product;
4. otherwise ``unknown``.

A read from a zone the layout does not know cannot be placed: it is counted, the zone is reported once
as an ``unknown_zone`` alert, and the read is left out (nothing crashes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from contract.payloads import ReadsBatch, TagRead
from contract.reads import ReadRow, ReadRows
from ingest.rules.model import Alert, Product, Sighting, TagKind, Zone
from ingest.rules.tagtable import Binding, TagTable
from readers.epc import Sgtin, decode_epc
from readers.errors import ReaderError

NO_ZONE = "(none)"
MAX_CODES = 200_000
"""Tags whose code-only identity is remembered (a store's items and cards, with room to spare)."""


@dataclass(frozen=True, slots=True)
class Resolution:
    sightings: tuple[Sighting, ...]
    alerts: tuple[Alert, ...] = ()
    unplaced: int = 0
    """Reads left out because their zone is unknown."""


@dataclass
class ResolverStats:
    reads: int = 0
    unplaced: int = 0
    unplaced_by_zone: Counter[str] = field(default_factory=Counter)


class TagResolver:
    """Resolves each read of a batch to a :class:`Sighting`; keeps counts of what it could not place."""

    def __init__(
        self, zones: Mapping[str, Zone], products: Iterable[Product], bindings: Iterable[Binding] | TagTable
    ) -> None:
        self.stats = ResolverStats()
        self._alerted_zones: set[str] = set()
        self._zones: dict[str, Zone] = {}
        self._by_gtin: dict[str, str] = {}
        self._tags = TagTable()
        self._by_code: dict[str, tuple[TagKind, str | None]] = {}
        """Tag -> what its code alone makes it (no binding involved, so no time): decoded once per tag."""
        self.update(zones, products, bindings)

    def update(self, zones: Mapping[str, Zone], products: Iterable[Product],
               bindings: Iterable[Binding] | TagTable) -> None:
        """Replace layout, catalog and bindings (after an admin edit). ``bindings``: a :class:`TagTable` (kept,
        not copied: a large store's is loaded once and shared with the rules) or the bindings themselves."""
        self._zones = dict(zones)
        self._by_gtin = {p.gtin: p.sku for p in products if p.gtin}
        self._tags = bindings if isinstance(bindings, TagTable) else TagTable.of(bindings)
        self._by_code.clear()
        self._alerted_zones.clear()  # a zone still unknown after an edit is reported afresh

    def identify(self, tag: str, at: datetime) -> tuple[TagKind, str | None]:
        """What ``tag`` (``EPC:…``/``UID:…``) is at time ``at``: (kind, member id / staff id / SKU)."""
        bound = self._tags.bound(tag, at)
        if bound is not None:
            return bound  # type: ignore[return-value]
        known = self._by_code.get(tag)
        if known is None:
            if len(self._by_code) >= MAX_CODES:
                self._by_code.clear()  # bounded whatever tags a reader reports; rebuilt as they are read
            known = self._by_code[tag] = self._identify_code(tag)
        return known

    def _identify_code(self, tag: str) -> tuple[TagKind, str | None]:
        if tag.startswith("EPC:"):
            try:
                decoded = decode_epc(tag[4:])
            except ReaderError:
                return "unknown", None
            if isinstance(decoded, Sgtin):
                sku = self._by_gtin.get(decoded.gtin)
                if sku is not None:
                    return "item", sku
        return "unknown", None

    def zone(self, name: str | None) -> Zone | None:
        return None if name is None else self._zones.get(name)

    def sighting(self, read: TagRead | ReadRow, gateway: str, zone: Zone, *, historical: bool = False) -> Sighting:
        tag = read.tag
        kind, ref = self.identify(tag, read.last_seen)
        return Sighting(tag, kind, ref, zone, gateway, read.reader, read.antenna, read.rssi, read.count, read.event,
                        read.first_seen, read.last_seen, historical)

    def resolve(self, batch: ReadsBatch | ReadRows) -> Resolution:
        sightings: list[Sighting] = []
        alerts: list[Alert] = []
        unplaced = 0
        self.stats.reads += len(batch.reads)
        zones, sighting, gateway, historical = self._zones, self.sighting, batch.gateway, batch.historical
        for read in batch.reads:
            zone = None if read.zone is None else zones.get(read.zone)
            if zone is None:
                unplaced += 1
                name = read.zone or NO_ZONE
                self.stats.unplaced += 1
                self.stats.unplaced_by_zone[name] += 1
                if name not in self._alerted_zones:
                    self._alerted_zones.add(name)
                    alerts.append(Alert(
                        kind="unknown_zone", severity="warning", at=read.last_seen, zone=read.zone,
                        message=(f"gateway {batch.gateway} reports reads from zone {name!r} (reader "
                                 f"{read.reader}, antenna {read.antenna}), which the store layout does not "
                                 f"define; such reads are counted and ignored"),
                        details={"gateway": batch.gateway, "reader": read.reader},
                    ))
                continue
            sightings.append(sighting(read, gateway, zone, historical=historical))
        return Resolution(tuple(sightings), tuple(alerts), unplaced)

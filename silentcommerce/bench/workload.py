"""What the bench sends: the bench store, its stock, and reads batches as a gateway's smoother builds them.

The steady traffic is inventory: stocked items heard where they belong (their product's home zone, a shelf
or the cooler), each a ``seen`` read with a count and an RSSI. Items are SGTIN-96 EPCs of the store's
GTINs, so ingest knows each one's product even without its listing.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, NamedTuple

from contract import ReadsBatch, TagRead, encode
from ingest.storefile import load_store_file
from readers.epc import encode_sgtin96

STORE_FILE: Final = Path(__file__).resolve().parent / "bench-store.toml"
STORE: Final = "bench"


class StockItem(NamedTuple):
    """One tagged item in store (a tuple: a million of them are built at once)."""

    epc: str
    sku: str
    zone: str

    @property
    def epc_tag(self) -> str:
        return f"EPC:{self.epc}"


SGTIN96_SERIAL_BITS: Final = 38


def stock(count: int, *, first_serial: int = 1, seed: int = 1, store_file: Path = STORE_FILE) -> list[StockItem]:
    """``count`` distinct items spread over the products of ``store_file`` (the bench store's by default),
    each at its product's home zone.

    The serial is the low 38 bits of an SGTIN-96, so each product's EPCs are its first EPC with the serial
    swapped in (encoding a million EPCs one by one would take minutes)."""
    products = [(p.sku, p.home_zones[0], _without_serial(p.gtin))
                for p in load_store_file(store_file).products if p.gtin and p.home_zones]
    rng = random.Random(seed)
    items = []
    for serial in range(first_serial, first_serial + count):
        sku, zone, base = rng.choice(products)
        items.append(StockItem(f"{base | serial:024X}", sku, zone))
    return items


def _without_serial(gtin: str) -> int:
    return int(encode_sgtin96(gtin, 1), 16) >> SGTIN96_SERIAL_BITS << SGTIN96_SERIAL_BITS


class ShelfTraffic:
    """Reads batches of shelf inventory reads, one gateway's worth (the caller gives each its ``seq``)."""

    def __init__(self, gateway: str, items: list[StockItem], *, seed: int = 1, store: str = STORE) -> None:
        self.store = store
        self.gateway = gateway
        self._items = items
        self._rng = random.Random(seed)

    def reads(self, count: int, at: datetime | None = None) -> list[TagRead]:
        now = at or datetime.now(UTC)
        first = now - timedelta(seconds=1)
        reads = []
        for _ in range(count):
            item = self._rng.choice(self._items)
            reads.append(TagRead(
                reader=f"uhf-{item.zone}", antenna=1, epc=item.epc, rssi=float(self._rng.randint(-68, -45)),
                first_seen=first, last_seen=now, count=self._rng.randint(1, 12), event="seen", zone=item.zone,
            ))
        return reads

    def payload(self, seq: int, reads: list[TagRead]) -> bytes:
        return encode(ReadsBatch(store=self.store, gateway=self.gateway, seq=seq, sent_at=datetime.now(UTC),
                                 reads=reads))

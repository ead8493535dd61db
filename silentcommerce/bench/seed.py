"""A bench database before ingest starts: the schema, the bench store file, and stock and members in bulk.

The store file goes in through ingest's own seeding (:func:`ingest.db.admin.seed_from_store_file`); the bulk
rows are the very rows that seeding writes for ``[[items]]`` and ``[[members]]`` (an ``items`` row in store
at its zone plus its ``item`` binding; a ``members`` row plus its card's ``member`` binding), inserted with
``executemany`` in large transactions: the seeding's one-by-one upserts are meant for a store file's few.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TypeVar

from ingest.db.admin import seed_from_store_file
from ingest.db.engine import make_engine
from ingest.db.migrate import upgrade
from ingest.storefile import load_store_file
from silentcommerce.bench.workload import STORE, STORE_FILE, StockItem

CHUNK = 50_000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Seeded:
    items: int
    members: int
    seconds: float


def prepare_database(path: Path, stock: Sequence[StockItem], members: int = 0) -> Seeded:
    """Create ``path`` with the bench store, ``stock`` in store at its zones, and ``members`` numbered cards."""
    started = time.monotonic()
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
        with engine.begin() as conn:
            seed_from_store_file(conn, load_store_file(STORE_FILE))
    finally:
        engine.dispose()
    db = sqlite3.connect(path)
    try:
        for items in _chunks(stock, CHUNK):
            with db:
                db.executemany("INSERT INTO items (tag, sku, status, last_zone) VALUES (?, ?, 'in_store', ?)",
                               [(i.epc_tag, i.sku, i.zone) for i in items])
                db.executemany("INSERT INTO tag_bindings (tag, kind, ref) VALUES (?, 'item', ?)",
                               [(i.epc_tag, i.sku) for i in items])
        for numbers in _chunks(range(1, members + 1), CHUNK):
            with db:
                db.executemany("INSERT INTO members (id, store, name) VALUES (?, ?, ?)",
                               [(f"BM-{n:07d}", STORE, f"Member {n}") for n in numbers])
                db.executemany("INSERT INTO tag_bindings (tag, kind, ref) VALUES (?, 'member', ?)",
                               [(f"UID:B{n:09X}", f"BM-{n:07d}") for n in numbers])
    finally:
        db.close()
    return Seeded(len(stock), members, time.monotonic() - started)


def _chunks(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk

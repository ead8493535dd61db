"""Turns a loaded store file into the arguments of :func:`ingest.db.admin.seed`."""

from __future__ import annotations

from typing import Any

from ingest.db.admin import Person, StockItem
from ingest.storefile import StoreFile


def seed_arguments(store_file: StoreFile) -> dict[str, Any]:
    store = store_file.store
    return {
        "store": store.id,
        "name": store.name,
        "currency": store.currency,
        "zones": list(store_file.zones_by_name().values()),
        "products": list(store_file.products_by_sku().values()),
        "members": [Person(m.id, m.name, tuple(m.tags)) for m in store_file.members],
        "staff": [Person(s.id, s.name, tuple(s.tags)) for s in store_file.staff],
        "items": [StockItem(i.tag, i.sku, i.zone) for i in store_file.items],
    }

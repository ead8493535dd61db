"""Turns a loaded store file into the arguments of :func:`ingest.db.admin.seed`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ingest.db.admin import Person, StockItem
from ingest.storefile import PersonEntry, StoreFile


def _validity(person: PersonEntry) -> tuple[tuple[str, datetime | None, datetime | None], ...]:
    return tuple((p.tag, p.valid_from, p.valid_to) for p in person.tag_periods)


def seed_arguments(store_file: StoreFile) -> dict[str, Any]:
    store = store_file.store
    return {
        "store": store.id,
        "name": store.name,
        "currency": store.currency,
        "zones": list(store_file.zones_by_name().values()),
        "products": list(store_file.products_by_sku().values()),
        "members": [Person(m.id, m.name, tuple(m.tags), _validity(m)) for m in store_file.members],
        "staff": [Person(s.id, s.name, tuple(s.tags), _validity(s)) for s in store_file.staff],
        "items": [StockItem(i.tag, i.sku, i.zone) for i in store_file.items],
    }

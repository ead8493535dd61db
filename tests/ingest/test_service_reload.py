"""A store's ingest reloads its catalog only on an admin write that concerns it: another store of the chain
starting (seeding its store file) leaves it alone, while an edit of its own catalog reaches its next sale."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ingest.db import repo
from ingest.db.admin import seed_from_store_file
from ingest.rules.model import Product
from ingest.service import IngestService
from ingest.storefile import parse_store_file
from tests.fixtures.broker import RunningBroker
from tests.ingest.running import running_ingest
from tests.ingest.test_service import STORE_FILE, Gateway, eventually
from tests.ingest.test_service_returns import buy_bread, sales

pytestmark = pytest.mark.integration

OTHER_STORE = """
[store]
id = "otherstore"
name = "Other store"

[[zones]]
name = "o-lane"
type = "lane"

[[products]]
sku = "O-TEA"
name = "Green tea"
price = "3.10"

[[members]]
id = "M-3001"
name = "Grace Hopper"
tags = ["UID:0F00AA0001"]

[[items]]
tag = "EPC:E20000000000000000000001"
sku = "O-TEA"
"""


@pytest.fixture
def ingest(broker: RunningBroker, tmp_path: Path, db_url: str) -> Iterator[IngestService]:
    with running_ingest(broker, tmp_path, STORE_FILE, "ingest-test", db_url) as service:
        yield service


def test_another_store_starting_does_not_reload_this_one_and_an_edit_here_does(ingest: IngestService,
                                                                                 gw1: Gateway) -> None:
    assert ingest.stats.reloads == 0
    with ingest.db.begin() as conn:  # what the other store's ingest does when it starts
        seed_from_store_file(conn, parse_store_file(tomllib.loads(OTHER_STORE)))
    time.sleep(1.0)  # ten of the service's ticks: each compares its store's version with the one it loaded
    assert ingest.stats.reloads == 0

    with ingest.db.begin() as conn:  # the dashboard's price edit
        repo.upsert_product(conn, Product("BREAD", "Rye bread", Decimal("2.49")), ingest.store)
    assert eventually(lambda: ingest.stats.reloads == 1, 10)
    buy_bread(gw1, datetime.now(UTC) - timedelta(seconds=200))  # settled long ago by the reads' own clock
    (sale,) = eventually(lambda: sales(ingest), 15)
    assert sale.total == Decimal("2.49")

"""A scenario through the whole store: PTY readers → gateway process → Mosquitto → ingest process → database,
once on SQLite and once on PostgreSQL (the ``db_url`` fixture: a new, empty database for each run).

The expected outcome is read from the scenario's script (who carried what where), and prices from the store
file; the system under test is every process the demo starts, each talking the real protocols.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest

from ingest.db import repo
from ingest.db.admin import seed_from_store_file
from ingest.db.engine import make_engine
from ingest.storefile import load_store_file
from silentcommerce.localstore import LocalStore, LocalStoreConfig, LocalStoreError
from simulators.demo import small_scenario
from simulators.storeplan import demo_store_path, load_store_plan
from tests.fixtures.servers import require_executable

pytestmark = pytest.mark.integration
T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def store(tmp_path: Path, db_url: str) -> Iterator[LocalStore]:
    require_executable("mosquitto", "/usr/sbin/mosquitto", package="mosquitto")
    require_executable("victoria-metrics", package="victoria-metrics")
    local = LocalStore(LocalStoreConfig(workdir=tmp_path / "store", store_file=demo_store_path(), dashboard_port=None,
                                        db_url=db_url))
    local.start()
    try:
        yield local
    finally:
        local.stop()


def test_a_basket_becomes_one_transaction_and_a_walk_out_sounds_the_alarm(store: LocalStore) -> None:
    plan = load_store_plan(demo_store_path())
    catalog = load_store_file(demo_store_path()).products_by_sku()
    scenario = small_scenario(plan)
    expected = scenario.expected_outcome()
    (purchase,) = expected.purchases
    (theft,) = expected.thefts
    stock_before = {sku: sum(1 for item in plan.items if item.sku == sku) for sku in catalog}

    assert store.sim is not None
    store.sim.play(scenario, speed=1.0)

    engine = make_engine(store.db_url)
    with engine.connect() as conn:
        def committed() -> list[repo.TransactionSummary] | None:
            return repo.list_transactions(conn, store=store.store_id) or None

        def theft_alert() -> list[repo.AlertRow] | None:
            return [a for a in repo.list_alerts(conn) if a.kind == "theft"] or None

        (transaction,) = eventually(committed, 20, "the transaction")
        alerts = eventually(theft_alert, 20, "the theft alert")
        detail = repo.get_transaction(conn, transaction.id)
        assert detail is not None

        # The member is charged once, for exactly the items carried through the lane, at catalog prices.
        assert transaction.member == purchase.member
        assert transaction.lane == purchase.lane
        assert sorted(line.tag for line in detail.lines) == sorted(purchase.tags)
        assert sorted(line.sku for line in detail.lines) == sorted(purchase.skus)
        assert transaction.total == sum((catalog[sku].price for sku in purchase.skus), Decimal("0"))

        # The walk-out raised a theft alert for the stolen tag, with the exit read as evidence.
        assert [a.tag for a in alerts] == [theft.tag]
        assert any(e["zone"] == theft.zone for e in alerts[0].evidence)
        # The gateway decided it by itself (the demo's exit gate is edge-decided), well within half a second.
        assert alerts[0].source == "edge"
        assert alerts[0].latency_ms is not None and alerts[0].latency_ms < 500

        # Stock: the sold items left the store's count; the stolen one is not counted as sold.
        stock = {row.sku: row for row in repo.inventory(conn, store=store.store_id)}
        for sku in set(purchase.skus):
            assert stock[sku].sold == purchase.skus.count(sku)
            assert stock[sku].in_store == stock_before[sku] - purchase.skus.count(sku)
        if theft.sku not in purchase.skus:
            assert stock[theft.sku].sold == 0
    engine.dispose()

    # The gateway sounded the exit alarm relay (Modbus coil) and showed the receipt on the lane display.
    sim = store.sim
    assert eventually(lambda: sim.io is not None and sim.io.alarm, 10, "the exit alarm relay")
    display = sim.display(f"{purchase.lane}-display")
    total_text = f"{transaction.total:.2f}"
    assert eventually(lambda: any(total_text in " ".join(lines) for lines in display.history), 10,
                      "the receipt on the lane display")
    store.check()


def test_a_fresh_store_refuses_a_database_that_already_holds_it(migrated_db_url: str, tmp_path: Path) -> None:
    """A second demo on the same database would renumber the gateway's batches from 1, which ingest drops as
    already stored: the store says so instead of starting, and deletes nothing."""
    store_file = load_store_file(demo_store_path())
    engine = make_engine(migrated_db_url)
    with engine.begin() as conn:
        seed_from_store_file(conn, store_file)
    local = LocalStore(LocalStoreConfig(workdir=tmp_path / "store", store_file=demo_store_path(), dashboard_port=None,
                                        db_url=migrated_db_url))
    with pytest.raises(LocalStoreError, match=f"already holds store '{store_file.store.id}'"):
        local.start()
    assert local.processes == {} and local.broker is None
    with engine.connect() as conn:
        assert repo.inventory(conn, store=store_file.store.id)
    engine.dispose()

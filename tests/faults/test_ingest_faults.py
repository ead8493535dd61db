"""Ingest killed (SIGKILL) again and again while a store plays shoppers.

Ingest acknowledges a message only after the transaction that stores its decisions and its ``(gateway, seq)``:
a kill before the commit means a redelivery, and a kill after the commit but before the acknowledgement means a
redelivery that the stored ``seq`` turns away. So every batch is stored once and nothing is charged twice.
One kill is aimed: after the first member left the lane and before the basket's settle time charges it.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from ingest.db import schema as t
from ingest.db.engine import make_engine
from silentcommerce.localstore import LocalStore, LocalStoreConfig
from simulators.demo import demo_scenario, small_scenario
from simulators.scenario import CardOut, Scenario
from simulators.storeplan import demo_store_path, load_store_plan
from tests.faults.checker import FaultReport, charged_baskets, check, ledgered_outbox, record
from tests.faults.harness import fault_rng, wait_all_stored, wait_slowly
from tests.fixtures.servers import SOAK, require_executable

pytestmark = pytest.mark.integration

Basket = tuple[str, str, tuple[str, ...]]


@dataclass
class KilledRun:
    report: FaultReport
    charged: list[Basket]
    expected: list[Basket]


AIM_AFTER_LANE_S = 2.0
"""The aimed kill: this long after the first member leaves a lane (the card's ``left`` read is out; the
basket settles after the store's ``settle_time_s``, 4 s in the demo store)."""


def aimed_kill_at(scenario: Scenario) -> float:
    """Scenario time of the aimed kill: after the first lane session ended, before its basket is charged."""
    first = min(s.at for s in scenario.steps if isinstance(s.step, CardOut) and s.step.reader in scenario.lane_readers)
    return first + AIM_AFTER_LANE_S


def basket_open(db_url: str) -> bool:
    """Ingest has stored an open basket (so the lane's reads were committed and acknowledged)."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(t.baskets.c.id).where(t.baskets.c.status == "open")).first() is not None
    except OperationalError:  # ingest has not created its tables yet
        return False
    finally:
        engine.dispose()


def kill_ingest(store: LocalStore, aim: float, done: threading.Event, rng: random.Random) -> int:
    """SIGKILL ingest (and start it again at once): at ``aim`` seconds from now once a basket is stored open,
    then at random moments until ``done``. Returns the number of kills."""
    ingest, kills = store.processes["ingest"], 0
    aimed = time.monotonic() + aim
    while not done.is_set() and (time.monotonic() < aimed or not basket_open(store.db_url)):
        done.wait(0.1)
    wait = 0.0
    while not done.wait(wait):
        ingest.stop(kill=True)
        kills += 1
        ingest.start()
        wait = rng.uniform(1.5, 5.0)
    return kills


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KilledRun]:
    """One store run with ingest killed throughout; the tests below judge it."""
    require_executable("mosquitto", "/usr/sbin/mosquitto", package="mosquitto")
    rng, seed = fault_rng()
    plan = load_store_plan(demo_store_path())
    workdir = tmp_path_factory.mktemp("ingest-kill") / "store"
    outbox = ledgered_outbox(workdir / "gw1-outbox.db", plan.store_id, "gw1")
    scenario = (demo_scenario(seed=seed % 1000, shoppers=20, thief=True, cooler=False, store=plan) if SOAK
                else small_scenario(plan))
    expected = sorted((p.member, p.lane, p.tags) for p in scenario.expected_outcome().purchases)
    store = LocalStore(LocalStoreConfig(workdir=workdir, store_file=demo_store_path(), dashboard_port=None,
                                        with_tsdb=False, fresh=False))
    store.start()
    try:
        assert store.sim is not None
        done, kills = threading.Event(), [0]
        aim = aimed_kill_at(scenario)
        killer = threading.Thread(target=lambda: kills.__setitem__(0, kill_ingest(store, aim, done, rng)))
        killer.start()
        try:
            store.sim.play(scenario)
        finally:
            done.set()
            killer.join()
        outboxes = {"gw1": outbox}
        upto = wait_all_stored(store.db_url, outboxes, 90, store.check, store=plan.store_id)
        with contextlib.suppress(AssertionError):  # judged by the tests below; the figures are recorded either way
            wait_slowly(lambda: len(charged_baskets(store.db_url, plan.store_id)) >= len(expected), 5,
                        "every basket charged")
        charged = charged_baskets(store.db_url, plan.store_id)
        report = record(check("ingest-kill", outboxes, store.db_url, plan.store_id, faults=kills[0], upto=upto,
                              seed=seed, purchases=len(expected), charged=len(charged)))
    finally:
        store.stop()
    yield KilledRun(report, charged, expected)


def test_ingest_killed_repeatedly_loses_nothing_and_charges_nothing_twice(killed_run: KilledRun) -> None:
    report = killed_run.report
    assert report.faults >= 1 and report.lost == 0 and report.duplicated == 0, report.summary()
    assert set(killed_run.charged) <= set(killed_run.expected), "only real baskets, each to its member"


def test_a_basket_open_when_ingest_is_killed_is_still_charged(killed_run: KilledRun) -> None:
    assert killed_run.charged == killed_run.expected

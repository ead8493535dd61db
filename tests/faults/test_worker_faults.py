"""An ingest worker killed (SIGKILL) mid-stream while three worker processes share three stores.

The chain simulation (silentcommerce.chain) plays each store's shoppers and a thief through real gateway
delivery paths (smoother, batcher, SQLite outbox, MQTT) into three ``silentcommerce ingest --worker-id``
processes. At seeded random moments one worker is killed and started again a few seconds later: the broker
publishes its Last Will, another worker retires it (frees its leases: its stores move within about a second)
and adopts its MQTT session (hands over what the broker had queued for it and ends the session, so the broker
stops giving it a share), and the next owner's restore sees everything the killed one committed. Judged with the fault suite's ledger (tests/faults/checker.py): no batch an outbox
assigned is lost or stored twice, no tag is charged twice, every basket of the first round is charged once to
its member at its lane, and every item the thief carried out raised a theft alarm.

CI size: one kill in a 45 s run per database engine; ``SC_SOAK=1``: ten kills in five minutes.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from ingest.db import schema as t
from ingest.db.engine import make_engine
from silentcommerce.chain import Chain, ChainOptions, ChainReport
from silentcommerce.processes import ManagedProcess
from simulators.chain import PUT_BACKS, SHOPPER_GAP_S, store_id
from simulators.demo import demo_scenario
from simulators.scenario import Scenario
from simulators.storeplan import load_store_plan
from tests.faults.checker import FaultReport, charged_baskets, check, ledgered_outbox, record
from tests.faults.harness import fault_rng, sized
from tests.fixtures.servers import require_executable
from tests.fixtures.workers import lease_epochs

pytestmark = pytest.mark.integration

STORES, GATEWAYS, WORKERS, SHOPPERS = 3, 2, 3, 3
DURATION_S = sized(45.0, 300.0)
KILLS = int(sized(1, 10))
DOWN_S = (2.0, 5.0)
"""How long a killed worker stays down before it is started again (its stores have moved by then)."""
LEASE_TTL_S = "10"
"""The default: the killed worker's stores move by its will, not by its leases running out."""


class LedgeredChain(Chain):
    """The chain with the fault suite's ledger in every gateway's outbox (created before the gateway opens
    it), so the checker knows every ``seq`` each gateway assigned."""

    def _start_store(self, path: Path, seed: int) -> None:
        store = load_store_plan(path).store_id
        for number in range(1, self.options.gateways + 1):
            ledgered_outbox(self.outbox(store, f"gw{number}"), store, f"gw{number}")
        super()._start_store(path, seed)

    def outbox(self, store: str, gateway: str) -> Path:
        path = self.workdir / "outbox" / f"{store}-{gateway}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def kill_workers(chain: Chain, kills: int, rng_seed: int, done: threading.Event, log: list[str]) -> None:
    """``kills`` times: wait a random while, SIGKILL a random worker, start it again a few seconds later.
    While it is down the chain's liveness check sees a process that was never started in its place."""
    rng = random.Random(rng_seed)
    spacing = DURATION_S / (kills + 1)
    for number in range(kills):
        if done.wait(rng.uniform(0.5, 1.0) * spacing if number else rng.uniform(8.0, spacing)):
            return
        name = rng.choice(sorted(n for n in chain.processes if n.startswith("ingest-w")))
        victim = chain.processes[name]
        chain.processes[name] = ManagedProcess(name, victim.args, victim.log_path)
        victim.stop(kill=True)
        down = rng.uniform(*DOWN_S)
        log.append(f"{name} killed, down {down:.1f} s")
        done.wait(down)  # started again even when the shoppers are done: the drain needs every store served
        victim.start()
        chain.processes[name] = victim


@dataclass
class KilledWorkersRun:
    report: FaultReport
    chain: ChainReport
    expected: dict[str, Scenario]
    charged: dict[str, list[tuple[str, str, tuple[str, ...]]]]
    alarmed: dict[str, set[str]]
    trails: dict[str, str]
    """Where ingest last saw each item a thief took."""


def first_round(number: int, path: Path, seed: int) -> Scenario:
    """The first round of store ``number``'s shoppers (the chain's scenario, same seed)."""
    return demo_scenario(seed * 1000 + number, SHOPPERS, loop=True, store=load_store_plan(path), cooler=False,
                         gap_s=SHOPPER_GAP_S, put_backs=PUT_BACKS)


def theft_tags(db_url: str, store: str) -> set[str]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(select(t.alerts.c.tag).where(t.alerts.c.store == store,
                                                                  t.alerts.c.kind == "theft")).scalars())
    finally:
        engine.dispose()


def trail(db_url: str, tag: str) -> str:
    """Where ingest last saw ``tag`` (for a failure's message)."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(t.items.c.status, t.items.c.last_zone, t.items.c.last_seen)
                               .where(t.items.c.tag == tag)).first()
    finally:
        engine.dispose()
    return "never seen" if row is None else f"{row.status} in {row.last_zone} at {row.last_seen}"


@pytest.fixture
def killed_workers_run(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[KilledWorkersRun]:
    require_executable("mosquitto", "/usr/sbin/mosquitto", package="mosquitto")
    monkeypatch.setenv("SC_INGEST_LEASE_TTL", LEASE_TTL_S)
    _, seed = fault_rng()
    options = ChainOptions(stores=STORES, gateways=GATEWAYS, duration_s=DURATION_S, workdir=tmp_path / "chain",
                           db_url=db_url, seed=seed % 1000, ingest_workers=WORKERS, tsdb=False, shoppers=SHOPPERS)
    chain = LedgeredChain(options)
    kills: list[str] = []
    try:
        chain.start(lambda line: None)
        done = threading.Event()
        killer = threading.Thread(target=kill_workers, args=(chain, KILLS, seed, done, kills), daemon=True)
        killer.start()
        try:
            figures = chain.run(lambda progress: None)
        finally:
            done.set()
            killer.join()
        stores = [store_id(n) for n in range(1, STORES + 1)]
        reports = [check(f"worker-kill-{store}", {f"gw{g}": chain.outbox(store, f"gw{g}")
                                                  for g in range(1, GATEWAYS + 1)}, chain.db_url, store,
                         faults=0) for store in stores]
        report = record(FaultReport(
            f"worker-kill-{db_url.split(':', 1)[0].split('+', 1)[0]}", len(kills),
            [g for r in reports for g in r.gateways], sum(r.transactions for r in reports),
            [tag for r in reports for tag in r.double_charged],
            {"seed": seed, "kills": "; ".join(kills), "simulated_s": round(figures.simulated_s, 1),
             "workers": WORKERS, "stores": STORES, "lease_epochs": lease_epochs(chain.db_url)}))
        print(report.summary())
        expected = {store: first_round(n, path, options.seed)
                    for n, (store, path) in enumerate(zip(stores, chain.store_files, strict=True), start=1)}
        thefts = {theft.tag for scenario in expected.values() for theft in scenario.expected_outcome().thefts}
        yield KilledWorkersRun(report, figures, expected,
                               {store: charged_baskets(chain.db_url, store) for store in stores},
                               {store: theft_tags(chain.db_url, store) for store in stores},
                               {tag: trail(chain.db_url, tag) for tag in thefts})
    finally:
        chain.stop()


def test_a_killed_worker_loses_no_batch_charges_nothing_twice_and_misses_no_alarm(
    killed_workers_run: KilledWorkersRun,
) -> None:
    run = killed_workers_run
    report = run.report
    assert report.faults == KILLS, f"only {report.faults} of {KILLS} kills happened: {report.summary()}"
    assert report.lost == 0 and report.duplicated == 0, report.summary()  # duplicated: tags charged twice too
    assert report.batches > 0 and report.transactions > 0, report.summary()
    for store, charged in run.charged.items():
        assert len(set(charged)) == len(charged), f"{store}: a basket charged twice: {charged}"
    settle_s = 4.0  # the chain stores' settle time: the first round's last basket is charged by then
    played = max(scenario.duration for scenario in run.expected.values()) + settle_s
    assert run.chain.simulated_s >= played, f"the machine played {run.chain.simulated_s:.0f} s of {played:.0f}"
    problems = []
    for store, scenario in run.expected.items():
        outcome = scenario.expected_outcome()
        missing = {theft.tag for theft in outcome.thefts} - run.alarmed[store]
        problems += [f"{store}: no theft alarm for {tag} ({run.trails[tag]})" for tag in sorted(missing)]
        for purchase in outcome.purchases:
            basket = (purchase.member, purchase.lane, purchase.tags)
            if run.charged[store].count(basket) != 1:
                problems.append(f"{store}: {basket} charged {run.charged[store].count(basket)} times")
    # Both known causes are fixed (docs/reliability.md): the killed worker's session is adopted within about a
    # second, so a visit's batches no longer wait in it, and an exit gate's passes move with the store.
    assert not problems, f"a killed worker cost a decision: {'; '.join(problems)} ({report.summary()})"

"""Processes killed under load: the broker, a gateway. Nothing the gateways' outboxes assigned may be lost,
and nothing may be stored twice (see tests/faults/checker.py for how that is judged)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import pytest

from gateway.service import Gateway
from silentcommerce.processes import ManagedProcess
from simulators.links import PtyPair
from tests.faults.checker import FaultReport, assigned_seqs, check, record
from tests.faults.harness import (
    delivered_through,
    fault_rng,
    feeding,
    gateway_config,
    gateway_process,
    grown,
    in_process_gateway,
    last_assigned,
    sized,
    wait_all_stored,
    wait_slowly,
)
from tests.fixtures.broker import STORE, RunningBroker, start_broker
from tests.ingest.running import running_ingest
from tests.ingest.test_service import STORE_FILE

pytestmark = pytest.mark.integration


def drained(outboxes: dict[str, Path], upto: dict[str, int]) -> bool:
    return all(delivered_through(outboxes[gw], seq) for gw, seq in upto.items())


def reconnected(gateways: list[Gateway], connects: int) -> bool:
    return all(g.link.stats.connects >= connects for g in gateways)


@pytest.fixture(scope="module")
def broker_kill_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultReport]:
    """Two gateways stream reads while the broker is SIGKILLed and restarted (same port, same persistence);
    after each restart both reconnect and their outboxes drain. The tests below judge the run."""
    kills = int(sized(3, 30))
    rng, seed = fault_rng()
    tmp_path = tmp_path_factory.mktemp("broker-kill")
    broker = start_broker(tmp_path / "broker")
    pairs = {gw: PtyPair.open() for gw in ("gw1", "gw2")}
    configs = {gw: gateway_config(broker, tmp_path / "gateways", gw, pair.path) for gw, pair in pairs.items()}
    outboxes = {gw: config.parent / f"{gw}-outbox.db" for gw, config in configs.items()}
    db_url = f"sqlite:///{tmp_path / 'ingest.db'}"
    try:
        # Requests for a lost batch are lost to the next kill too: ingest keeps asking, backing off to 10 s.
        with running_ingest(broker, tmp_path, STORE_FILE, "ingest-faults", db_url, gap_retry_s=2.0,
                            gap_retry_max_s=10.0) as ingest, ExitStack() as running:
            gateways = [running.enter_context(in_process_gateway(c)) for c in configs.values()]
            with ExitStack() as feeds:
                for n, pair in enumerate(pairs.values()):
                    feeds.enter_context(feeding(pair, first_serial=1 + n * 10**6, rate_hz=40))
                for k in range(kills):
                    marks = {gw: len(assigned_seqs(path)) + rng.randint(3, 30) for gw, path in outboxes.items()}
                    wait_slowly(partial(grown, outboxes, marks), 60, "more batches")
                    broker.restart(kill=True)
                    wait_slowly(partial(reconnected, gateways, k + 2), 60,
                                f"both gateways back after restart {k + 1}")
                    # What queued while the broker was away, and everything up to now, leaves the outboxes.
                    upto = {gw: last_assigned(path) for gw, path in outboxes.items()}
                    wait_slowly(partial(drained, outboxes, upto), 60,
                                f"the outboxes drained after restart {k + 1}")
            # The gateways stay up: a batch the broker lost is asked for again (resend) from their outboxes.
            upto = wait_all_stored(db_url, outboxes, 45)
            report = record(check("broker-kill", outboxes, db_url, STORE, faults=kills, upto=upto, seed=seed,
                                  **{k: v for k, v in ingest.stats.extra.items() if k.startswith("gaps_")}))
    finally:
        broker.broker.stop()
        for pair in pairs.values():
            pair.close()
    yield report


def test_broker_killed_repeatedly_outboxes_drain_and_nothing_is_stored_twice(broker_kill_run: FaultReport) -> None:
    report = broker_kill_run
    assert report.batches > report.faults * 6 and report.duplicated == 0, report.summary()


def test_broker_killed_repeatedly_loses_nothing(broker_kill_run: FaultReport) -> None:
    assert broker_kill_run.lost == 0, broker_kill_run.summary()


def test_gateway_killed_while_publishing_loses_nothing(broker: RunningBroker, tmp_path: Path) -> None:
    kills = int(sized(3, 30))
    rng, seed = fault_rng()
    pair = PtyPair.open()
    config = gateway_config(broker, tmp_path / "gateways", "gw1", pair.path)
    outbox = config.parent / "gw1-outbox.db"
    db_url = f"sqlite:///{tmp_path / 'ingest.db'}"
    gateway: ManagedProcess | None = None
    try:
        with running_ingest(broker, tmp_path, STORE_FILE, "ingest-faults", db_url):
            with feeding(pair, first_serial=1, rate_hz=60):
                gateway = gateway_process(config)
                for _ in range(kills):
                    mark = {"gw1": len(assigned_seqs(outbox)) + rng.randint(3, 40)}
                    wait_slowly(partial(grown, {"gw1": outbox}, mark), 60, "more batches from the gateway")
                    gateway.stop(kill=True)
                    gateway.start()
            gateway.stop()  # a clean stop: what the last gateway holds in memory goes into the outbox
            gateway.start()  # ... and out of it
            wait_all_stored(db_url, {"gw1": outbox}, 60, gateway.check)
            report = record(check("gateway-kill", {"gw1": outbox}, db_url, STORE, faults=kills, seed=seed))
    finally:
        if gateway is not None:
            gateway.stop()
        pair.close()
    assert report.batches > kills * 3 and report.lost == 0 and report.duplicated == 0, report.summary()

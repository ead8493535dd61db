"""``silentcommerce sim chain``: many stores with several gateways each, on one machine, accounted batch by batch.

The chain writes its stores' files (:mod:`simulators.chain`), broker credentials and the ACL for every
gateway, starts Mosquitto from the repository's configuration, VictoriaMetrics if installed, migrates the
database once (SQLite in the work folder, or the ``--db`` URL), and starts ingest: one ``silentcommerce
ingest --worker-id`` processes sharing every store (``--ingest-workers``, 2 by default), or one ``silentcommerce
ingest`` per store (``--ingest-workers 0``). Every (store, gateway) is a :class:`silentcommerce.simgateway.SimulatedGateway`:
the gateway's smoother, batcher, SQLite outbox, publisher and MQTT link, fed the raw reads of its store's
shoppers (:class:`simulators.chain.StoreTraffic`). One thread ticks every store and gateway; each gateway's
publisher and paho add a thread each, so 80 gateways fit on two cores.

Traffic starts once ingest has recorded every gateway online (their retained birth reached it, so it is
subscribed). At the end the gateways flush, the outboxes drain, and every ``seq`` each gateway handed out
is looked up in ``gateway_batches``: missing ones are lost, rows beyond them duplicates.
"""

from __future__ import annotations

import inspect
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from ingest.db.admin import seed_from_store_file
from ingest.db.engine import make_engine
from ingest.db.migrate import upgrade
from ingest.storefile import load_store_file
from silentcommerce.bench.rig import pid_cpu_seconds
from silentcommerce.broker import (
    Broker,
    BrokerError,
    Credentials,
    free_port,
    gateway_user,
    generate_credentials,
)
from silentcommerce.mqtt import MqttSettings
from silentcommerce.processes import (
    ManagedProcess,
    ProcessError,
    python_command,
    start_victoria_metrics,
    wait_dashboard,
)
from silentcommerce.simgateway import GatewayDelivery, SimulatedGateway
from simulators.chain import StoreTraffic, store_id, write_chain_stores
from simulators.errors import SimulatorError
from simulators.storeplan import load_store_plan

TICK_S = 0.1
"""The simulation's step: card readers and the lanes' and gate's antennas are read every tick."""
ONLINE_TIMEOUT_S = 300.0
ANNOUNCE_S = 5.0
DRAIN_TIMEOUT_S = 180.0
POLL_S = 2.0


class ChainError(RuntimeError):
    """The chain could not start or finish; the message says which part and where its log is."""


@dataclass(frozen=True)
class ChainOptions:
    stores: int = 20
    gateways: int = 4
    duration_s: float = 120.0
    workdir: Path = Path(".run/chain")
    db_url: str | None = None
    """None: SQLite in the work folder."""
    seed: int = 0
    ingest_workers: int = 2
    """K ingest workers sharing every store; 0: one ingest process per store."""
    dashboard_port: int | None = None
    tsdb: bool = True
    shoppers: int = 6
    """Shoppers per round of each store's scenario."""


@dataclass
class StoreFigures:
    store: str
    published: int = 0
    """Reads batches the store's gateways appended to their outboxes."""
    stored: int = 0
    """Rows of the store in ``gateway_batches`` (kind ``reads``)."""
    committed: int = 0
    """Distinct published ``seq`` values among them."""
    reads: int = 0
    transactions: int = 0
    alarms: int = 0

    @property
    def lost(self) -> int:
        return self.published - self.committed

    @property
    def duplicates(self) -> int:
        return self.stored - self.committed


@dataclass
class ChainReport:
    stores: list[StoreFigures]
    gateways: int
    seconds: float
    """Time the shoppers ran (the drain afterwards not included)."""
    ingest_mode: str
    database: str
    simulated_s: float = 0.0
    """Simulated seconds played: less than ``seconds`` when the machine could not keep up."""
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds (user + system) over the run: the simulation, ingest (all processes), the broker."""

    @property
    def total(self) -> StoreFigures:
        total = StoreFigures("total")
        for figures in self.stores:
            for name in ("published", "stored", "committed", "reads", "transactions", "alarms"):
                setattr(total, name, getattr(total, name) + getattr(figures, name))
        return total

    @property
    def reads_per_s(self) -> float:
        return self.total.reads / self.seconds if self.seconds > 0 else 0.0

    @property
    def failed(self) -> bool:
        total = self.total
        return total.lost > 0 or total.duplicates > 0


@dataclass(frozen=True)
class ChainProgress:
    elapsed_s: float
    published: int
    stored: int
    transactions: int
    alarms: int
    phase: str


def ingest_has_workers() -> bool:
    """Whether ``silentcommerce ingest`` takes ``--worker-id`` (several stores per process)."""
    from silentcommerce import cli

    return "worker_id" in inspect.signature(cli.ingest).parameters


def ingest_commands(store_files: list[Path], workers: int, common: list[str]) -> list[tuple[str, list[str]]]:
    """(name, arguments) of each ingest process: one per store (``workers`` 0) or ``workers`` workers
    each given every store file."""
    if workers == 0:
        return [(f"ingest-{path.stem}", ["ingest", "--store-file", str(path), *common]) for path in store_files]
    files = [arg for path in store_files for arg in ("--store-file", str(path))]
    return [(f"ingest-w{n}", ["ingest", "--worker-id", f"w{n}", *files, *common]) for n in range(1, workers + 1)]


@dataclass
class Chain:
    options: ChainOptions
    broker: Broker | None = None
    credentials: Credentials | None = None
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    gateways: dict[tuple[str, str], SimulatedGateway] = field(default_factory=dict)
    traffic: list[StoreTraffic] = field(default_factory=list)
    store_files: list[Path] = field(default_factory=list)
    tsdb_url: str | None = None
    dashboard_url: str | None = None
    _db: Engine | None = None

    @property
    def workdir(self) -> Path:
        return self.options.workdir.resolve()

    @property
    def db_url(self) -> str:
        return self.options.db_url or f"sqlite:///{self.workdir / 'chain.db'}"

    @property
    def workers(self) -> int:
        return self.options.ingest_workers

    @property
    def db(self) -> Engine:
        if self._db is None:
            raise ChainError("the chain's database is not open")
        return self._db

    # -- start ----------------------------------------------------------------------------------

    def start(self, say: Callable[[str], None]) -> None:
        opts = self.options
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        (self.workdir / "logs").mkdir(parents=True)
        say(f"writing the store files of {opts.stores} stores × {opts.gateways} gateways")
        self.store_files = write_chain_stores(self.workdir / "stores", opts.stores, opts.gateways)
        pairs = [(store_id(n), f"gw{g}") for n in range(1, opts.stores + 1) for g in range(1, opts.gateways + 1)]
        say(f"writing broker credentials and the ACL for {len(pairs)} gateways")
        self.credentials = generate_credentials(self.workdir / "broker", pairs)
        say("starting Mosquitto")
        self.broker = Broker(self.workdir / "broker", free_port())
        self.broker.start()
        if opts.tsdb:
            self._start_tsdb(say)
        say("migrating the database and putting the stores' files into it")
        self._db = make_engine(self.db_url)
        upgrade(self._db)
        for path in self.store_files:  # here, one after another: ingest processes seeding at once lock SQLite
            with self._db.begin() as conn:
                seed_from_store_file(conn, load_store_file(path))
        self._start_ingest(say)
        if opts.dashboard_port is not None:
            say("starting dashboard")
            self._start_dashboard(opts.dashboard_port)
        say(f"starting {len(pairs)} simulated gateways")
        for number, path in enumerate(self.store_files, start=1):
            self._start_store(path, opts.seed * 1000 + number)
        say("waiting for ingest to record every gateway online")
        self._wait_online()

    def _spawn(self, name: str, args: list[str]) -> ManagedProcess:
        process = ManagedProcess(name, python_command(*args), self.workdir / "logs" / f"{name}.log")
        process.start()
        self.processes[name] = process
        return process

    def _start_tsdb(self, say: Callable[[str], None]) -> None:
        say("starting VictoriaMetrics (time series)")
        started = start_victoria_metrics(self.workdir, free_port())
        if started is None:
            say("VictoriaMetrics is not installed: no time series")
            return
        self.processes["victoria-metrics"], self.tsdb_url = started

    def _start_ingest(self, say: Callable[[str], None]) -> None:
        assert self.broker is not None
        common = ["--db", self.db_url, "--mqtt-port", str(self.broker.port),
                  "--credentials", str(self.workdir / "broker" / "credentials.json")]
        if self.tsdb_url:
            common += ["--tsdb-url", self.tsdb_url]
        commands = ingest_commands(self.store_files, self.workers, common)
        say(f"starting ingest: {len(commands)} process{'es' if len(commands) > 1 else ''}")
        for name, args in commands:
            self._spawn(name, args)

    def _start_dashboard(self, port: int) -> None:
        assert self.broker is not None and self.credentials is not None
        process = self._spawn("dashboard", [
            "dashboard", "--db", self.db_url, "--port", str(port), "--mqtt-port", str(self.broker.port),
            "--credentials", str(self.workdir / "broker" / "credentials.json"),
        ])
        self.dashboard_url = wait_dashboard(port, process, self.credentials.dashboard_logins["operator"], 120)

    def _start_store(self, path: Path, seed: int) -> None:
        assert self.broker is not None and self.credentials is not None
        plan = load_store_plan(path)
        gateway_of = {zone.name: zone.gateway or "gw1" for zone in load_store_file(path).zones}
        store = plan.store_id
        self.traffic.append(StoreTraffic(plan, gateway_of, seed=seed, shoppers=self.options.shoppers))
        for number in range(1, self.options.gateways + 1):
            name = f"gw{number}"
            user = gateway_user(store, name)
            mqtt = MqttSettings(port=self.broker.port, username=user, password=self.credentials.password(user),
                                client_id=f"{store}-{name}")
            delivery = GatewayDelivery(store, name, self.workdir / "outbox" / f"{store}-{name}.db", mqtt)
            self.gateways[(store, name)] = SimulatedGateway(delivery)
            delivery.start()

    def _wait_online(self) -> None:
        """Until ingest has recorded every gateway online; the missing ones announce themselves again every
        ``ANNOUNCE_S`` (ingest workers on shared subscriptions are not sent the retained births)."""
        started = time.monotonic()
        announced = started
        while True:
            self.check()
            with self.db.connect() as conn:
                online = {(store, gw) for store, gw in conn.execute(
                    text("SELECT store, gateway FROM gateways WHERE state = 'online'"))}
            missing = [g for key, g in self.gateways.items() if key not in online]
            if not missing:
                return
            if time.monotonic() - started > ONLINE_TIMEOUT_S:
                raise ChainError(f"{len(missing)} of {len(self.gateways)} gateways not recorded online after "
                                 f"{ONLINE_TIMEOUT_S:.0f} s; see {self.workdir / 'logs'}")
            if time.monotonic() - announced >= ANNOUNCE_S:
                announced = time.monotonic()
                for gateway in missing:
                    gateway.delivery.announce()
            time.sleep(0.5)

    # -- running --------------------------------------------------------------------------------

    def check(self) -> None:
        for process in self.processes.values():
            try:
                process.check()
            except ProcessError as exc:
                raise ChainError(str(exc)) from None

    def run(self, progress: Callable[[ChainProgress], None]) -> ChainReport:
        """Play every store's shoppers for the duration, then drain and account.

        Simulated time goes in steps of ``TICK_S`` with the reads stamped at their step's time. A busy
        machine delays steps but never skips one: the reads go out late, as from a gateway that fell behind,
        and the run covers fewer simulated seconds (``ChainReport.simulated_s``)."""
        cpu0 = self._cpu()
        started, wall_start = time.monotonic(), datetime.now(UTC)
        for traffic in self.traffic:
            traffic.start(0.0)
        names = [f"gw{n}" for n in range(1, self.options.gateways + 1)]
        last_poll, step = 0.0, 0
        while (elapsed := time.monotonic() - started) < self.options.duration_s:
            while step * TICK_S <= elapsed:
                sim_s = step * TICK_S
                at = wall_start + timedelta(seconds=sim_s)
                for traffic in self.traffic:
                    traffic.advance(sim_s)
                    reads = traffic.reads(sim_s, at)
                    for name in names:
                        self.gateways[(traffic.store, name)].tick(reads.get(name, ()), at, started + sim_s)
                step += 1
                if time.monotonic() - started >= self.options.duration_s:
                    break
            if elapsed - last_poll >= POLL_S:
                last_poll = elapsed
                self.check()
                progress(self._progress(elapsed, "shoppers" if elapsed - step * TICK_S < 1.0 else
                                        f"shoppers, {elapsed - step * TICK_S:.0f} s behind"))
            time.sleep(max(0.0, started + step * TICK_S - time.monotonic()))
        seconds = time.monotonic() - started
        now = wall_start + timedelta(seconds=step * TICK_S)
        for gateway in self.gateways.values():
            gateway.flush(now)
        self._drain(progress, started)
        cpu1 = self._cpu()
        report = ChainReport(self._figures(), self.options.gateways, seconds,
                             "per store" if self.workers == 0 else f"{self.workers} workers",
                             self.db_url.split(":", 1)[0].split("+", 1)[0], simulated_s=step * TICK_S)
        report.cpu_s = {name: cpu1[name] - cpu0.get(name, 0.0) for name in cpu1}
        return report

    def _drain(self, progress: Callable[[ChainProgress], None], started: float) -> None:
        published = sum(g.delivery.appended for g in self.gateways.values())
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while time.monotonic() < deadline:
            self.check()
            stored = self._scalar("SELECT COUNT(*) FROM gateway_batches WHERE kind = 'reads'")
            progress(self._progress(time.monotonic() - started, "draining"))
            if stored >= published:
                return
            time.sleep(1.0)

    def _progress(self, elapsed: float, phase: str) -> ChainProgress:
        return ChainProgress(
            elapsed, sum(g.delivery.appended for g in self.gateways.values()),
            self._scalar("SELECT COUNT(*) FROM gateway_batches WHERE kind = 'reads'"),
            self._scalar("SELECT COUNT(*) FROM transactions"),
            self._scalar("SELECT COUNT(*) FROM alerts WHERE kind = 'theft'"), phase,
        )

    def _scalar(self, sql: str) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)

    def _figures(self) -> list[StoreFigures]:
        figures = {t.store: StoreFigures(t.store) for t in self.traffic}
        for (store, _), gateway in self.gateways.items():
            figures[store].published += gateway.delivery.appended
            figures[store].reads += gateway.reads
        with self.db.connect() as conn:
            for column, sql in (
                ("stored", "SELECT store, COUNT(*) FROM gateway_batches WHERE kind = 'reads' GROUP BY store"),
                ("transactions", "SELECT store, COUNT(*) FROM transactions GROUP BY store"),
                ("alarms", "SELECT store, COUNT(*) FROM alerts WHERE kind = 'theft' GROUP BY store"),
            ):
                for store, count in conn.execute(text(sql)):
                    if store in figures:
                        setattr(figures[store], column, int(count))
            for (store, name), gateway in self.gateways.items():
                figures[store].committed += int(conn.execute(text(
                    "SELECT COUNT(DISTINCT seq) FROM gateway_batches WHERE store = :store AND gateway = :gateway "
                    "AND kind = 'reads' AND seq BETWEEN 1 AND :last"),
                    {"store": store, "gateway": name, "last": gateway.delivery.appended}).scalar() or 0)
        return list(figures.values())

    def _cpu(self) -> dict[str, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        cpu = {"simulation": own.ru_utime + own.ru_stime, "ingest": 0.0, "broker": 0.0}
        for name, process in self.processes.items():
            if name.startswith("ingest") and process.process is not None and process.running:
                cpu["ingest"] += pid_cpu_seconds(process.process.pid)
        if self.broker is not None and self.broker.process is not None:
            cpu["broker"] = pid_cpu_seconds(self.broker.process.pid)
        return cpu

    # -- stop -----------------------------------------------------------------------------------

    def stop(self) -> None:
        for gateway in self.gateways.values():
            gateway.delivery.stop()
        self.gateways.clear()
        for process in self.processes.values():
            process.stop()
        self.processes.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self._db is not None:
            self._db.dispose()
            self._db = None


def run_chain(options: ChainOptions, say: Callable[[str], None],
              progress: Callable[[ChainProgress], None]) -> ChainReport:
    """Start the chain, run it for ``options.duration_s``, account, stop; raises :class:`ChainError`."""
    chain = Chain(options)
    try:
        try:
            chain.start(say)
        except (SimulatorError, BrokerError, ProcessError, OSError) as exc:
            raise ChainError(str(exc)) from None
        if chain.dashboard_url and chain.credentials is not None:
            say(f"the dashboard is at {chain.dashboard_url} (operator / {chain.credentials.dashboard_logins['operator']})")
        return chain.run(progress)
    finally:
        chain.stop()

"""A whole store on one machine: simulated devices, Mosquitto, VictoriaMetrics, ingest, gateway, dashboard.

Each service runs as its own process, started with the same ``silentcommerce`` commands a deployment uses,
with logs under ``{workdir}/logs``. The demo and the end-to-end tests both run a :class:`LocalStore`.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from contract.topics import gateway_filter, gateway_topic
from silentcommerce.broker import (
    Broker,
    BrokerError,
    Credentials,
    free_port,
    gateway_user,
    generate_credentials,
)
from silentcommerce.mqtt import MqttLink, MqttSettings
from silentcommerce.processes import (
    ManagedProcess,
    ProcessError,
    python_command,
    start_victoria_metrics,
    wait_dashboard,
)

if TYPE_CHECKING:
    from simulators.main import RunningStore
    from simulators.noise import NoiseProfile

INGEST_SESSION_EXPIRY_S = 7 * 24 * 3600


class LocalStoreError(RuntimeError):
    """The local store could not start; the message says which part and where its log is."""


@dataclass
class LocalStoreConfig:
    workdir: Path
    store_file: Path
    gateway: str = "gw1"
    dashboard_port: int | None = 8000
    """None: no dashboard. A busy port is replaced by a free one."""
    with_tsdb: bool = True
    seed: int = 0
    fresh: bool = True
    """Start from an empty database, broker state and outbox."""
    noise: NoiseProfile | None = None
    """A noise profile for the simulated readers (None: the plain devices)."""
    smoothing: dict[str, float] | None = None
    """The gateway's ``[smoothing]`` keys (None: the defaults of the written config)."""
    db_url: str | None = None
    """The database ingest and the dashboard share (None: ``store.db``, a SQLite file in the workdir). ``fresh``
    empties only that file: a database given here must not hold the store yet (see :meth:`LocalStore.start`)."""

    def __post_init__(self) -> None:
        self.workdir = self.workdir.resolve()  # written into configs that other processes read
        self.store_file = self.store_file.resolve()


Progress = Callable[[str], None]


def redacted(url: str) -> str:
    """``url`` with its password hidden, fit for a message or the demo's banner."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the given URL"


def _port_or_free(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


@dataclass
class LocalStore:
    config: LocalStoreConfig
    store_id: str = ""
    broker: Broker | None = None
    credentials: Credentials | None = None
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    dashboard_url: str | None = None
    tsdb_url: str | None = None
    sim: RunningStore | None = None

    @property
    def workdir(self) -> Path:
        return self.config.workdir

    @property
    def db_url(self) -> str:
        return self.config.db_url or f"sqlite:///{self.workdir / 'store.db'}"

    @property
    def broker_dir(self) -> Path:
        return self.workdir / "broker"

    def mqtt_settings(self, user: str, client_id: str, *, session_expiry_s: int = 0) -> MqttSettings:
        assert self.broker is not None and self.credentials is not None
        return MqttSettings(port=self.broker.port, username=user, password=self.credentials.password(user),
                            client_id=client_id, session_expiry_s=session_expiry_s)

    # -- start ----------------------------------------------------------------------------------

    def start(self, progress: Progress = lambda _: None) -> None:
        from simulators.main import start_store, write_gateway_config
        from simulators.storeplan import load_store_plan

        cfg = self.config
        plan = load_store_plan(cfg.store_file)
        self.store_id = plan.store_id
        if cfg.fresh and cfg.db_url is not None:
            self._require_new_database()
        if cfg.fresh and self.workdir.exists():
            shutil.rmtree(self.workdir)
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        try:
            progress("simulated readers, sensors and displays")
            self.sim = start_store(plan, seed=cfg.seed, noise=cfg.noise)

            progress("broker credentials and ACL")
            self.credentials = generate_credentials(self.broker_dir, [(self.store_id, cfg.gateway)])
            secret = self.workdir / "secrets" / f"{cfg.gateway}.password"
            secret.parent.mkdir(parents=True, exist_ok=True)
            secret.write_text(self.credentials.password(gateway_user(self.store_id, cfg.gateway)))
            os.chmod(secret, 0o600)

            progress("Mosquitto")
            self.broker = Broker(self.broker_dir, free_port())
            self.broker.start()
            self._prime_ingest_session()

            if cfg.with_tsdb:
                progress("VictoriaMetrics (time series)")
                self._start_tsdb()

            progress("ingest")
            self._start_ingest()

            progress("gateway")
            gw_config = write_gateway_config(
                self.sim,
                self.workdir / f"{cfg.gateway}.toml",
                mqtt={"host": "127.0.0.1", "port": self.broker.port,
                      "username": gateway_user(self.store_id, cfg.gateway), "password_file": str(secret)},
                store=self.store_id,
                gateway=cfg.gateway,
                smoothing=cfg.smoothing,
            )
            self._spawn("gateway", ["gateway", "--config", str(gw_config)])

            if cfg.dashboard_port is not None:
                progress("dashboard")
                self._start_dashboard(_port_or_free(cfg.dashboard_port))

            progress("waiting for the gateway to come online")
            self._wait_gateway_online(timeout=30)
        except (BrokerError, ProcessError) as exc:
            self.stop()
            raise LocalStoreError(str(exc)) from None
        except BaseException:
            self.stop()
            raise

    def _require_new_database(self) -> None:
        """Refuse a given database that already holds this store, rather than empty it: the fresh gateway numbers
        its batches from 1 again, so ingest would drop them as batches it has stored, and the items sold in the
        earlier run would stay sold. Nothing of the caller's is deleted on their behalf."""
        from sqlalchemy import inspect, select
        from sqlalchemy.exc import SQLAlchemyError

        from ingest.db.engine import make_engine
        from ingest.db.errors import DatabaseError
        from ingest.db.schema import stores

        shown = redacted(self.db_url)
        try:
            engine = make_engine(self.db_url)
        except DatabaseError as exc:
            raise LocalStoreError(str(exc)) from None
        try:
            with engine.connect() as conn:
                held = inspect(conn).has_table(stores.name) and conn.execute(
                    select(stores.c.id).where(stores.c.id == self.store_id)).first() is not None
        except SQLAlchemyError as exc:
            raise LocalStoreError(f"cannot open the database {shown}: {str(exc).splitlines()[0]}") from None
        finally:
            engine.dispose()
        if held:
            raise LocalStoreError(f"the database {shown} already holds store {self.store_id!r} from an earlier run; "
                                  "a fresh store needs a database without it (drop and create it, or give another)")

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> ManagedProcess:
        process = ManagedProcess(name, python_command(*args), self.workdir / "logs" / f"{name}.log", env=env or {})
        process.start()
        self.processes[name] = process
        return process

    def _prime_ingest_session(self) -> None:
        """Create ingest's persistent session before any gateway speaks, so nothing published before ingest
        is up is lost: the broker queues it for the session until ingest connects with the same client id."""
        from ingest.service import subscriptions

        # The client id `silentcommerce ingest` takes by default: a session under any other id is never resumed.
        client_id = f"ingest-{self.store_id}"
        link = MqttLink(self.mqtt_settings("ingest", client_id, session_expiry_s=INGEST_SESSION_EXPIRY_S),
                        subscriptions=subscriptions(self.store_id))
        link.start()
        try:
            if not link.wait_connected(10):
                raise LocalStoreError(f"cannot connect to the broker as ingest; see {self.broker_dir / 'mosquitto.log'}")
            time.sleep(0.3)  # SUBACKs
        finally:
            link.stop()

    def _start_tsdb(self) -> None:
        started = start_victoria_metrics(self.workdir, free_port())
        if started is None:
            raise LocalStoreError("victoria-metrics not found: install the Debian package 'victoria-metrics'")
        self.processes["victoria-metrics"], self.tsdb_url = started

    def _start_ingest(self) -> None:
        assert self.broker is not None
        args = ["ingest", "--store-file", str(self.config.store_file), "--db", self.db_url,
                "--mqtt-port", str(self.broker.port), "--credentials", str(self.broker_dir / "credentials.json")]
        if self.tsdb_url:
            args += ["--tsdb-url", self.tsdb_url]
        self._spawn("ingest", args)

    def _start_dashboard(self, port: int) -> None:
        assert self.broker is not None and self.credentials is not None
        process = self._spawn("dashboard", [
            "dashboard", "--db", self.db_url, "--port", str(port), "--mqtt-port", str(self.broker.port),
            "--credentials", str(self.broker_dir / "credentials.json"), "--store", self.store_id,
        ])
        self.dashboard_url = wait_dashboard(port, process, self.credentials.dashboard_logins["operator"])

    def _wait_gateway_online(self, timeout: float) -> None:
        online: list[bytes] = []
        link = MqttLink(self.mqtt_settings("dashboard", f"localstore-{os.getpid()}"),
                        subscriptions=[(gateway_filter("status", self.store_id, self.config.gateway), 1)],
                        on_message=lambda m: online.append(m.payload))
        link.start()
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                self.check()
                if any(b'"online"' in payload for payload in online):
                    return
                time.sleep(0.1)
        finally:
            link.stop()
        topic = gateway_topic(self.store_id, self.config.gateway, "status")
        raise LocalStoreError(f"the gateway did not report online on {topic} within {timeout:.0f} s; "
                              f"see {self.workdir / 'logs' / 'gateway.log'}")

    # -- running --------------------------------------------------------------------------------

    def check(self) -> None:
        """Raise :class:`LocalStoreError` if any service has died."""
        for process in self.processes.values():
            try:
                process.check()
            except ProcessError as exc:
                raise LocalStoreError(str(exc)) from None

    def stop(self) -> None:
        for name in ("gateway", "dashboard", "ingest", "victoria-metrics"):
            process = self.processes.get(name)
            if process is not None:
                process.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.sim is not None:
            self.sim.stop()
            self.sim = None

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

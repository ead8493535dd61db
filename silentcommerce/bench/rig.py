"""The servers one bench run measures against, each started for real in a temporary folder on free ports.

Mosquitto runs from the repository's ``mosquitto.conf`` (:class:`silentcommerce.broker.Broker`) with fresh
credentials for the bench's gateways; VictoriaMetrics runs when it is installed (``tsdb: off`` otherwise);
each measurement that needs ingest starts its own ``silentcommerce ingest`` process on its own SQLite file.
Everything is stopped and the folder removed by :meth:`BenchRig.stop`.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from silentcommerce.bench.workload import STORE, STORE_FILE
from silentcommerce.broker import Broker, Credentials, free_port, gateway_user, generate_credentials
from silentcommerce.mqtt import MqttSettings
from silentcommerce.postgres import PostgresCluster, start_cluster
from silentcommerce.processes import ManagedProcess, python_command, victoria_metrics, wait_http

Progress = Callable[[str], None]
GATEWAYS = ("gw1", "gw2", "gw3", "gw4")


class BenchError(RuntimeError):
    """The bench could not set up or finish a measurement; the message says which and where to look."""


@dataclass
class BenchRig:
    workdir: Path
    keep: bool = False
    """Leave the folder (logs, databases) in place after the run."""
    broker: Broker | None = None
    credentials: Credentials | None = None
    tsdb_url: str | None = None
    processes: list[ManagedProcess] = field(default_factory=list)
    extra_gateways: list[tuple[str, str]] = field(default_factory=list)
    """(store, gateway) pairs beyond the bench store's that get broker credentials (the scaling stores)."""
    postgres: PostgresCluster | None = None

    @classmethod
    def in_temp_dir(cls, *, keep: bool = False) -> BenchRig:
        return cls(Path(tempfile.mkdtemp(prefix="sc-bench-")), keep=keep)

    def start(self, progress: Progress) -> None:
        progress("Mosquitto from mosquitto.conf")
        self.credentials = generate_credentials(self.workdir / "broker",
                                                [*((STORE, gw) for gw in GATEWAYS), *self.extra_gateways])
        self.broker = Broker(self.workdir / "broker", free_port())
        self.broker.start()
        port = free_port()
        vm = victoria_metrics(self.workdir, port)
        if vm is not None:
            progress("VictoriaMetrics")
            vm.start()
            self.processes.append(vm)
            wait_http(f"http://127.0.0.1:{port}/health", 30, vm)
            self.tsdb_url = f"http://127.0.0.1:{port}"

    def fresh_broker(self) -> None:
        """Restart the broker with no stored sessions, so that no message one measurement left queued for
        ingest's persistent session (every ``silentcommerce ingest`` connects as the same client) reaches the
        ingest of the next one and muddles its accounting."""
        if self.broker is None:
            raise BenchError("the bench's broker is not running")
        self.broker.stop()
        (self.broker.workdir / "mosquitto.db").unlink(missing_ok=True)
        self.broker.start()

    def postgresql(self, progress: Progress) -> PostgresCluster:
        """The bench's own PostgreSQL cluster, started on first use (:class:`PostgresUnavailable` without it)."""
        if self.postgres is None:
            progress("PostgreSQL (a throwaway cluster)")
            self.postgres = start_cluster()
        return self.postgres

    def stop(self) -> None:
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- what the measurements use ------------------------------------------------------------------

    def mqtt(self, user: str, client_id: str) -> MqttSettings:
        if self.broker is None or self.credentials is None:
            raise BenchError("the bench's broker is not running")
        return MqttSettings(port=self.broker.port, username=user, password=self.credentials.password(user),
                            client_id=client_id)

    def gateway_mqtt(self, gateway: str, store: str = STORE) -> MqttSettings:
        return self.mqtt(gateway_user(store, gateway), f"{store}-{gateway}")

    def gateway_password_file(self, gateway: str) -> Path:
        path = self.workdir / "secrets" / f"{gateway}.password"
        path.parent.mkdir(parents=True, exist_ok=True)
        assert self.credentials is not None
        path.write_text(self.credentials.password(gateway_user(STORE, gateway)))
        path.chmod(0o600)
        return path

    def database(self, name: str) -> Path:
        return self.workdir / f"{name}.db"

    def spawn(self, name: str, *args: str) -> ManagedProcess:
        """Start one ``silentcommerce`` command as a child process (log in ``logs/{name}.log``)."""
        process = ManagedProcess(name, python_command(*args), self.workdir / "logs" / f"{name}.log")
        process.start()
        self.processes.append(process)
        return process

    def start_ingest(self, name: str, database: Path) -> ManagedProcess:
        """The real ``silentcommerce ingest`` on the bench store, ``database`` and (if running) the TSDB."""
        assert self.broker is not None
        args = ["ingest", "--store-file", str(STORE_FILE), "--db", f"sqlite:///{database}",
                "--mqtt-port", str(self.broker.port),
                "--credentials", str(self.workdir / "broker" / "credentials.json")]
        if self.tsdb_url:
            args += ["--tsdb-url", self.tsdb_url]
        return self.spawn(name, *args)

    def release(self, process: ManagedProcess) -> None:
        process.stop()
        if process in self.processes:
            self.processes.remove(process)


def wait_until(probe: Callable[[], bool], timeout: float, what: str, *, watch: Iterable[ManagedProcess] = (),
               interval: float = 0.05) -> None:
    """Poll ``probe`` until it holds; fail with ``what`` after ``timeout`` or when a watched process died."""
    deadline = time.monotonic() + timeout
    while not probe():
        for process in watch:
            process.check()
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _proc(process: ManagedProcess, name: str) -> str:
    if process.process is None:
        raise BenchError(f"{process.name} is not running")
    try:
        return Path(f"/proc/{process.process.pid}/{name}").read_text()
    except OSError as exc:
        raise BenchError(f"cannot read /proc/…/{name} of {process.name}: {exc}") from None


def cpu_seconds(process: ManagedProcess) -> float:
    """User plus system CPU time the process has used so far (``/proc/{pid}/stat``)."""
    return _cpu_from_stat(_proc(process, "stat"))


def pid_cpu_seconds(pid: int) -> float:
    """:func:`cpu_seconds` of any process by its id (0.0 once it is gone)."""
    try:
        return _cpu_from_stat(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return 0.0


def _cpu_from_stat(stat: str) -> float:
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(groups: Mapping[str, Iterable[int]]) -> dict[str, float]:
    """CPU seconds used so far by each named group of process trees: every live process under each root
    pid, its own time plus that of the children it has reaped (PostgreSQL's ended backends, for one).

    One pass over ``/proc``; a process's threads are in its own figures."""
    parent: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        used[pid] = sum(int(f) for f in fields[11:15]) / tick
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    totals = {}
    for name, roots in groups.items():
        seen: set[int] = set()
        stack = [pid for pid in roots if pid in used]
        while stack:
            pid = stack.pop()
            if pid not in seen:
                seen.add(pid)
                stack += children.get(pid, [])
        totals[name] = sum(used[pid] for pid in seen)
    return totals


def peak_rss_kb(process: ManagedProcess) -> int:
    """The process's peak resident set (``VmHWM`` in ``/proc/{pid}/status``), in KiB."""
    status = _proc(process, "status")
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise BenchError(f"no VmHWM for {process.name} (is /proc mounted?)")


class StoreDatabase:
    """Read-only counts from an ingest's SQLite file, taken while ingest writes it (WAL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection | None:
        if self._db is None and self.path.exists():
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        return self._db

    def scalar(self, sql: str, *params: object) -> int:
        db = self._conn()
        if db is None:
            return 0
        try:
            (value,) = db.execute(sql, params).fetchone()
        except sqlite3.OperationalError:  # the schema is not there yet
            return 0
        return int(value or 0)

    def online(self, gateways: Iterable[str]) -> bool:
        wanted = list(gateways)
        marks = ",".join("?" * len(wanted))
        return self.scalar(f"SELECT COUNT(*) FROM gateways WHERE store = ? AND state = 'online' "
                           f"AND gateway IN ({marks})", STORE, *wanted) == len(wanted)

    def batches(self, gateway: str | None = None) -> int:
        if gateway is None:
            return self.scalar("SELECT COUNT(*) FROM gateway_batches WHERE store = ? AND kind = 'reads'", STORE)
        return self.scalar("SELECT COUNT(*) FROM gateway_batches WHERE store = ? AND gateway = ? "
                           "AND kind = 'reads'", STORE, gateway)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

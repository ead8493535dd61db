"""A throwaway PostgreSQL cluster: ``initdb`` in a temporary folder, ``postgres`` on a free port, dropped after.

The tests (tests/fixtures/postgres.py) and ``silentcommerce bench`` start theirs here. The binaries are the
installed Debian ones (``/usr/lib/postgresql/*/bin``, kept out of PATH); the server runs as the ``postgres``
system user when we are root (initdb refuses root), trusts 127.0.0.1, and neither fsyncs nor waits for its
WAL: what it measures and tests is the system's work, not the disk's.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from ingest.db.engine import make_engine
from silentcommerce.broker import free_port, wait_for_port


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries (or no psycopg driver) on this machine; the message says what to install."""


@dataclass
class PostgresCluster:
    """A running cluster that hands out fresh databases (``create_database``) and drops them again."""

    port: int
    server: subprocess.Popen[bytes]
    workdir: Path
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, template: str | None = None) -> str:
        """A new, empty database, or a copy of the database at URL ``template``; returns its URL."""
        name = f"sc_{next(self._numbers)}"
        copy_of = f' TEMPLATE "{_name(template)}"' if template else ""
        self._admin(f'CREATE DATABASE "{name}"{copy_of}')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database at ``url``, ending any connection left open to it."""
        self._admin(f'DROP DATABASE IF EXISTS "{_name(url)}" WITH (FORCE)')

    def stop(self) -> None:
        """A fast shutdown (SIGINT to the postmaster: sessions are ended, not waited for), then the files go."""
        pid_file = self.workdir / "data" / "postmaster.pid"
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
        except (OSError, ValueError, IndexError):
            self.server.terminate()
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _admin(self, statement: str) -> None:
        engine = make_engine(self.url())
        try:
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(statement))
        finally:
            engine.dispose()


def _name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def installed_bindir() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian's folder, else ``initdb`` on PATH), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def require_driver() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PostgresUnavailable("the psycopg driver is not installed (the 'postgres' extra; "
                                  "'make venv' installs it)") from None


def start_cluster(bindir: Path | None = None) -> PostgresCluster:
    """Start a cluster from ``bindir`` (default :func:`installed_bindir`); :class:`PostgresUnavailable`
    without binaries or driver."""
    require_driver()
    bindir = bindir or installed_bindir()
    if bindir is None:
        raise PostgresUnavailable("PostgreSQL is not installed: no initdb (Debian package 'postgresql')")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    workdir = Path(tempfile.mkdtemp(prefix="sc-pg-"))
    if as_user:
        shutil.chown(workdir, "postgres")
    data, port = workdir / "data", free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    server = subprocess.Popen(
        [*as_user, str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(workdir),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
         "-c", "full_page_writes=off", "-c", "max_connections=300"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    cluster = PostgresCluster(port, server, workdir)
    try:
        wait_for_port("127.0.0.1", port, 30, server)
        _wait_ready(bindir, port, server)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_ready(bindir: Path, port: int, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """The port opens before the server accepts sessions ("the database system is starting up")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"postgres exited with {server.returncode} while starting")
        ready = subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"], check=False)
        if ready.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"postgres on port {port} did not accept sessions within {timeout:.0f} s")

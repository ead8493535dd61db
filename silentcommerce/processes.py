"""Child processes of a local store (demo and end-to-end tests): start, watch, stop, with logs on disk."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class ProcessError(RuntimeError):
    """A child process did not start or died; the message names it and its log."""


@dataclass
class ManagedProcess:
    name: str
    args: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            self.args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.cwd, start_new_session=True
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise ProcessError(f"{self.name} exited with {self.process.returncode}; last lines of {self.log_path}:\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def python_command(*args: str) -> list[str]:
    """The ``silentcommerce`` command of this very interpreter (works in a venv without activation)."""
    return [sys.executable, "-c", "from silentcommerce.cli import main; main()", *args]


def wait_http(url: str, timeout: float, process: ManagedProcess | None = None, *, auth_header: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if process is not None:
            process.check()
        request = urllib.request.Request(url)
        if auth_header:
            request.add_header("Authorization", auth_header)
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            last = str(exc)
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(0.1)
    raise ProcessError(f"{url} did not answer within {timeout:.0f} s ({last})")


def victoria_metrics(workdir: Path, port: int) -> ManagedProcess | None:
    """A VictoriaMetrics process (InfluxDB v2 write API at /api/v2/write), or None if not installed."""
    exe = shutil.which("victoria-metrics")
    if exe is None:
        return None
    return ManagedProcess(
        "victoria-metrics",
        [exe, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={workdir / 'tsdb'}", "-retentionPeriod=7d",
         "-loggerLevel=WARN"],
        workdir / "logs" / "victoria-metrics.log",
    )


def start_victoria_metrics(workdir: Path, port: int) -> tuple[ManagedProcess, str] | None:
    """Start VictoriaMetrics and wait until it is healthy: the process and its URL, or None if not installed."""
    vm = victoria_metrics(workdir, port)
    if vm is None:
        return None
    vm.start()
    wait_http(f"http://127.0.0.1:{port}/health", 30, vm)
    return vm, f"http://127.0.0.1:{port}"


def wait_dashboard(port: int, process: ManagedProcess, operator_password: str, timeout: float = 60) -> str:
    """Wait until the dashboard on ``port`` answers its health check as the operator; return its URL."""
    login = base64.b64encode(f"operator:{operator_password}".encode()).decode()
    wait_http(f"http://127.0.0.1:{port}/api/health", timeout, process, auth_header="Basic " + login)
    return f"http://127.0.0.1:{port}/"

"""``silentcommerce bench --quick`` end to end: it runs against real servers, writes its JSON, and every batch
the simulated gateways published is in ingest's database once, with one ingest and with two workers on
PostgreSQL. No figure is judged here: speed is the bench's business, not a test's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from silentcommerce.processes import python_command
from tests.fixtures.postgres import postgres_bindir
from tests.fixtures.servers import require_executable

pytestmark = pytest.mark.integration


def test_the_quick_bench_runs_and_accounts_for_every_batch(tmp_path: Path) -> None:
    require_executable("mosquitto", "/usr/sbin/mosquitto", package="mosquitto")
    out = tmp_path / "bench.json"
    done = subprocess.run(python_command("bench", "--quick", "--out", str(out)), capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())

    sections = {figure["section"] for figure in report["figures"]}
    assert {"codecs", "raw", "pipeline", "latency", "memory"} <= sections
    for run in (report["details"]["pipeline"], report["details"]["memory"]["run"]):
        assert run["published_batches"] > 0
        assert (run["lost"], run["duplicated"]) == (0, 0)
        assert run["stored_batches"] == run["published_batches"]


def test_the_quick_scaling_section_runs_two_workers_on_postgresql_and_accounts_for_every_batch(tmp_path: Path) -> None:
    require_executable("mosquitto", "/usr/sbin/mosquitto", package="mosquitto")
    postgres_bindir()
    out = tmp_path / "bench.json"
    done = subprocess.run(python_command("bench", "--quick", "--only", "scaling", "--out", str(out)),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(out.read_text())["details"]["scaling"]

    assert [run["workers"] for run in runs] == [1, 2]
    for run in runs:
        assert run["published_batches"] > 0
        assert (run["lost"], run["duplicated"]) == (0, 0)
        assert run["stored_batches"] == run["published_batches"]
        assert run["cpu_s"]["ingest"] > 0 and run["cpu_s"]["gateways"] > 0  # the others may not reach a 10 ms tick in 1 s
    assert runs[0]["leases"] == {"w1": 2} and runs[0]["handed_over"] == 0
    assert runs[1]["leases"] == {"w1": 1, "w2": 1}
    assert runs[1]["handed_over"] > 0  # the shared subscription gives a store's messages to either worker

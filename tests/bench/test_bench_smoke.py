"""``silentcommerce bench --quick`` end to end: it runs against real servers, writes its JSON, and every batch
the simulated gateways published is in ingest's database once. No figure is judged here: speed is the
bench's business, not a test's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from silentcommerce.processes import python_command
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

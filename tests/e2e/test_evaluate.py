"""`silentcommerce sim evaluate` in CI size: a few dozen seeded exits through the real pipeline (PTY devices
with the default noise profile → gateway process → Mosquitto → ingest process → SQLite), scored against the
script's ground truth. The full run (1,000 exits) and its table are in docs/decision-quality.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from silentcommerce.evaluate import EvaluateOptions, Targets, report_table, run_evaluation
from simulators.main import app
from simulators.noise import load_noise_profile
from tests.fixtures.servers import require_executable

pytestmark = pytest.mark.integration
EXITS = 40


def test_a_small_evaluation_meets_the_targets_it_can_check(tmp_path: Path) -> None:
    require_executable("mosquitto", "/usr/sbin/mosquitto", package="mosquitto")
    options = EvaluateOptions(workdir=tmp_path / "run", profile=load_noise_profile("default"), seed=7, exits=EXITS)
    report, evaluation = run_evaluation(options)
    targets = Targets()

    assert report.exits == EXITS and report.thefts >= 1 and report.expected_lines >= 20
    # Every item that really left unpaid sounded the alarm, decided at the gateway, fast.
    assert report.alarm_recall == 1.0, report.missed_thefts
    assert report.edge_alarms >= report.thefts
    assert report.edge_latency_p99_ms is not None and report.edge_latency_p99_ms < targets.edge_latency_p99_ms
    # No honest passage (paying shopper, staff, delivery, a member walking out again, static stock) alarmed.
    assert report.false_alarms == 0, report.false_alarm_tags
    # Each member was charged for exactly the items they carried out, once (a small K: no slack needed).
    assert report.precision >= targets.precision, report.wrong_lines
    assert report.recall >= targets.recall, report.missed_lines
    assert report.transaction_latency_p99_ms is not None
    assert report.duration_s < 90
    assert {p.kind for p in evaluation.passages} >= {"shopper", "thief"}
    assert report_table(report).row_count >= 8


def test_the_command_refuses_an_unknown_profile(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", "--profile", str(tmp_path / "nope.toml"), "--exits", "1",
                                      "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and "cannot read the noise profile" in result.output
    assert not (tmp_path / "report.json").exists()

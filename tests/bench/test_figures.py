"""The bench's arithmetic: nearest-rank percentiles and the pass/miss verdicts written to the JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from silentcommerce.bench.latency import Percentiles
from silentcommerce.bench.report import Report, Target
from silentcommerce.cli import app


def test_percentiles_are_nearest_rank_samples() -> None:
    stats = Percentiles(samples_ms=[float(ms) for ms in range(100, 0, -1)])  # 1 … 100, unordered
    assert (stats.at(50), stats.at(99), stats.at(99.9), stats.at(100)) == (50.0, 99.0, 100.0, 100.0)
    assert Percentiles(samples_ms=[7.0]).at(99.9) == 7.0
    assert Percentiles().at(50) is None


def test_each_figure_is_judged_against_its_target_and_a_missing_value_misses() -> None:
    report = Report()
    report.add("pipeline", "ingest", 49_999, "reads/s", target=Target(">=", 50_000))
    report.add("latency", "edge p99", 12.5, "ms", target=Target("<", 50))
    report.add("pipeline", "lost", 0, target=Target("==", 0))
    report.add("latency", "central p99", None, "ms", target=Target("<", 250))
    report.add("raw", "reads", 70_000, "reads/s")

    figures = json.loads(report.to_json())["figures"]
    assert [f["passed"] for f in figures] == [False, True, True, False, None]
    assert [f.name for f in report.missed] == ["ingest", "central p99"]
    assert figures[0]["target"] == {"op": ">=", "value": 50_000}


def test_workers_without_the_scaling_section_is_refused_before_anything_starts() -> None:
    result = CliRunner().invoke(app, ["bench", "--only", "raw", "--workers", "2"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "add 'scaling' to --only" in result.output

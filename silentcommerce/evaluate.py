"""``silentcommerce sim evaluate``: decisions measured, not assumed.

Runs K seeded passages through the exit gate (:mod:`simulators.evaluation`: honest shoppers paying at lanes,
some putting an item back, shoplifters, staff, deliveries carried in, members walking out again with what
they paid for, and a noise profile's static tags by the door) through the real pipeline — simulated devices
on PTYs with the profile's noise, the gateway process, Mosquitto, the ingest process and its SQLite
database, as :class:`silentcommerce.localstore.LocalStore` runs them, with no dashboard — and compares what
ingest decided and what the gateway did with the ground truth of the script.

:func:`score` is pure (the script, the rows read back, the moments they were first seen) and gives a
:class:`Report`: basket item precision and recall (per charged line: the right member, once), alarm recall
(stolen tags with a theft alarm), false alarms per 1,000 honest passages, the edge's alarm latency (from
each ``GateAlarm``'s ``latency_ms``) and the transaction latency (from the member's step into the gate to
the sale being visible in the database; a basket that settled before the member reached the gate counts 0).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ingest.db import repo
from ingest.db.engine import make_engine
from silentcommerce.localstore import LocalStore, LocalStoreConfig
from simulators.evaluation import Evaluation, Passage, Timing, evaluation_scenario
from simulators.noise import NoiseProfile, load_noise_profile
from simulators.scenario import TimedStep
from simulators.storeplan import StorePlan, load_store_plan

EVAL_STORE = Path(__file__).resolve().parents[1] / "simulators" / "scenarios" / "eval-store.toml"
EVAL_SMOOTHING: dict[str, float] = {"report_interval_s": 0.5, "leave_after_s": 1.0}
"""The gateway's smoothing in the evaluation: reports every 0.5 s, a tag leaves after 1 s of silence."""

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Targets:
    precision: float = 0.999
    recall: float = 0.995
    alarm_recall: float = 1.0
    false_alarms_per_1000: float = 1.0
    edge_latency_p99_ms: float = 500.0


@dataclass(frozen=True, slots=True)
class ChargedLine:
    transaction: str
    member: str
    tag: str


@dataclass(frozen=True, slots=True)
class AlarmRow:
    tag: str
    source: str | None
    latency_ms: float | None
    at: datetime


@dataclass
class Report:
    profile: str
    seed: int
    exits: int
    honest_exits: int
    passages: dict[str, int]
    expected_lines: int
    charged_lines: int
    correct_lines: int
    precision: float
    recall: float
    thefts: int
    alarmed_thefts: int
    alarm_recall: float
    edge_alarms: int
    false_alarms: int
    false_alarms_per_1000: float
    false_alarm_tags: dict[str, str]
    edge_latency_p50_ms: float | None
    edge_latency_p99_ms: float | None
    transaction_latency_p50_ms: float | None
    transaction_latency_p99_ms: float | None
    settled_before_exit: int
    false_alarms_by_source: dict[str, int] = field(default_factory=dict)
    alerts_by_kind: dict[str, int] = field(default_factory=dict)
    """Every alert of the run by kind (theft, clone, unknown_tag_at_exit, ...), for the record."""
    missed_lines: list[str] = field(default_factory=list)
    wrong_lines: list[str] = field(default_factory=list)
    missed_thefts: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    scenario_s: float = 0.0
    runner_lag_max_s: float = 0.0

    def misses(self, targets: Targets = Targets()) -> list[str]:
        """The targets this report misses, each as a sentence (empty: all met)."""
        out: list[str] = []
        if self.precision < targets.precision:
            out.append(f"basket item precision {self.precision:.4%} < {targets.precision:.1%}")
        if self.recall < targets.recall:
            out.append(f"basket item recall {self.recall:.4%} < {targets.recall:.1%}")
        if self.alarm_recall < targets.alarm_recall:
            out.append(f"alarm recall {self.alarm_recall:.2%} < {targets.alarm_recall:.0%}")
        if self.false_alarms_per_1000 > targets.false_alarms_per_1000:
            out.append(
                f"{self.false_alarms_per_1000:.2f} false alarms per 1,000 honest exits > "
                f"{targets.false_alarms_per_1000:g}"
            )
        if self.edge_alarms and (self.edge_latency_p99_ms or 0.0) >= targets.edge_latency_p99_ms:
            out.append(f"edge alarm latency p99 {self.edge_latency_p99_ms:.0f} ms >= {targets.edge_latency_p99_ms:.0f} ms")
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q`` quantile (0..1, nearest rank) of ``values``, or None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def score(
    evaluation: Evaluation,
    lines: Iterable[ChargedLine],
    alarms: Iterable[AlarmRow],
    *,
    committed_wall: Mapping[str, float] | None = None,
    walk_wall: Callable[[Passage], float] | None = None,
    profile: str = "",
    seed: int = 0,
) -> Report:
    """Compare what the store decided with the script's ground truth (see the module docstring)."""
    passages = evaluation.passages
    expected = {tag: p.member for p in passages for tag in p.charged}
    charged = list(lines)
    seen: set[str] = set()
    correct = 0
    wrong: list[str] = []
    transaction_of: dict[str, str] = {}
    for line in charged:
        if line.tag not in seen and expected.get(line.tag) == line.member:
            correct += 1
            transaction_of[line.tag] = line.transaction
        else:
            wrong.append(f"{line.tag} charged to {line.member} in {line.transaction}")
        seen.add(line.tag)
    missed = sorted(tag for tag in expected if tag not in transaction_of)

    stolen = evaluation.stolen
    alarm_rows = list(alarms)
    alarmed = {a.tag for a in alarm_rows}
    owner = {tag: p.kind for p in passages for tag in p.carried}
    false_tags = {a.tag: owner.get(a.tag, "static") for a in alarm_rows if a.tag not in stolen}
    by_source: dict[str, int] = {}
    for tag in false_tags:
        for source in sorted({a.source or "ingest" for a in alarm_rows if a.tag == tag}):
            by_source[source] = by_source.get(source, 0) + 1
    honest = evaluation.honest_exits
    edge = [a for a in alarm_rows if a.source == "edge" and a.latency_ms is not None]
    edge_latency = [float(a.latency_ms) for a in edge if a.latency_ms is not None]

    latencies: list[float] = []
    early = 0
    if committed_wall is not None and walk_wall is not None:
        for passage in passages:
            ids = {transaction_of[tag] for tag in passage.charged if tag in transaction_of}
            if not ids or any(i not in committed_wall for i in ids):
                continue
            delay = max(committed_wall[i] for i in ids) - walk_wall(passage)
            if delay <= 0:
                early += 1
            latencies.append(max(0.0, delay) * 1000.0)

    kinds: dict[str, int] = {}
    for passage in passages:
        kinds[passage.kind] = kinds.get(passage.kind, 0) + 1
    return Report(
        profile=profile,
        seed=seed,
        exits=len(passages),
        honest_exits=honest,
        passages=kinds,
        expected_lines=len(expected),
        charged_lines=len(charged),
        correct_lines=correct,
        precision=correct / len(charged) if charged else 1.0,
        recall=correct / len(expected) if expected else 1.0,
        thefts=len(stolen),
        alarmed_thefts=len(stolen & alarmed),
        alarm_recall=len(stolen & alarmed) / len(stolen) if stolen else 1.0,
        edge_alarms=len(edge),
        false_alarms=len(false_tags),
        false_alarms_per_1000=1000.0 * len(false_tags) / honest if honest else 0.0,
        false_alarm_tags=false_tags,
        false_alarms_by_source=by_source,
        edge_latency_p50_ms=percentile(edge_latency, 0.5),
        edge_latency_p99_ms=percentile(edge_latency, 0.99),
        transaction_latency_p50_ms=percentile(latencies, 0.5),
        transaction_latency_p99_ms=percentile(latencies, 0.99),
        settled_before_exit=early,
        missed_lines=missed,
        wrong_lines=wrong,
        missed_thefts=sorted(stolen - alarmed),
    )


@dataclass
class EvaluateOptions:
    workdir: Path
    profile: NoiseProfile
    seed: int = 0
    exits: int = 1000
    store_file: Path = EVAL_STORE
    smoothing: dict[str, float] = field(default_factory=lambda: dict(EVAL_SMOOTHING))
    timing: Timing = field(default_factory=Timing)
    drain_s: float = 6.0
    """After the last step: how long without a new sale or alert before the run is read back."""


class _Watcher(threading.Thread):
    """Polls the database and notes when each sale first became visible (wall clock)."""

    def __init__(self, db_url: str, store: str, interval: float = 0.2) -> None:
        super().__init__(name="evaluate-watcher", daemon=True)
        self.engine = make_engine(db_url)
        self.store = store
        self.interval = interval
        self.first_seen: dict[str, float] = {}
        self.last_change = time.time()
        self.alerts = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.poll()
            self.stop_event.wait(self.interval)

    def poll(self) -> None:
        try:
            with self.engine.connect() as conn:
                rows = repo.list_transactions(conn, limit=500, store=self.store)
                alerts = len(repo.list_alerts(conn, limit=100_000, store=self.store))
        except Exception:
            return
        now = time.time()
        for row in rows:
            if row.id not in self.first_seen:
                self.first_seen[row.id] = now
                self.last_change = now
        if alerts != self.alerts:
            self.alerts = alerts
            self.last_change = now


def read_back(db_url: str, store: str) -> tuple[list[ChargedLine], list[AlarmRow], dict[str, int]]:
    """Every sale's lines, every theft alarm of ``store``, and the count of its alerts by kind."""
    engine = make_engine(db_url)
    lines: list[ChargedLine] = []
    alarms: list[AlarmRow] = []
    kinds: dict[str, int] = {}
    with engine.connect() as conn:
        for summary in repo.list_transactions(conn, limit=1_000_000, store=store):
            detail = repo.get_transaction(conn, summary.id)
            if detail is None:
                continue
            lines.extend(ChargedLine(summary.id, summary.member, line.tag) for line in detail.lines)
        for alert in repo.list_alerts(conn, limit=1_000_000, store=store):
            kinds[alert.kind] = kinds.get(alert.kind, 0) + 1
            if alert.kind == "theft" and alert.tag is not None:
                alarms.append(AlarmRow(alert.tag, alert.source, alert.latency_ms, alert.at))
    engine.dispose()
    return lines, alarms, kinds


def run_evaluation(options: EvaluateOptions, progress: Progress = lambda _: None) -> tuple[Report, Evaluation]:
    """Start the store, play the evaluation script in real time, wait for the decisions, score them."""
    plan: StorePlan = load_store_plan(options.store_file)
    evaluation = evaluation_scenario(plan, options.profile, options.exits, options.seed, timing=options.timing)
    scenario = evaluation.scenario
    local = LocalStore(LocalStoreConfig(
        workdir=options.workdir, store_file=options.store_file, dashboard_port=None, with_tsdb=False,
        seed=options.seed, noise=options.profile, smoothing=dict(options.smoothing),
    ))
    started = time.time()
    local.start(progress)
    try:
        assert local.sim is not None
        watcher = _Watcher(local.db_url, local.store_id)
        watcher.start()
        lag = [0.0]
        progress(f"playing {options.exits} passages ({scenario.duration:.0f} s of scenario)")
        t0 = time.time()

        def on_step(_: object, timed: TimedStep) -> None:
            lag[0] = max(lag[0], time.time() - t0 - timed.at)

        local.sim.play(scenario, speed=1.0, on_step=on_step)
        local.check()
        progress("waiting for the last decisions")
        deadline = time.time() + 120.0
        while time.time() < deadline and time.time() - watcher.last_change < options.drain_s:
            time.sleep(0.2)
            local.check()
        watcher.stop_event.set()
        watcher.join(2.0)
        watcher.poll()
        lines, alarms, kinds = read_back(local.db_url, local.store_id)
    finally:
        local.stop()
    report = score(
        evaluation, lines, alarms, committed_wall=watcher.first_seen,
        walk_wall=lambda passage: t0 + passage.walk_at, profile=options.profile.name, seed=options.seed,
    )
    report.alerts_by_kind = kinds
    report.duration_s = round(time.time() - started, 1)
    report.scenario_s = round(scenario.duration, 1)
    report.runner_lag_max_s = round(lag[0], 3)
    return report, evaluation


def _fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def report_table(report: Report, targets: Targets = Targets()) -> Any:
    """The report as a rich table, with each target and whether it is met."""
    from rich.table import Table

    table = Table(title=f"Decision quality: profile {report.profile}, seed {report.seed}, {report.exits} exits "
                        f"({report.honest_exits} honest, {report.thefts} stolen items)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("met", justify="center")

    def row(name: str, value: str, target: str, ok: bool | None) -> None:
        table.add_row(name, value, target, "" if ok is None else ("yes" if ok else "NO"))

    row("basket item precision", f"{report.precision:.3%} ({report.correct_lines}/{report.charged_lines})",
        f">= {targets.precision:.1%}", report.precision >= targets.precision)
    row("basket item recall", f"{report.recall:.3%} ({report.correct_lines}/{report.expected_lines})",
        f">= {targets.recall:.1%}", report.recall >= targets.recall)
    row("alarm recall", f"{report.alarm_recall:.2%} ({report.alarmed_thefts}/{report.thefts})",
        f">= {targets.alarm_recall:.0%}", report.alarm_recall >= targets.alarm_recall)
    sources = ", ".join(f"{k} {v}" for k, v in sorted(report.false_alarms_by_source.items()))
    row("false alarms per 1,000 honest exits",
        f"{report.false_alarms_per_1000:.2f} ({report.false_alarms}{'; ' + sources if sources else ''})",
        f"<= {targets.false_alarms_per_1000:g}", report.false_alarms_per_1000 <= targets.false_alarms_per_1000)
    edge_ok = None if not report.edge_alarms else (report.edge_latency_p99_ms or 0) < targets.edge_latency_p99_ms
    row("edge alarm latency p50", _fmt_ms(report.edge_latency_p50_ms), "", None)
    row("edge alarm latency p99", _fmt_ms(report.edge_latency_p99_ms), f"< {targets.edge_latency_p99_ms:.0f} ms",
        edge_ok)
    row("transaction latency p50 (exit to sale)", _fmt_ms(report.transaction_latency_p50_ms), "", None)
    row("transaction latency p99 (exit to sale)", _fmt_ms(report.transaction_latency_p99_ms), "", None)
    row("passages", ", ".join(f"{k} {v}" for k, v in sorted(report.passages.items())), "", None)
    row("alerts by kind", ", ".join(f"{k} {v}" for k, v in sorted(report.alerts_by_kind.items())) or "none", "", None)
    row("run time", f"{report.duration_s:.0f} s (script {report.scenario_s:.0f} s)", "", None)
    return table


def write_json(report: Report, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
    return path


def load_profile(value: str | Path) -> NoiseProfile:
    return load_noise_profile(value)

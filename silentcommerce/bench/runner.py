"""One bench run: start the servers, take every selected measurement in the same run, collect the figures.

The targets printed beside the figures are the project's (docs/performance.md says where each comes from).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Final

from rich.table import Table

from silentcommerce.bench.codecs import measure_codecs
from silentcommerce.bench.latency import SAMPLE_TIMEOUT_S, measure_latency
from silentcommerce.bench.memory import measure_ingest_memory
from silentcommerce.bench.pipeline import measure_pipeline
from silentcommerce.bench.raw import RawResult, measure_raw
from silentcommerce.bench.report import Report, Target
from silentcommerce.bench.rig import BenchRig
from silentcommerce.bench.scaling import (
    CPU_CLASSES,
    ScalingRun,
    ScalingStores,
    measure_scaling,
    scaling_stores,
)
from silentcommerce.postgres import PostgresUnavailable

SECTIONS: Final = ("codecs", "raw", "pipeline", "latency", "memory", "scaling")
DEFAULT_SECTIONS: Final = SECTIONS[:-1]
"""Without ``--workers`` (or ``--only scaling``) the bench leaves scaling out: it needs PostgreSQL."""
INGEST_TARGET: Final = Target(">=", 50_000)
CODEC_TARGET: Final = Target(">=", 200_000)
NONE_TARGET: Final = Target("==", 0)
INGEST_RSS_TARGET: Final = Target("<", 300)
GATEWAY_RSS_TARGET: Final = Target("<", 80)
EDGE_P99_TARGET: Final = Target("<", 50)
CENTRAL_P99_TARGET: Final = Target("<", 250)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    only: tuple[str, ...] = SECTIONS
    duration_s: float = 20.0
    rate: int = 2000
    """Reads per second of the background load while latency is measured."""
    quick: bool = False
    gateways: int = 2
    reads_per_batch: int = 500
    raw_sizes: tuple[int, ...] = (50, 500)
    codec_frames: int = 100_000
    memory_items: int = 1_000_000
    memory_members: int = 100_000
    workers: int = 3
    """Scaling: ingest worker counts 1 … this."""
    scaling_stores: int = 6
    scaling_gateways: int = 2
    """Gateways per scaling store."""
    scaling_stock: int = 5_000
    """Items in store per scaling store."""
    keep: bool = False

    @classmethod
    def quick_run(cls, only: tuple[str, ...] = SECTIONS) -> BenchOptions:
        """Small sizes: every code path once, for the smoke test (the figures mean little)."""
        return cls(only=only, duration_s=1.0, quick=True, gateways=2, reads_per_batch=50, raw_sizes=(50,),
                   codec_frames=5_000, memory_items=10_000, memory_members=1_000, workers=2, scaling_stores=2,
                   scaling_gateways=1, scaling_stock=500)


def run_bench(options: BenchOptions, progress: Progress) -> Report:
    report = Report(settings=asdict(options))
    if "codecs" in options.only:
        progress("codecs: decoding chunked streams")
        _codecs(report, options)
    needs_servers = any(s in options.only for s in ("raw", "pipeline", "latency", "memory", "scaling"))
    if not needs_servers:
        return report
    rig = BenchRig.in_temp_dir(keep=options.keep)
    try:
        stores = None
        if "scaling" in options.only:
            stores = scaling_stores(rig.workdir / "stores", options.scaling_stores, options.scaling_gateways,
                                    options.scaling_stock)
            rig.extra_gateways = stores.gateways
        rig.start(progress)
        report.add("setup", "tsdb", None, note="on" if rig.tsdb_url else "off (victoria-metrics not installed)")
        raw: dict[int, RawResult] = {}
        if "raw" in options.only:
            for size in options.raw_sizes:
                progress(f"raw baseline: {size} reads per message")
                rig.fresh_broker()
                raw[size] = measure_raw(rig, size, options.duration_s)
                _raw(report, raw[size])
        if "pipeline" in options.only:
            progress(f"pipeline: {options.gateways} gateways → ingest, flat out for {options.duration_s:g} s")
            rig.fresh_broker()
            _pipeline(report, rig, options, raw.get(options.reads_per_batch))
        if "latency" in options.only:
            progress(f"latency: edge and central paths under {options.rate:,} shelf reads/s")
            rig.fresh_broker()
            _latency(report, rig, options)
        if "memory" in options.only:
            progress(f"memory: seeding {options.memory_items:,} items and {options.memory_members:,} members")
            rig.fresh_broker()
            _memory(report, rig, options)
        if stores is not None:
            _scaling(report, rig, stores, options, raw.get(options.reads_per_batch), progress)
    finally:
        rig.stop()
    return report


def _codecs(report: Report, options: BenchOptions) -> None:
    results = measure_codecs(options.codec_frames)
    for result in results:
        report.add("codecs", result.codec, round(result.frames_per_s), "frames/s/core", target=CODEC_TARGET)
    report.details["codecs"] = [asdict(r) for r in results]


def _raw(report: Report, result: RawResult) -> None:
    size = result.reads_per_message
    report.add("raw", f"messages, {size} reads/msg", round(result.messages_per_s), "msgs/s",
               note=f"paho → broker → paho, QoS 1, {result.payload_bytes:,} bytes/msg")
    report.add("raw", f"reads, {size} reads/msg", round(result.reads_per_s), "reads/s")
    report.details[f"raw_{size}"] = {**asdict(result), "messages_per_s": result.messages_per_s,
                                     "reads_per_s": result.reads_per_s}


def _pipeline(report: Report, rig: BenchRig, options: BenchOptions, raw: RawResult | None) -> None:
    result = measure_pipeline(rig, gateways=options.gateways, reads_per_batch=options.reads_per_batch,
                              duration_s=options.duration_s)
    ratio = f"{result.reads_per_s / raw.reads_per_s:.0%} of raw" if raw is not None and raw.reads_per_s else ""
    report.add("pipeline", f"ingest sustained, {result.reads_per_batch} reads/batch", round(result.reads_per_s),
               "reads/s", target=INGEST_TARGET, note=ratio)
    report.add("pipeline", "ingest reads per CPU-second", round(result.reads_per_cpu_s), "reads/s",
               note=f"ingest used {result.ingest_cpu_s / result.seconds:.0%} of a core; the rest went elsewhere")
    report.add("pipeline", "backlog (batches) start → end of window", result.backlog_end,
               note=f"from {result.backlog_start}, max {result.backlog_max}: "
                    f"{'grew' if result.backlog_grew else 'did not grow'}")
    report.add("pipeline", "batches published", result.published_batches)
    report.add("pipeline", "batches stored (gateway_batches)", result.stored_batches)
    report.add("pipeline", "lost", result.lost, target=NONE_TARGET)
    report.add("pipeline", "duplicated", result.duplicated, target=NONE_TARGET)
    report.details["pipeline"] = asdict(result)


def _scaling(report: Report, rig: BenchRig, stores: ScalingStores, options: BenchOptions, raw: RawResult | None,
             progress: Progress) -> None:
    try:
        runs = measure_scaling(rig, stores, workers=options.workers, reads_per_batch=options.reads_per_batch,
                               duration_s=options.duration_s, progress=progress)
    except PostgresUnavailable as exc:
        report.add("scaling", "postgresql", None, note=f"not measured: {exc}")
        return
    gateways = f"{options.scaling_gateways} gateway{'s' if options.scaling_gateways > 1 else ''}"
    setup = f"{options.scaling_stores} stores × {gateways}, {options.reads_per_batch} reads/batch"
    for run in runs:
        label = f"{run.workers} worker{'s' if run.workers > 1 else ''}"
        ratio = f"{run.reads_per_s / raw.reads_per_s:.0%} of raw; " if raw is not None and raw.reads_per_s else ""
        report.add("scaling", f"{label}: sustained", round(run.reads_per_s), "reads/s", note=ratio + setup)
        report.add("scaling", f"{label}: lost", run.lost, target=NONE_TARGET)
        report.add("scaling", f"{label}: duplicated", run.duplicated, target=NONE_TARGET)
        report.add("scaling", f"{label}: handed over", round(run.handed_over_share * 100, 1), "%",
                   note=f"{run.handed_over} messages for {run.published_batches} batches went through "
                        f"ingest_handoff (strays, and own messages parked by the reorder stage)")
        report.add("scaling", f"{label}: cores busy", round(run.total_cores, 2), "cores",
                   note=" · ".join(f"{name} {run.cores(name):.2f}" for name in CPU_CLASSES))
        report.add("scaling", f"{label}: CPU per read", round(sum(map(run.us_per_read, CPU_CLASSES)), 1), "µs",
                   note=" · ".join(f"{name} {run.us_per_read(name):.1f}" for name in CPU_CLASSES))
    report.tables.append(scaling_table(runs, raw))
    report.details["scaling"] = [{**asdict(run), "handed_over_share": run.handed_over_share,
                                  "us_per_read": {name: run.us_per_read(name) for name in CPU_CLASSES}} for run in runs]


def scaling_table(runs: list[ScalingRun], raw: RawResult | None) -> Table:
    """Worker count against reads/s and the cores each class of process kept busy: where the bottleneck is."""
    table = Table(title="scaling: ingest workers on PostgreSQL (cores = CPU seconds per second of the window)",
                  title_justify="left")
    for column in ("workers", "reads/s", "of raw", "lost", "dup", "handed over", *CPU_CLASSES, "all"):
        table.add_column(column, justify="left" if column == "workers" else "right")
    for run in runs:
        of_raw = f"{run.reads_per_s / raw.reads_per_s:.0%}" if raw is not None and raw.reads_per_s else "—"
        table.add_row(str(run.workers), f"{run.reads_per_s:,.0f}", of_raw, str(run.lost), str(run.duplicated),
                      f"{run.handed_over_share:.1%}", *(f"{run.cores(name):.2f}" for name in CPU_CLASSES),
                      f"{run.total_cores:.2f}")
    return table


def _memory(report: Report, rig: BenchRig, options: BenchOptions) -> None:
    result = measure_ingest_memory(rig, items=options.memory_items, members=options.memory_members,
                                   duration_s=options.duration_s, reads_per_batch=options.reads_per_batch)
    size = f"{options.memory_items:,} items, {options.memory_members:,} members"
    report.add("memory", "seeding (executemany)", round(result.seeded.seconds, 1), "s", note=size)
    report.add("memory", "ingest start until serving", round(result.run.ingest_ready_s, 1), "s", note=size)
    report.add("memory", "ingest peak RSS (VmHWM)", round(result.ingest_peak_rss_mb, 1), "MB",
               target=INGEST_RSS_TARGET, note=f"{size}, after {result.run.seconds:.0f} s of shelf traffic")
    report.add("memory", "ingest with that store", round(result.run.reads_per_s), "reads/s",
               note=f"lost {result.run.lost}, duplicated {result.run.duplicated}")
    report.details["memory"] = {"seeded": asdict(result.seeded), "run": asdict(result.run)}


def _latency(report: Report, rig: BenchRig, options: BenchOptions) -> None:
    result = measure_latency(rig, rate=options.rate, duration_s=options.duration_s)
    load = f"{result.rate_written:,.0f} shelf frames/s written"
    for path, stats, target in (("edge: frame → alarm relay", result.edge, EDGE_P99_TARGET),
                                ("central: frame → transaction event", result.central, CENTRAL_P99_TARGET)):
        report.add("latency", f"{path} p50", _ms(stats.at(50)), "ms", note=load)
        report.add("latency", f"{path} p99", _ms(stats.at(99)), "ms", target=target)
        report.add("latency", f"{path} p99.9", _ms(stats.at(99.9)), "ms")
        report.add("latency", f"{path} count", len(stats.samples_ms), "samples",
                   note=f"{stats.timeouts} without an answer in {SAMPLE_TIMEOUT_S:g} s"
                        + (f"; {stats.not_joined} items did not join a basket" if stats.not_joined else ""))
    report.add("memory", "gateway peak RSS (VmHWM)", round(result.gateway_peak_rss_kb / 1024, 1), "MB",
               target=GATEWAY_RSS_TARGET, note=f"under the latency load ({load})")
    report.details["latency"] = asdict(result)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)

"""Time series: line protocol built from contract batches, and written to a real VictoriaMetrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.payloads import ReadsBatch, SensorSample, SensorsBatch, TagRead
from ingest.tsdb import TsdbSettings, TsdbWriter, reads_lines, sensor_lines
from tests.fixtures.tsdb import RunningVictoriaMetrics

EPC = "3074257BF7194E4000001A85"


def read(at: datetime, zone: str | None, **identity: str) -> TagRead:
    return TagRead(reader="r1", antenna=1, rssi=-61.5, first_seen=at, last_seen=at, count=3, event="seen",
                   zone=zone, **identity)


def batch(at: datetime, reads: list[TagRead], seq: int = 1) -> ReadsBatch:
    return ReadsBatch(store="demo", gateway="gw1", seq=seq, sent_at=at, reads=reads)


def test_reads_lines_keep_the_epc_in_a_string_field_and_aggregate_per_zone() -> None:
    at = datetime(2026, 3, 1, 10, 0, 0, 250_000, tzinfo=UTC)
    lines = reads_lines(batch(at, [read(at, "lane-1", epc=EPC), read(at, "lane-1", uid="0F003A6B5C"),
                                   read(at, None, epc="E200")]), {"lane-1": "lane"})
    ns = 1_772_359_200_250_000_000
    assert lines == [
        f'reads,store=demo,gateway=gw1,zone=lane-1,zone_type=lane,event=seen epc="{EPC}",rssi=-61.5,count=3i {ns}',
        f'reads,store=demo,gateway=gw1,zone=lane-1,zone_type=lane,event=seen uid="0F003A6B5C",rssi=-61.5,count=3i {ns}',
        f'reads,store=demo,gateway=gw1,zone=unknown,zone_type=unknown,event=seen epc="E200",rssi=-61.5,count=3i {ns}',
        f"reads_per_zone,store=demo,zone=lane-1 count=6i {ns}",
        f"reads_per_zone,store=demo,zone=unknown count=3i {ns}",
    ]


def test_a_batch_received_late_says_how_far_behind_its_gateway_is() -> None:
    sent = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    lines = reads_lines(batch(sent, [read(sent, "lane-1", epc=EPC)]), {}, received_at=sent + timedelta(seconds=90.5))
    assert lines[-1] == "gateway_batches,store=demo,gateway=gw1 reads=1i,lag_s=90.5 1772359290500000000"


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_sensor_values_survive_line_protocol_exactly(value: float) -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    sample = SensorSample(sensor="cooler-1-temp", kind="temperature", value=value, zone="cooler-1", at=at)
    (line,) = sensor_lines(SensorsBatch(store="demo", gateway="gw1", seq=1, sent_at=at, samples=[sample]))
    head, field, stamp = line.split(" ")
    assert head == "sensor,store=demo,sensor=cooler-1-temp,kind=temperature,zone=cooler-1"
    assert float(field.removeprefix("value=")) == value
    assert int(stamp) == int(at.timestamp()) * 10**9


@pytest.mark.integration
def test_points_written_through_the_v2_api_read_back_from_victoria_metrics(
    victoria_metrics: RunningVictoriaMetrics,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    writer = TsdbWriter(TsdbSettings(url=victoria_metrics.url, bucket="store", org="sc"))
    writer.start()
    try:
        writer.submit(reads_lines(batch(now, [read(now, "lane-1", epc=EPC)]), {"lane-1": "lane"}))
        sample = SensorSample(sensor="cooler-1-temp", kind="temperature", value=4.5, zone="cooler-1", at=now)
        writer.submit(sensor_lines(SensorsBatch(store="demo", gateway="gw1", seq=2, sent_at=now, samples=[sample])))
        assert writer.flush(10)
    finally:
        writer.stop()
    assert writer.stats.written == 3 and writer.stats.failed_writes == 0
    series = {s["metric"]["__name__"]: s for s in victoria_metrics.export('{__name__=~"reads.*|sensor.*"}')}
    stamp = int(now.timestamp() * 1000)
    assert series["reads_count"]["values"] == [3] and series["reads_count"]["timestamps"] == [stamp]
    assert series["reads_rssi"]["values"] == [-61.5]
    assert series["reads_per_zone_count"]["values"] == [1 * 3]
    assert series["sensor_value"]["values"] == [4.5]
    labels = series["reads_count"]["metric"]
    assert {k: labels[k] for k in ("store", "gateway", "zone", "zone_type", "event")} == {
        "store": "demo", "gateway": "gw1", "zone": "lane-1", "zone_type": "lane", "event": "seen"}
    assert all(EPC not in str(s["metric"]) for s in series.values()), "an EPC must never become a label"
    # The EPC arrived as a field: VictoriaMetrics makes it the series reads_epc with the read's labels.
    # It keeps numbers only, so the text of a string field is stored as 0; InfluxDB keeps the text.
    assert series["reads_epc"]["metric"] == {**labels, "__name__": "reads_epc"}
    assert series["reads_epc"]["values"] == [0]


def test_an_unreachable_server_costs_the_oldest_lines_counted_and_never_blocks_submit() -> None:
    from silentcommerce.broker import free_port

    settings = TsdbSettings(url=f"http://127.0.0.1:{free_port()}", max_buffer_lines=6, retry_min_s=0.05,
                            timeout_s=1)
    writer = TsdbWriter(settings)
    writer.start()
    try:
        for i in range(10):
            writer.submit([f"sensor,store=demo value={i} {i}"])
        assert (writer.stats.dropped, writer.stats.pending) == (4, 6)
        assert not writer.flush(1.0)
        assert writer.stats.failed_writes >= 1 and writer.stats.written == 0
        assert writer.stats.last_error != ""
    finally:
        writer.stop(timeout=0.2)

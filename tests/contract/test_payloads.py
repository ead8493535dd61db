"""The wire contract accepts what the design says and refuses everything else with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract import ContractError, ReadsBatch, SensorsBatch, TagRead, decode, encode
from contract.payloads import MAX_PAYLOAD_BYTES, WorkerState, utc_rfc3339

T0 = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def read(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "reader": "lane-1-uhf",
        "antenna": 1,
        "epc": "3074257bf7194e4000001a85",
        "rssi": -52.5,
        "first_seen": "2026-11-22T12:00:00Z",
        "last_seen": "2026-11-22T12:00:01.250Z",
        "count": 7,
        "event": "seen",
    }
    base.update(overrides)
    return base


def batch(**overrides: object) -> bytes:
    base: dict[str, object] = {
        "schema": "sc.reads/1",
        "store": "demo",
        "gateway": "gw1",
        "seq": 41,
        "sent_at": "2026-11-22T12:00:01.300Z",
        "reads": [read()],
    }
    base.update(overrides)
    return json.dumps(base).encode()


def test_design_example_round_trips() -> None:
    parsed = decode(ReadsBatch, batch())
    assert parsed.seq == 41
    assert parsed.reads[0].epc == "3074257BF7194E4000001A85"  # normalised to upper case
    assert parsed.reads[0].tag == "EPC:3074257BF7194E4000001A85"
    assert decode(ReadsBatch, encode(parsed)) == parsed
    assert json.loads(encode(parsed))["schema"] == "sc.reads/1"


def test_times_are_normalised_to_utc_and_written_with_z() -> None:
    parsed = decode(ReadsBatch, batch(sent_at="2026-11-22T13:00:01+01:00"))
    assert parsed.sent_at == datetime(2026, 11, 22, 12, 0, 1, tzinfo=UTC)
    assert b'"sent_at":"2026-11-22T12:00:01Z"' in encode(parsed)
    assert utc_rfc3339(datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == "2026-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("payload", "reason_fragment"),
    [
        (b"not json", "Invalid JSON"),
        (batch(schema="sc.reads/2"), "schema"),
        (batch(seq=0), "seq"),
        (batch(store="bad/store"), "store"),
        (batch(gateway="+"), "gateway"),
        (batch(reads=[read(epc=None)]), "exactly one of"),
        (batch(reads=[read(uid="0F003A6B5C")]), "exactly one of"),
        (batch(reads=[read(epc="XYZ")]), "epc"),
        (batch(reads=[read(event="moved")]), "event"),
        (batch(reads=[read(first_seen="2026-11-22T12:00:02Z")]), "earlier"),
        (batch(reads=[read(first_seen="2026-11-22T12:00:00")]), "timezone"),
        (batch(extra_field=1), "extra"),
        (batch(reads=[read(count=0)]), "count"),
    ],
)
def test_bad_batches_are_refused_with_a_reason(payload: bytes, reason_fragment: str) -> None:
    with pytest.raises(ContractError) as caught:
        decode(ReadsBatch, payload)
    assert reason_fragment.lower() in caught.value.reason.lower()


def test_nan_and_oversized_payloads_are_refused() -> None:
    with pytest.raises(ContractError):
        decode(ReadsBatch, batch(reads=[read(rssi=float("nan"))]).replace(b"NaN", b"NaN"))
    with pytest.raises(ContractError, match="exceeds"):
        decode(ReadsBatch, b" " * (MAX_PAYLOAD_BYTES + 1))


def test_a_workers_state_names_its_run_to_the_millisecond_after_a_round_trip() -> None:
    run = T0 + timedelta(milliseconds=123)
    state = decode(WorkerState, encode(WorkerState(worker="w1", state="offline", started_at=run,
                                                   session="ingest-worker-w1")))
    assert (state.worker, state.state, state.started_at) == ("w1", "offline", run)
    with pytest.raises(ContractError, match="state"):
        decode(WorkerState, b'{"schema": "sc.worker/1", "worker": "w1", "state": "gone", '
                            b'"started_at": "2026-11-22T12:00:00Z", "session": "ingest-worker-w1"}')


def test_sensor_batch() -> None:
    payload = {
        "schema": "sc.sensors/1",
        "store": "demo",
        "gateway": "gw1",
        "seq": 3,
        "sent_at": "2026-11-22T12:00:00Z",
        "samples": [{"sensor": "cooler-1-temp", "kind": "temperature", "value": 4.5, "unit": "C",
                     "zone": "cooler-1", "at": "2026-11-22T12:00:00Z"}],
    }
    parsed = decode(SensorsBatch, json.dumps(payload))
    assert parsed.samples[0].value == 4.5


@settings(max_examples=200)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_arbitrary_bytes_never_raise_anything_but_contract_error(payload: bytes) -> None:
    try:
        decode(ReadsBatch, payload)
    except ContractError as exc:
        assert exc.reason


@settings(max_examples=100)
@given(
    epc=st.binary(min_size=2, max_size=32).map(bytes.hex),
    rssi=st.floats(min_value=-120, max_value=0, allow_nan=False),
    count=st.integers(min_value=1, max_value=10_000),
)
def test_any_valid_read_round_trips(epc: str, rssi: float, count: int) -> None:
    tag_read = TagRead(reader="r1", antenna=1, epc=epc, rssi=rssi, first_seen=T0, last_seen=T0, count=count,
                       event="seen")
    original = ReadsBatch(store="s", gateway="g", seq=1, sent_at=T0, reads=[tag_read])
    assert decode(ReadsBatch, encode(original)) == original

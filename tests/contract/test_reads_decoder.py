"""The batch decoder of the ``reads`` kind gives the model's verdict on every payload: the same values for a
valid batch, the same refusal (word for word) for an invalid one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.errors import ContractError
from contract.payloads import ReadsBatch, decode
from contract.reads import ReadRow, ReadRows, decode_reads
from tests.fuzz.hostile import big, cheap, good


def model_verdict(payload: bytes) -> ReadRows | str:
    try:
        return ReadRows.of(decode(ReadsBatch, payload))
    except ContractError as exc:
        return exc.reason


def batch_verdict(payload: bytes) -> ReadRows | str:
    try:
        return decode_reads(payload)
    except ContractError as exc:
        return exc.reason


def read(**fields: Any) -> dict[str, Any]:
    return {"reader": "shelf-r", "antenna": 1, "epc": "3074257bf7194e4000001a85", "rssi": -50.0,
            "first_seen": "2026-03-01T10:00:00Z", "last_seen": "2026-03-01T10:00:01.250Z", "count": 3,
            "event": "seen", "zone": "shelf-dairy", **fields}


def payload(*reads: dict[str, Any], **fields: Any) -> bytes:
    base = {"schema": "sc.reads/1", "store": "teststore", "gateway": "gw1", "seq": 7,
            "sent_at": "2026-03-01T10:00:02+01:00", "reads": list(reads) or [read()], **fields}
    return json.dumps(base).encode()


def test_a_valid_batch_decodes_to_the_models_values() -> None:
    decoded = decode_reads(payload(read(), read(epc=None, uid="0f003a6b5c", rssi=None, zone=None, event="left")))
    assert decoded == model_verdict(payload(read(), read(epc=None, uid="0f003a6b5c", rssi=None, zone=None,
                                                     event="left")))
    assert decoded.sent_at == datetime(2026, 3, 1, 9, 0, 2, tzinfo=UTC)
    assert decoded.sent_at.tzinfo is UTC
    assert decoded.reads[0] == ReadRow("shelf-r", 1, "3074257BF7194E4000001A85", None, -50.0,
                                       datetime(2026, 3, 1, 10, tzinfo=UTC),
                                       datetime(2026, 3, 1, 10, 0, 1, 250_000, tzinfo=UTC), 3, "seen", "shelf-dairy")
    assert decoded.reads[0].tag == "EPC:3074257BF7194E4000001A85"
    assert decoded.reads[1].tag == "UID:0F003A6B5C"


@pytest.mark.parametrize("unusual", [
    payload(read(rssi=-50)),  # an integer where a float goes: the model takes it as -50.0
    payload(read(first_seen="2026-03-01T10:00:00.1234567Z")),  # more than six decimals
    payload(read(last_seen="2026-03-01 10:00:01z")),  # a space and a small z
    json.dumps({"schema_": "sc.reads/1", "store": "teststore", "gateway": "gw1", "seq": 1,
                "sent_at": "2026-03-01T10:00:02Z", "reads": []}).encode(),
    payload(read(), historical=True),
])
def test_rarer_valid_spellings_get_the_models_values(unusual: bytes) -> None:
    assert batch_verdict(unusual) == model_verdict(unusual)
    assert isinstance(batch_verdict(unusual), ReadRows)


def test_every_hostile_reads_payload_is_refused_with_the_models_reason() -> None:
    hostile = [h for h in big("reads", "teststore", "gw1") + cheap("reads", "teststore", "gw1", "gw2")]
    assert len(hostile) > 50
    for bad in hostile:
        verdict = model_verdict(bad.payload)
        assert batch_verdict(bad.payload) == verdict, bad.payload[:200]


@pytest.mark.parametrize(("field", "value"), [
    ("reads.0.first_seen", "2026-03-01T10:00:00+12:61"), ("reads.0.first_seen", "2026-03-01T10:00:00+24:00"),
    ("reads.0.last_seen", "2026-02-30T10:00:01Z"), ("reads.0.last_seen", "2026-03-01T10:00:60Z"),
    ("sent_at", "0001-01-01T00:00:00+00:01"), ("sent_at", "9999-12-31T23:59:59-00:01"),
    ("reads.0.epc", "3074257BF7194E4000001A85\n"), ("reads.0.zone", "shelf-dairy\n"), ("store", "teststore\n"),
    ("reads.0.reader", ["shelf-r"]), ("reads.0.event", ["seen"]), ("reads.0.count", True), ("seq", 2**64),
    ("reads.0.rssi", 30.000001), ("reads.0.uid", None), ("reads", [read(epc=None)]),
])
def test_edge_values_get_the_models_verdict(field: str, value: Any) -> None:
    message = good("reads", "teststore", "gw1")
    *parents, last = field.split(".")
    target: Any = message
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    bad = json.dumps(message).encode()
    assert batch_verdict(bad) == model_verdict(bad)


TIMES = st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,8})?(Z|z|[+-][0-9]{2}:[0-9]{2})\Z")


@settings(max_examples=300, deadline=None)
@given(first=TIMES, last=TIMES, sent=TIMES)
def test_any_time_gets_the_models_verdict(first: str, last: str, sent: str) -> None:
    message = payload(read(first_seen=first, last_seen=last), sent_at=sent)
    assert batch_verdict(message) == model_verdict(message)


VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                   st.text(max_size=8), st.sampled_from(["seen", "left", "gw1", "ABCD", "abcd", "0F003A6B5C"]))
FIELDS = st.sampled_from(["reader", "antenna", "epc", "uid", "rssi", "count", "event", "zone"])


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(FIELDS, VALUES, max_size=3), seq=st.one_of(st.integers(-2, 2**54), VALUES))
def test_any_field_value_gets_the_models_verdict(changes: dict[str, Any], seq: Any) -> None:
    message = payload(read(), read(**changes), seq=seq)
    assert batch_verdict(message) == model_verdict(message)

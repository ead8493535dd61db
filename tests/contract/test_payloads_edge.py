"""The contract's additions for edge alarms: allow-list commands and the ``alarms`` topic's GateAlarm."""

from __future__ import annotations

import json

import pytest

from contract import Command, ContractError, GateAlarm, decode, encode
from contract.topics import GatewayTopic, gateway_topic, parse_topic


def command(**overrides: object) -> bytes:
    base: dict[str, object] = {
        "schema": "sc.cmd/1",
        "id": "allow-1",
        "store": "demo",
        "gateway": "gw1",
        "action": "allow",
        "target": "allowlist",
        "tags": ["EPC:3074257BF7194E4000001A85", "UID:0F003A6B5C"],
        "issued_at": "2026-03-01T10:00:00Z",
    }
    base.update(overrides)
    return json.dumps(base).encode()


def alarm(**overrides: object) -> bytes:
    base: dict[str, object] = {
        "schema": "sc.alarm/1",
        "store": "demo",
        "gateway": "gw1",
        "seq": 7,
        "sent_at": "2026-03-01T10:00:06Z",
        "id": "gw1-exit-1",
        "gate": "exit",
        "tag": "EPC:3074257BF7194E4000001A86",
        "decided_at": "2026-03-01T10:00:06Z",
        "first_read_at": "2026-03-01T10:00:05Z",
        "latency_ms": 12.5,
        "evidence": [
            {
                "reader": "exit-uhf",
                "antenna": 1,
                "zone": "exit-inner",
                "rssi": -55,
                "at": "2026-03-01T10:00:05Z",
            }
        ],
        "zone_sequence": ["exit-inner", "exit-outer"],
        "params": {"window_s": "3.0"},
    }
    base.update(overrides)
    return json.dumps(base).encode()


def test_an_allow_command_carries_its_tags_and_round_trips() -> None:
    parsed = decode(Command, command())
    assert parsed.tags == ["EPC:3074257BF7194E4000001A85", "UID:0F003A6B5C"]
    assert decode(Command, encode(parsed)) == parsed


def test_an_old_command_without_the_new_fields_is_still_valid() -> None:
    raw = json.loads(command(action="alarm", target="exit-alarm", duration_s=3.0))
    del raw["tags"]
    parsed = decode(Command, json.dumps(raw))
    assert parsed.tags == [] and parsed.part is None and parsed.snapshot is None


def test_allow_replace_parts_share_a_snapshot_id() -> None:
    parsed = decode(Command, command(action="allow_replace", snapshot="snap-1", part=2, parts=3))
    assert (parsed.snapshot_id, parsed.part, parsed.parts) == ("snap-1", 2, 3)
    assert decode(Command, command(action="allow_replace", id="snap-2")).snapshot_id == "snap-2"


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        (command(target="exit-alarm"), "allowlist"),
        (command(tags=["EPC:xyz"]), "tags.0"),
        (command(tags=["3074257BF7194E4000001A85"]), "tags.0"),
        (command(tags=["EPC:ABCD"] * 5001), "tags"),
        (command(action="alarm", target="exit-alarm"), "tags"),
        (command(action="allow_replace", part=3, parts=2), "part"),
        (command(part=1, parts=1), "allow_replace"),
    ],
)
def test_malformed_allow_list_commands_are_refused_with_the_field(payload: bytes, where: str) -> None:
    with pytest.raises(ContractError, match=where):
        decode(Command, payload)


def test_a_gate_alarm_round_trips_and_says_it_sounded() -> None:
    parsed = decode(GateAlarm, alarm())
    assert parsed.sounded and not parsed.historical
    assert parsed.evidence[0].count == 1 and parsed.evidence[0].zone == "exit-inner"
    assert decode(GateAlarm, encode(parsed)) == parsed


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        (alarm(tag="3074"), "tag"),
        (alarm(latency_ms=-1), "latency_ms"),
        (alarm(schema="sc.alarm/2"), "schema"),
        (alarm(extra=1), "extra"),
        (alarm(decided_at="2026-03-01T10:00:06"), "decided_at"),
    ],
)
def test_malformed_gate_alarms_are_refused(payload: bytes, where: str) -> None:
    with pytest.raises(ContractError, match=where):
        decode(GateAlarm, payload)


def test_the_alarms_topic_is_a_gateway_kind() -> None:
    topic = gateway_topic("demo", "gw1", "alarms")
    assert topic == "sc/v1/demo/gw1/alarms"
    assert parse_topic(topic) == GatewayTopic("demo", "gw1", "alarms")

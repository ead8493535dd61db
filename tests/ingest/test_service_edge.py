"""Ingest and the gateways' own exit alarms, with the real broker: an edge alarm becomes a ``theft`` alert with
``source = "edge"``, once per (gateway, seq), judged by what ingest knows of the tag; a gateway that decides
exit alarms gets the whole allow list when it comes online."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from contract.payloads import AlarmEvidence, GateAlarm, Status, encode
from ingest.db import schema as t
from tests.fixtures.broker import STORE, RunningBroker
from tests.ingest.running import Ingest, running_ingest
from tests.ingest.test_service import BREAD_EPC, STORE_FILE, UNPAID_EPC, Gateway, eventually

pytestmark = pytest.mark.integration

EDGE_STORE_FILE = STORE_FILE.replace(
    """[[zones]]
name = "exit"
type = "exit"
alarm = "exit-alarm"
gateway = "gw1"
""",
    """[[zones]]
name = "exit-inner"
type = "exit"
neighbours = ["exit-outer"]
[[zones]]
name = "exit-outer"
type = "exit"
neighbours = ["exit-inner"]

[[exits]]
name = "exit"
inner = "exit-inner"
outer = "exit-outer"
alarm = "exit-alarm"
gateway = "gw1"
decide_at = "edge"
""",
)


@pytest.fixture
def ingest(broker: RunningBroker, tmp_path: Path, db_url: str, ingest_workers: int) -> Iterator[Ingest]:
    with running_ingest(broker, tmp_path, EDGE_STORE_FILE, "ingest-test", db_url, workers=ingest_workers) as service:
        yield service


def gate_alarm(seq: int, epc: str, at: datetime) -> bytes:
    reads = [
        AlarmEvidence(
            reader="exit-uhf", antenna=a, zone=z, rssi=-55.0, count=1, at=at - timedelta(milliseconds=ms)
        )
        for a, z, ms in (
            (1, "exit-inner", 600),
            (1, "exit-inner", 400),
            (2, "exit-outer", 200),
            (2, "exit-outer", 10),
        )
    ]
    return encode(
        GateAlarm(
            store=STORE,
            gateway="gw1",
            seq=seq,
            sent_at=at,
            id=f"gw1.exit.{seq}",
            gate="exit",
            tag=f"EPC:{epc}",
            decided_at=at,
            first_read_at=at - timedelta(milliseconds=600),
            latency_ms=12.5,
            evidence=reads,
            zone_sequence=["exit-inner", "exit-outer"],
            params={"window_s": "3", "min_reads": "2"},
            alarm="exit-alarm",
        )
    )


def alerts(service: Ingest) -> list[Any]:
    with service.db.connect() as conn:
        return list(conn.execute(select(t.alerts).where(t.alerts.c.kind == "theft").order_by(t.alerts.c.id)))


def test_an_edge_alarm_is_recorded_once_with_its_latency_evidence_and_verdict(
    ingest: Ingest, gw1: Gateway
) -> None:
    now = datetime.now(UTC)
    with ingest.db.begin() as conn:
        conn.execute(update(t.items).where(t.items.c.tag == f"EPC:{BREAD_EPC}").values(status="sold"))
    gw1.publish_raw(gate_alarm(1, UNPAID_EPC, now), kind="alarms")
    gw1.publish_raw(gate_alarm(1, UNPAID_EPC, now), kind="alarms")  # a redelivery
    gw1.publish_raw(gate_alarm(2, BREAD_EPC, now), kind="alarms")  # sold: a false alarm
    rows = eventually(lambda: alerts(ingest) if len(alerts(ingest)) >= 2 else None)
    time.sleep(0.3)
    assert len(alerts(ingest)) == 2
    unpaid, sold = rows
    assert (unpaid.source, unpaid.rule, unpaid.latency_ms, unpaid.tag) == (
        "edge",
        "exit-gate",
        12.5,
        f"EPC:{UNPAID_EPC}",
    )
    assert unpaid.details["verdict"] == "unpaid" and not unpaid.details["false_alarm"]
    assert unpaid.details["zone_sequence"] == ["exit-inner", "exit-outer"]
    assert unpaid.details["params"]["min_reads"] == "2"
    assert [e["zone"] for e in unpaid.evidence] == ["exit-inner", "exit-inner", "exit-outer", "exit-outer"]
    assert unpaid.cleared_at is None and unpaid.severity == "critical"
    assert sold.details["verdict"] == "sold" and sold.details["false_alarm"] and sold.cleared_at is not None
    assert "false alarm" in sold.message


def test_a_gateway_coming_online_gets_the_allow_list_snapshot(ingest: Ingest, gw1: Gateway) -> None:
    with ingest.db.begin() as conn:
        conn.execute(update(t.items).where(t.items.c.tag == f"EPC:{BREAD_EPC}").values(status="sold"))
    status = Status(store=STORE, gateway="gw1", state="online", at=datetime.now(UTC))
    gw1.publish_raw(encode(status), kind="status")
    command = gw1.next_command()
    assert (command.action, command.target, command.part, command.parts) == (
        "allow_replace",
        "allowlist",
        1,
        1,
    )
    assert f"EPC:{BREAD_EPC}" in command.tags and f"EPC:{UNPAID_EPC}" not in command.tags
    with ingest.db.connect() as conn:
        stored = conn.execute(select(t.commands).where(t.commands.c.id == command.id)).first()
    assert stored is not None and stored.action == "allow_replace"

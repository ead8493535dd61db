"""Commands are never lost: a command row committed but never published (ingest crashed in between) goes
out when ingest starts; the real gateway carries a repeated command id out once and answers through its
outbox, so an answer made while the broker is down arrives once it is back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from contract.payloads import Ack, Command, encode
from contract.topics import gateway_topic
from gateway.outbox import Outbox
from gateway.service import Gateway
from ingest.db import schema as t
from ingest.db.engine import make_engine
from ingest.db.migrate import upgrade
from ingest.db.persist import new_command
from ingest.service import IngestService
from silentcommerce.broker import INGEST_USER
from silentcommerce.mqtt import MqttLink
from tests.fixtures.broker import STORE, RunningBroker
from tests.ingest.running import running_ingest
from tests.ingest.test_service import STORE_FILE, eventually
from tests.ingest.test_service import Gateway as GatewaySide

pytestmark = pytest.mark.integration


def command_row(service: IngestService, command_id: str) -> object:
    with service.db.connect() as conn:
        return conn.execute(select(t.commands).where(t.commands.c.id == command_id)).first()


def test_a_command_committed_but_never_published_goes_out_when_ingest_starts(
    broker: RunningBroker, tmp_path: Path, db_url: str, ingest_workers: int, gw1: GatewaySide
) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:  # what a crash between the commit and the publish leaves behind
        new_command(conn, STORE, "gw1", "lock", "cooler-1-lock", datetime.now(UTC), command_id="lock-crashed")
    engine.dispose()
    with running_ingest(broker, tmp_path, STORE_FILE, "ingest-commands", db_url, workers=ingest_workers) as ingest:
        command = gw1.next_command()
        assert (command.id, command.action) == ("lock-crashed", "lock")
        row = eventually(lambda: (r := command_row(ingest, "lock-crashed")) is not None and r.sent_at is not None)
        assert row, "marked sent once the broker took it"


def test_an_alarm_that_could_not_be_sent_in_time_expires_instead_of_sounding_late(
    broker: RunningBroker, tmp_path: Path, db_url: str, ingest_workers: int, gw1: GatewaySide
) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        new_command(conn, STORE, "gw1", "alarm", "exit-alarm", datetime(2026, 1, 1, tzinfo=UTC), command_id="alarm-old")
        new_command(conn, STORE, "gw1", "unlock", "door", datetime(2026, 1, 1, tzinfo=UTC), command_id="unlock-old")
    engine.dispose()
    with running_ingest(broker, tmp_path, STORE_FILE, "ingest-expiry", db_url, workers=ingest_workers) as ingest:
        assert gw1.next_command().id == "unlock-old", "a state-setting command is sent however late"
        row = eventually(lambda: (r := command_row(ingest, "alarm-old")) is not None and r.acked_at is not None)
        assert row
        alarm = command_row(ingest, "alarm-old")
        assert (alarm.ack_ok, alarm.ack_error, alarm.sent_at) == (False, "expired before it could be sent", None)
        # the stats are copied after the tick that wrote the row: wait for them rather than race them
        assert eventually(lambda: ingest.stats.extra.get("commands_expired") == 1), ingest.stats.extra
    assert gw1.commands.empty(), "the stale alarm never reached the gateway"


def test_the_gateway_carries_a_repeated_command_out_once_and_its_ack_survives_a_broker_outage(
    broker: RunningBroker, gateway_with: Callable[[Callable[[Outbox], None]], Gateway]
) -> None:
    gateway = gateway_with(lambda outbox: None)
    acks: list[Ack] = []
    ingest_side = MqttLink(broker.settings(INGEST_USER, "ingest-acks", session_expiry_s=600),
                           subscriptions=[(gateway_topic(STORE, "gw1", "ack"), 1)],
                           on_message=lambda m: acks.append(Ack.model_validate_json(m.payload)))
    ingest_side.start()
    assert ingest_side.wait_connected(10)
    try:
        command = Command(id="display-1", store=STORE, gateway="gw1", action="clear_display", target="nowhere",
                          issued_at=datetime.now(UTC))
        for _ in range(2):
            ingest_side.publish(gateway_topic(STORE, "gw1", "cmd"), encode(command)).wait(10)
        assert eventually(lambda: gateway.commands.stats.received == 2)
        assert (gateway.commands.stats.repeats, gateway.commands.stats.failed) == (1, 1)
        assert eventually(lambda: [a.id for a in acks] == ["display-1"])

        broker.broker.stop()
        assert eventually(lambda: not gateway.link.connected)
        gateway.commands.submit(encode(command.model_copy(update={"id": "display-2"})))
        assert eventually(lambda: gateway.outbox.depth() == 1), "the answer waits in the outbox"
        broker.broker.start()
        assert eventually(lambda: [a.id for a in acks] == ["display-1", "display-2"], timeout=20)
        assert [a.seq for a in acks] == [1, 2]
    finally:
        ingest_side.stop()

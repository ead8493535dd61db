"""Every distinct hostile payload, decoded in-process: refused with a reason that names its problem.

The broker-less half of tests/fuzz/test_hostile_payloads.py, so the contract's refusals are checked even
where no Mosquitto is installed; origin mismatches are refused later, against the topic (below).
"""

from __future__ import annotations

from typing import Any

import pytest

from contract.errors import ContractError
from contract.payloads import (
    MAX_PAYLOAD_BYTES,
    MAX_REASON_PART,
    Ack,
    BusinessEvent,
    GateAlarm,
    ReadsBatch,
    SensorsBatch,
    Status,
    decode,
)
from contract.topics import GatewayTopic
from tests.fuzz.hostile import big, cheap

MODELS: dict[str, Any] = {
    "reads": ReadsBatch, "sensors": SensorsBatch, "status": Status, "ack": Ack, "alarms": GateAlarm,
    "events": BusinessEvent,
}
HOSTILE = [bad for kind in MODELS for bad in big(kind, "teststore", "gw1") + cheap(kind, "teststore", "gw1", "gw2")]


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_hostile_payload_is_refused_naming_its_problem(kind: str) -> None:
    topic = GatewayTopic("teststore", "gw1", "reads")
    for bad in (bad for bad in HOSTILE if bad.kind == kind):
        with pytest.raises(ContractError) as refused:
            message = decode(MODELS[kind], bad.payload)
            if kind != "events":
                topic.check_origin(message.store, message.gateway)
        assert bad.names in refused.value.reason, (refused.value.reason, bad.payload[:120])
        assert len(refused.value.reason) < 3 * (2 * MAX_REASON_PART + 10) + 20


def test_every_kind_gets_a_body_over_the_limit() -> None:
    assert {bad.kind for bad in HOSTILE if len(bad.payload) > MAX_PAYLOAD_BYTES} == set(MODELS)

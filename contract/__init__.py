"""The wire contract (v1) shared by gateway, ingest, dashboard and simulators.

Topics are built and parsed only in :mod:`contract.topics`; payloads are the pydantic models in
:mod:`contract.payloads` (the hot ``reads`` kind is also decoded a whole batch at once by
:mod:`contract.reads`, with the models' verdicts). Nothing here does I/O.
"""

from contract.errors import ContractError, TopicError
from contract.payloads import (
    ACK_SCHEMA,
    ALARM_SCHEMA,
    CMD_SCHEMA,
    EVENT_SCHEMA,
    READS_SCHEMA,
    SENSORS_SCHEMA,
    STATUS_SCHEMA,
    Ack,
    AlarmEvidence,
    BusinessEvent,
    Command,
    GateAlarm,
    ReadsBatch,
    SensorSample,
    SensorsBatch,
    Status,
    TagRead,
    decode,
    encode,
)
from contract.topics import EventTopic, GatewayTopic, parse_topic

__all__ = [
    "ACK_SCHEMA",
    "ALARM_SCHEMA",
    "CMD_SCHEMA",
    "EVENT_SCHEMA",
    "READS_SCHEMA",
    "SENSORS_SCHEMA",
    "STATUS_SCHEMA",
    "Ack",
    "AlarmEvidence",
    "BusinessEvent",
    "Command",
    "ContractError",
    "EventTopic",
    "GateAlarm",
    "GatewayTopic",
    "ReadsBatch",
    "SensorSample",
    "SensorsBatch",
    "Status",
    "TagRead",
    "TopicError",
    "decode",
    "encode",
    "parse_topic",
]

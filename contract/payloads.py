"""Payload models of the wire contract (v1).

Every model is strict about what it accepts (unknown fields are refused, times must carry a zone and are
normalised to UTC, floats must be finite) because a payload is a trust boundary. A new field is
optional; a breaking change gets a new schema name (``sc.reads/2``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from contract.errors import ContractError
from contract.topics import NAME_PATTERN

READS_SCHEMA: Final = "sc.reads/1"
SENSORS_SCHEMA: Final = "sc.sensors/1"
STATUS_SCHEMA: Final = "sc.status/1"
CMD_SCHEMA: Final = "sc.cmd/1"
ACK_SCHEMA: Final = "sc.ack/1"
EVENT_SCHEMA: Final = "sc.event/1"
ALARM_SCHEMA: Final = "sc.alarm/1"
WORKER_SCHEMA: Final = "sc.worker/1"

MAX_READS_PER_BATCH: Final = 5000
MAX_SAMPLES_PER_BATCH: Final = 5000
MAX_PAYLOAD_BYTES: Final = 1_048_576
MAX_TAGS_PER_COMMAND: Final = 5000
MAX_EVIDENCE_PER_ALARM: Final = 200
MAX_REASON_PART: Final = 200
"""A refusal's field path and message are cut to this many characters each (an unknown key may be 1 MB)."""
ALLOWLIST_TARGET: Final = "allowlist"
ALLOWLIST_ACTIONS: Final = frozenset({"allow", "disallow", "allow_replace"})
OUTBOX_TARGET: Final = "outbox"
MAX_RESEND_SPAN: Final = 1000
"""The most ``seq`` one ``resend`` command may ask for (``to_seq - from_seq + 1``)."""

Name = Annotated[str, StringConstraints(pattern=f"^{NAME_PATTERN}$")]
Epc = Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{4,124}$", to_upper=True)]
Uid = Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{4,32}$", to_upper=True)]
Seq = Annotated[int, Field(ge=1, le=2**53)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
TagKey = Annotated[str, StringConstraints(pattern=r"^(EPC:[0-9A-F]{4,124}|UID:[0-9A-F]{4,32})$")]
"""A tag as ingest keys it: ``EPC:<hex upper>`` or ``UID:<hex upper>``."""
CommandId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-14:00 is a valid RFC 3339 time, but not in UTC
        raise ValueError(f"time {value.isoformat()} is out of range once in UTC") from None


UtcTime = Annotated[AwareDatetime, AfterValidator(_utc)]
"""A time with a zone, normalised to UTC. Validated on the time fields only: a validator on every field
made each read of a batch cost ten Python calls more."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True)


class TagRead(_Model):
    """One smoothed read: a tag seen (or gone) at one reader antenna."""

    reader: Name
    antenna: int = Field(ge=0, le=64)
    epc: Epc | None = None
    uid: Uid | None = None
    rssi: float | None = Field(default=None, ge=-150, le=30)
    first_seen: UtcTime
    last_seen: UtcTime
    count: int = Field(ge=1, le=1_000_000)
    event: Literal["seen", "left"]
    zone: Name | None = Field(default=None, description="The zone the gateway's wiring maps this antenna to.")

    @model_validator(mode="after")
    def _one_identity_and_ordered_times(self) -> TagRead:
        if (self.epc is None) == (self.uid is None):
            raise ValueError("a read carries exactly one of 'epc' (UHF) or 'uid' (125 kHz card)")
        if self.last_seen < self.first_seen:
            raise ValueError("'last_seen' is earlier than 'first_seen'")
        return self

    @property
    def tag(self) -> str:
        """The tag's identity as ingest keys it: ``EPC:…`` or ``UID:…``."""
        return f"EPC:{self.epc}" if self.epc is not None else f"UID:{self.uid}"


class ReadsBatch(_Model):
    schema_: Literal["sc.reads/1"] = Field(default=READS_SCHEMA, alias="schema")
    store: Name
    gateway: Name
    seq: Seq
    sent_at: UtcTime
    historical: bool = Field(
        default=False, description="Set on reads delivered late from the outbox; they raise no live alarms."
    )
    reads: list[TagRead] = Field(max_length=MAX_READS_PER_BATCH)


class SensorSample(_Model):
    sensor: Name
    kind: Literal["temperature", "humidity", "door", "power"]
    value: float = Field(ge=-1e9, le=1e9)
    unit: Annotated[str, StringConstraints(max_length=16)] = ""
    zone: Name | None = None
    at: UtcTime


class SensorsBatch(_Model):
    schema_: Literal["sc.sensors/1"] = Field(default=SENSORS_SCHEMA, alias="schema")
    store: Name
    gateway: Name
    seq: Seq
    sent_at: UtcTime
    samples: list[SensorSample] = Field(max_length=MAX_SAMPLES_PER_BATCH)


class DeviceSummary(_Model):
    name: Name
    protocol: Annotated[str, StringConstraints(max_length=32)]
    zones: list[Name] = Field(default_factory=list, max_length=64)


class Status(_Model):
    """Retained on ``status``: ``online`` at birth, ``offline`` as the Last Will or at a clean stop."""

    schema_: Literal["sc.status/1"] = Field(default=STATUS_SCHEMA, alias="schema")
    store: Name
    gateway: Name
    state: Literal["online", "offline"]
    at: UtcTime
    version: Annotated[str, StringConstraints(max_length=32)] = ""
    devices: list[DeviceSummary] = Field(default_factory=list, max_length=256)


CommandAction = Literal[
    "alarm", "open", "lock", "unlock", "display", "clear_display", "allow", "disallow", "allow_replace", "resend"
]


class Command(_Model):
    schema_: Literal["sc.cmd/1"] = Field(default=CMD_SCHEMA, alias="schema")
    id: CommandId
    store: Name
    gateway: Name
    action: CommandAction
    target: Name
    text: list[ShortText] = Field(default_factory=list, max_length=4)
    duration_s: float | None = Field(default=None, gt=0, le=3600)
    reason: ShortText = ""
    issued_at: UtcTime
    tags: list[TagKey] = Field(
        default_factory=list,
        max_length=MAX_TAGS_PER_COMMAND,
        description="allow, disallow, allow_replace: the tags that may (or may no longer) leave the store.",
    )
    snapshot: CommandId | None = Field(
        default=None,
        description="allow_replace: the snapshot this part belongs to (default: the command id).",
    )
    part: int | None = Field(default=None, ge=1, le=10_000, description="allow_replace: this part's number.")
    parts: int | None = Field(
        default=None, ge=1, le=10_000, description="allow_replace: parts in the snapshot."
    )
    from_seq: Seq | None = Field(default=None, description="resend: the first seq to publish again.")
    to_seq: Seq | None = Field(default=None, description="resend: the last seq to publish again.")

    @model_validator(mode="after")
    def _resend_fields(self) -> Command:
        if self.action != "resend":
            if self.from_seq is not None or self.to_seq is not None:
                raise ValueError("'from_seq' and 'to_seq' belong to 'resend'")
            return self
        if self.target != OUTBOX_TARGET:
            raise ValueError(f"action 'resend' has the target {OUTBOX_TARGET!r}")
        if self.from_seq is None or self.to_seq is None:
            raise ValueError("'resend' needs 'from_seq' and 'to_seq'")
        if not 0 <= self.to_seq - self.from_seq < MAX_RESEND_SPAN:
            raise ValueError(f"'resend' asks for 1 to {MAX_RESEND_SPAN} seq, from 'from_seq' to 'to_seq'")
        return self

    @model_validator(mode="after")
    def _allowlist_fields(self) -> Command:
        if self.action in ALLOWLIST_ACTIONS:
            if self.target != ALLOWLIST_TARGET:
                raise ValueError(f"action {self.action!r} has the target {ALLOWLIST_TARGET!r}")
        elif self.tags:
            raise ValueError(f"'tags' belongs to the allow-list actions, not to {self.action!r}")
        if self.action == "allow_replace":
            part, parts = self.part or 1, self.parts or 1
            if part > parts:
                raise ValueError(f"'part' {part} is beyond 'parts' {parts}")
        elif self.part is not None or self.parts is not None or self.snapshot is not None:
            raise ValueError("'snapshot', 'part' and 'parts' belong to 'allow_replace'")
        return self

    @property
    def snapshot_id(self) -> str:
        """allow_replace: the id that groups the parts of one snapshot."""
        return self.snapshot or self.id


class Ack(_Model):
    schema_: Literal["sc.ack/1"] = Field(default=ACK_SCHEMA, alias="schema")
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
    store: Name
    gateway: Name
    ok: bool
    error: ShortText = ""
    at: UtcTime
    seq: Seq | None = Field(
        default=None, description="Set when the ack went through the gateway's outbox: it shares the seq."
    )


class AlarmEvidence(_Model):
    """One raw read that counted towards an edge alarm."""

    reader: Name | Literal[""] = ""
    antenna: int = Field(default=0, ge=0, le=64)
    zone: Name
    rssi: float | None = Field(default=None, ge=-150, le=30)
    count: int = Field(default=1, ge=1, le=1_000_000)
    at: UtcTime


class GateAlarm(_Model):
    """``alarms``: a gateway sounded an exit alarm on its own; sent through its outbox (it shares ``seq``)."""

    schema_: Literal["sc.alarm/1"] = Field(default=ALARM_SCHEMA, alias="schema")
    store: Name
    gateway: Name
    seq: Seq
    sent_at: UtcTime
    id: CommandId
    gate: Name
    tag: TagKey
    decided_at: UtcTime
    first_read_at: UtcTime
    latency_ms: float = Field(ge=0, le=3_600_000, description="deciding read's arrival to the coil confirmed")
    evidence: list[AlarmEvidence] = Field(default_factory=list, max_length=MAX_EVIDENCE_PER_ALARM)
    zone_sequence: list[Name] = Field(default_factory=list, max_length=64)
    params: dict[Annotated[str, StringConstraints(max_length=64)], ShortText] = Field(
        default_factory=dict, max_length=32
    )
    alarm: Name | None = Field(default=None, description="the actuator switched on")
    sounded: bool = Field(default=True, description="false when the coil write failed")
    error: ShortText = ""
    historical: bool = Field(default=False, description="set when the alarm left the outbox late")


class BusinessEvent(_Model):
    """What ingest publishes on ``sc/v1/{store}/events/{type}``; ``data`` is the decision's record."""

    schema_: Literal["sc.event/1"] = Field(default=EVENT_SCHEMA, alias="schema")
    store: Name
    type: Literal["transaction", "alert", "inventory", "visit", "basket", "offer", "dispute"]
    at: UtcTime
    data: dict[str, Any]


class WorkerState(_Model):
    """Retained on an ingest worker's state topic: ``online`` when it connects, ``offline`` as its Last Will
    (the broker publishes it when the connection ends without a DISCONNECT), ``stopped`` at a clean stop.
    ``started_at`` names the worker process (its incarnation): the database's heartbeat row carries the same."""

    schema_: Literal["sc.worker/1"] = Field(default=WORKER_SCHEMA, alias="schema")
    worker: Name
    state: Literal["online", "offline", "stopped"]
    started_at: UtcTime
    session: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    """The worker's MQTT client id: a worker that adopts the dead one's session connects under it."""


M = TypeVar("M", bound=_Model)


def decode(model: type[M], payload: bytes | str) -> M:
    """Validate one JSON payload; any fault raises :class:`ContractError` with a readable reason."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        return model.model_validate_json(payload, strict=True)
    except ValidationError as exc:
        raise ContractError(_summarise(exc)) from None
    except (ValueError, RecursionError) as exc:  # pragma: no cover - pydantic wraps nearly everything
        raise ContractError(f"invalid JSON: {exc}") from None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def encode(message: _Model) -> bytes:
    """Serialise a model to the JSON that goes on the wire (aliases, RFC 3339 UTC times)."""
    return message.model_dump_json(by_alias=True, exclude_none=True).encode()


def _summarise(exc: ValidationError, limit: int = 3) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    parts = []
    for err in errors[:limit]:
        where = ".".join(_clip(str(p), MAX_REASON_PART) for p in err["loc"]) or "payload"
        parts.append(f"{_clip(where, MAX_REASON_PART)}: {_clip(err['msg'], MAX_REASON_PART)}")
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts) + more


def seq_ranges(seqs: list[int]) -> str:
    """Sorted ``[3, 4, 5, 9]`` → ``"3-5,9"``: how a failed ``resend`` ack and the lost-data alert name ``seq``."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][1] + 1:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def utc_rfc3339(moment: datetime) -> str:
    """Format a time the way the contract writes it: RFC 3339 in UTC with a ``Z``."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")

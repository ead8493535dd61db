"""The HTTP boundary's models: what the API answers (``*Out``) and what admins may send (``*In``).

Money leaves as a decimal string (``"1.29"``), never a float; times are RFC 3339 UTC.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints

from contract.topics import NAME_PATTERN
from dashboard.livestate import GatewayState, PresentTag, SensorValue, Snapshot, Tick, ZonePresence

ROW_ID_MAX = 2**31 - 1
"""The largest id an integer id column holds on both engines (PostgreSQL's ``integer`` is 32-bit): a larger id in a
path is bad input (422), never a database error."""

Name = Annotated[str, StringConstraints(pattern=f"^{NAME_PATTERN}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
TagId = Annotated[
    str,
    StringConstraints(pattern=r"^(EPC:[0-9A-Fa-f]{4,124}|UID:[0-9A-Fa-f]{4,32})$", to_upper=True),
]
Money = Annotated[str, Field(description="A decimal amount as a string, e.g. \"1.29\".", examples=["1.29"])]
ZoneType = Literal["entrance", "shelf", "lane", "exit", "backroom", "cooler"]
Flag = Annotated[bool, Strict()]
"""``true`` or ``false`` only: JSON has booleans, so 0, 1 or "yes" are refused as the schema says."""


def money(value: Decimal) -> str:
    return format(value, "f")


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- reads from the repository --------------------------------------------------------------------


class TransactionOut(_Out):
    id: str
    store: str
    member: str
    member_name: str | None
    lane: str
    total: Money
    points: int
    trigger: str
    at: datetime
    line_count: int


class TransactionLineOut(_Out):
    tag: str
    sku: str
    name: str
    unit_price: Money
    returned_at: datetime | None = None


class ReturnOut(_Out):
    """An item taken back: sellable again, and no longer allowed through the exit unpaid."""

    tag: str
    transaction_id: str
    returned_at: datetime


class ExplanationOut(_Out):
    """Why the decision was taken."""

    rule: str = Field(description="The rule's stable name, e.g. 'lane-basket' or 'exit-gate'.")
    params: dict[str, str] = Field(description="The rule's thresholds as text.")
    zone_sequence: list[str] = Field(description="The zones the tag(s) passed, in order.")
    evidence: list[dict[str, Any]] = Field(
        description="The reads the decision rests on: tag, zone, gateway, reader, antenna, rssi, count, event, at."
    )


class TransactionDetailOut(TransactionOut):
    lines: list[TransactionLineOut]
    explanation: ExplanationOut | None = Field(default=None, description="None for sales stored before 0002.")


class HeldItemOut(_Out):
    tag: str
    sku: str
    name: str
    member: str


class LaneMemberOut(_Out):
    id: str
    name: str | None


class LaneHoldOut(_Out):
    """A lane conflict as the operator resolves it: who is in the lane and what their baskets hold."""

    lane: str
    members: list[LaneMemberOut]
    items: list[HeldItemOut]
    held: bool = Field(description="A basket of the lane is still held.")


class AlertOut(_Out):
    id: int
    store: str
    kind: str
    severity: str
    message: str
    zone: str | None
    tag: str | None
    member: str | None
    evidence: list[dict[str, Any]]
    at: datetime
    cleared_at: datetime | None
    rule: str | None = Field(default=None, description="The rule that raised it, e.g. 'exit-gate'.")
    params: dict[str, str] = Field(default_factory=dict, description="The rule's thresholds as text.")
    zone_sequence: list[str] = Field(default_factory=list, description="The zones the tag passed, in order.")
    details: dict[str, Any] = Field(default_factory=dict, description="What the rule recorded beside the reads.")
    source: str | None = Field(
        default=None, description="'edge': the gateway decided and sounded it; 'ingest': ingest decided it."
    )
    latency_ms: float | None = Field(
        default=None, description="Edge alarms: first qualifying read at the gateway → alarm output on."
    )
    hold: LaneHoldOut | None = Field(default=None, description="Lane conflicts: the lane, its members and items.")


class StockOut(_Out):
    sku: str
    name: str
    price: Money
    reorder_below: int
    on_shelf: dict[str, int] = Field(description="Items in store per zone they were last seen in ('?': never seen).")
    in_store: int
    sold: int
    missing: int
    reorder: bool


class MissingItemOut(_Out):
    tag: str
    sku: str
    name: str
    last_zone: str | None
    last_seen: datetime | None


class StockPanelOut(_Out):
    low: list[StockOut] = Field(description="Products with fewer items in store than their reorder level.")
    missing: list[MissingItemOut] = Field(description="Items unseen for several inventory cycles.")
    open_alerts: dict[str, int] = Field(description="Open missing, misplaced and low_stock alerts by kind.")


class TagBindingOut(_Out):
    tag: str
    kind: str
    ref: str
    valid_from: datetime | None
    valid_to: datetime | None


class MemberOut(_Out):
    id: str
    store: str
    name: str
    is_staff: bool
    tags: list[TagBindingOut]
    transactions: list[TransactionOut]
    transaction_count: int
    total_spent: Money
    points: int
    visits: int
    last_purchase: datetime | None


class StoreOut(_Out):
    id: str
    name: str
    currency: str


class ZoneOut(_Out):
    name: str
    store: str
    type: str
    display: str | None
    alarm: str | None
    gateway: str | None


class ProductOut(_Out):
    sku: str
    store: str
    name: str
    price: Money
    gtin: str | None
    category: str
    reorder_below: int


class GatewayHealthOut(_Out):
    store: str
    gateway: str
    state: str
    last_seen: datetime | None
    last_seq: int | None
    last_batch_at: datetime | None


class LiveHealthOut(_Out):
    connected: bool = Field(description="The dashboard's own broker connection is up.")
    clients: int = Field(description="Live-feed clients connected now.")
    received: int
    rejected: int
    last_rejection: str


class HealthOut(_Out):
    status: Literal["ok", "degraded"]
    database: bool
    live: LiveHealthOut
    gateways: list[GatewayHealthOut]
    dead_letters: int
    open_alerts: int
    last_batch_at: datetime | None
    config_version: int = Field(description="The stores' configuration versions added up: it moves with every "
                                "admin edit or seed (each store's ingest reloads only on its own store's).")
    failed_logins: int = Field(0, description="Failed dashboard sign-ins since the dashboard started.")
    refused_logins: int = Field(0, description="Sign-ins refused (429) after too many failures.")


# -- admin writes ---------------------------------------------------------------------------------


class ProductIn(_In):
    name: Text
    price: Decimal = Field(ge=0, le=1_000_000, max_digits=12, decimal_places=4, examples=["1.29"])
    gtin: Annotated[str, StringConstraints(pattern=r"^[0-9]{14}$")] | None = None
    category: Annotated[str, StringConstraints(max_length=64)] = ""
    reorder_below: Annotated[int, Strict()] = Field(default=0, ge=0, le=1_000_000)
    store: Name | None = Field(default=None, description="Defaults to the dashboard's store.")


class MemberIn(_In):
    name: Text
    is_staff: Flag = False
    store: Name | None = Field(default=None, description="Defaults to the dashboard's store.")


class TagIn(_In):
    kind: Literal["member", "staff", "item"]
    ref: Name = Field(description="The member or staff id, or the product SKU of an item tag.")


class ZoneIn(_In):
    type: ZoneType
    display: Name | None = None
    alarm: Name | None = None
    gateway: Name | None = None
    store: Name | None = Field(default=None, description="Defaults to the dashboard's store.")


# -- the live feed --------------------------------------------------------------------------------


class PresentTagOut(_Out):
    tag: str
    kind: str
    ref: str | None
    name: str | None
    gateway: str
    reader: str
    rssi: float | None
    since: float
    last_seen: float

    @classmethod
    def of(cls, entry: PresentTag) -> PresentTagOut:
        return cls.model_validate(entry, from_attributes=True)


class ZonePresenceOut(_Out):
    zone: str
    members: list[PresentTagOut]
    items: list[PresentTagOut]
    others: list[PresentTagOut]

    @classmethod
    def of(cls, zone: ZonePresence) -> ZonePresenceOut:
        return cls(
            zone=zone.zone,
            members=[PresentTagOut.of(e) for e in zone.members],
            items=[PresentTagOut.of(e) for e in zone.items],
            others=[PresentTagOut.of(e) for e in zone.others],
        )


class SensorOut(_Out):
    sensor: str
    kind: str
    value: float
    unit: str
    zone: str | None
    gateway: str
    at: datetime

    @classmethod
    def of(cls, value: SensorValue) -> SensorOut:
        return cls.model_validate(value, from_attributes=True)


class GatewayStateOut(_Out):
    store: str
    gateway: str
    state: str
    at: datetime
    version: str
    devices: list[str]

    @classmethod
    def of(cls, state: GatewayState) -> GatewayStateOut:
        return cls.model_validate(state, from_attributes=True)


class TickOut(_Out):
    at: float = Field(description="Server time, seconds since the epoch.")
    second: int = Field(description="The whole second that 'reads' counts.")
    reads: dict[str, int] = Field(description="Tag reports per zone in that second.")
    presence: list[ZonePresenceOut]
    sensors: list[SensorOut]
    gateways: list[GatewayStateOut]

    @classmethod
    def of(cls, tick: Tick) -> TickOut:
        return cls(
            at=tick.at,
            second=tick.second,
            reads=tick.reads,
            presence=[ZonePresenceOut.of(z) for z in tick.presence],
            sensors=[SensorOut.of(s) for s in tick.sensors],
            gateways=[GatewayStateOut.of(g) for g in tick.gateways],
        )


class SnapshotOut(TickOut):
    rate_start: int = Field(description="The second the first entry of each 'rates' list counts.")
    rates: dict[str, list[int]] = Field(description="Tag reports per zone per second, oldest first.")
    series: dict[str, list[tuple[float, float]]] = Field(
        description="Temperature per sensor: (seconds since the epoch, value) pairs."
    )

    @classmethod
    def of_snapshot(cls, snap: Snapshot) -> SnapshotOut:
        tick = TickOut.of(snap)
        return cls(**dict(tick), rate_start=snap.rate_start, rates=snap.rates, series=snap.series)

"""Value objects of the silent-commerce rules engine: what goes in, and the decisions that come out.

The engine sees only these types. The ingest service builds :class:`Sighting` objects from validated
reads (resolving each tag to an item, member or staff binding) and turns each :class:`Decision` into
database rows, business events and gateway commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from ingest.rules.exitgate import Departure as Departure

ZoneType = Literal["entrance", "shelf", "lane", "exit", "backroom", "cooler"]
ZONE_TYPES: tuple[ZoneType, ...] = ("entrance", "shelf", "lane", "exit", "backroom", "cooler")
TagKind = Literal["item", "member", "staff", "unknown"]
ReadEvent = Literal["seen", "left"]
Severity = Literal["info", "warning", "critical"]
SensorAction = Literal["lock", "unlock", "alarm"]


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    type: ZoneType
    display: str | None = None
    """Name of the pole display (an actuator on some gateway) that shows this zone's messages."""
    alarm: str | None = None
    """Name of the alarm relay that sounds for this zone (exits)."""
    gateway: str | None = None
    """The gateway that owns this zone's actuators; None: the gateway that reported the read."""
    neighbours: tuple[str, ...] = ()
    """Zones a tag may plausibly be read in at the same moment as this one (the clone check skips them)."""


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    price: Decimal
    gtin: str | None = None
    category: str = ""
    reorder_below: int = 0
    home_zones: tuple[str, ...] = ()
    """The shelf or cooler zones where this product belongs (seen elsewhere for a whole cycle: misplaced)."""


@dataclass(frozen=True, slots=True)
class RuleSettings:
    settle_time_s: float = 4.0
    """A lane's basket commits this long after its member's card left the lane."""
    min_rssi: float = -75.0
    """Item reads in a lane weaker than this (dBm) are stray reads and never join a basket."""
    min_reads: int = 2
    """An item must be read at least this many times in a lane before it joins a basket."""
    visit_timeout_s: float = 3600.0
    alarm_repeat_s: float = 30.0
    """The same tag does not raise a second theft alarm within this time."""
    leave_together_s: float = 2.0
    """An item put back at most this long before its member's card left the lane left *with* the member
    (they walked out together): it is restored to the basket when the basket freezes."""
    committed_memory_s: float = 3600.0
    """How long a committed basket's id is remembered (after its commit), so a repeat of its card session (a
    duplicate or late delivery) commits nothing again. Ingest sets it to its ``gap_give_up_s``: no later
    delivery reaches it, and it is how far back a restart takes back the committed baskets."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """One read that a decision rests on."""

    tag: str
    zone: str
    gateway: str
    reader: str
    antenna: int
    rssi: float | None
    count: int
    event: ReadEvent
    at: datetime


@dataclass(slots=True)
class Sighting:
    """One smoothed read, resolved: which tag, what it is bound to, where and when.

    The rules never change one. It is not frozen only because it is built once per read: a frozen dataclass
    sets each field through ``object.__setattr__``, several times the cost of building it."""

    tag: str
    """``EPC:<hex>`` or ``UID:<hex>``."""
    kind: TagKind
    ref: str | None
    """Item: the product SKU (None if the EPC is not in the catalog); member: member id; staff: staff id."""
    zone: Zone
    gateway: str
    reader: str
    antenna: int
    rssi: float | None
    count: int
    event: ReadEvent
    first_seen: datetime
    at: datetime
    """The read's ``last_seen``: when the tag was last read (``seen``) or went silent (``left``)."""
    historical: bool = False
    """Delivered late from a gateway's outbox: updates state but raises no live alarm."""

    def evidence(self) -> Evidence:
        return Evidence(
            self.tag, self.zone.name, self.gateway, self.reader, self.antenna, self.rssi, self.count,
            self.event, self.at,
        )


@dataclass(frozen=True, slots=True)
class OpenVisit:
    """A visit the database holds as open (state handed back to the engine after a restart)."""

    member: str
    zone: str | None
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class StoredLine:
    """One item of a stored, uncommitted basket."""

    tag: str
    sku: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class OpenBasket:
    """A basket the database holds as uncommitted, with its lines (state handed back after a restart)."""

    basket_id: str
    member: str
    lane: str
    opened_at: datetime
    last_change: datetime
    """When an item last joined or left it, or its card left the lane: the newest change the database knows of."""
    lines: tuple[StoredLine, ...]
    held: bool = False
    """Its lane was held (two members present) while it was open: who it belongs to is in doubt."""


@dataclass(frozen=True, slots=True)
class CommittedBasket:
    """A basket the database holds as committed (a transaction), handed back to the engine after a restart:
    a late report of its card session must neither open nor charge it again."""

    basket_id: str
    member: str
    lane: str
    at: datetime
    """When it was committed."""
    trigger: str
    """``settle`` (its card had left the lane ``settle_time_s`` before) or ``exit``."""


# -- decisions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VisitOpened:
    member: str
    zone: str
    at: datetime


@dataclass(frozen=True, slots=True)
class VisitClosed:
    member: str
    at: datetime
    reason: Literal["exit", "timeout", "transaction"]


@dataclass(frozen=True, slots=True)
class BasketChanged:
    """An item joined (``added``) or was put back from (``removed``) a member's basket in a lane."""

    basket_id: str
    member: str
    lane: str
    tag: str
    sku: str
    change: Literal["added", "removed"]
    at: datetime
    evidence: tuple[Evidence, ...] = ()
    rule: str = ""
    """The rule that decided (a stable name: ``lane-basket``, ``exit-gate``, ``lane-conflict``, …)."""
    params: tuple[tuple[str, str], ...] = ()
    """The rule's thresholds, as strings."""
    zone_sequence: tuple[str, ...] = ()
    """The zones the tag(s) involved were read in, in time order (repeats collapsed)."""


@dataclass(frozen=True, slots=True)
class BasketSettling:
    """The member's card left the lane at ``at``: the basket commits at ``settles_at`` unless they come back.
    Ingest stores when, so that after a restart an older report of the card is known to be stale."""

    basket_id: str
    member: str
    lane: str
    at: datetime
    settles_at: datetime


@dataclass(frozen=True, slots=True)
class BasketHeld:
    """No guess: more than one member in the lane, so nothing there is charged until it clears."""

    lane: str
    members: tuple[str, ...]
    at: datetime
    evidence: tuple[Evidence, ...] = ()
    rule: str = ""
    params: tuple[tuple[str, str], ...] = ()
    zone_sequence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TransactionLine:
    tag: str
    sku: str
    name: str
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class TransactionCommitted:
    """A basket became a sale. ``transaction_id`` equals the basket id: a basket commits once."""

    transaction_id: str
    member: str
    lane: str
    lines: tuple[TransactionLine, ...]
    total: Decimal
    points: int
    at: datetime
    trigger: Literal["settle", "exit"]
    display: str | None
    gateway: str | None
    evidence: tuple[Evidence, ...] = ()
    rule: str = ""
    params: tuple[tuple[str, str], ...] = ()
    zone_sequence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TheftAlarm:
    """An unsold item passed the exit: sound ``alarm`` on ``gateway``."""

    tag: str
    sku: str | None
    zone: str
    gateway: str
    alarm: str | None
    at: datetime
    evidence: tuple[Evidence, ...] = ()
    rule: str = ""
    params: tuple[tuple[str, str], ...] = ()
    zone_sequence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ItemMoved:
    """An item's last known location changed (shelf, backroom, cooler, lane)."""

    tag: str
    sku: str | None
    zone: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    severity: Literal["info", "warning", "critical"]
    message: str
    at: datetime
    zone: str | None = None
    tag: str | None = None
    member: str | None = None
    evidence: tuple[Evidence, ...] = ()
    details: dict[str, str] = field(default_factory=dict)
    rule: str = ""
    params: tuple[tuple[str, str], ...] = ()
    zone_sequence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ItemReturned:
    """A sold item came back into stock: it is sellable again and guards the exit again."""

    tag: str
    sku: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class AllowTags:
    """These tags may leave through the exits without an alarm (they joined a basket or were sold)."""

    tags: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class DisallowTags:
    """These tags may no longer leave without an alarm (put back, or returned)."""

    tags: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class SensorReading:
    """One sensor sample as the rules see it: which sensor, its kind and zone, the value and when."""

    sensor: str
    kind: str
    value: float
    at: datetime
    zone: str | None = None
    gateway: str | None = None
    """The gateway that reported the sample (commands of a rule without a gateway of its own go there)."""
    unit: str = ""


@dataclass(frozen=True, slots=True)
class SensorAlarmRaised:
    """A sensor's value stayed past a rule's threshold for the rule's duration (``since`` → ``at``)."""

    rule: str
    sensor: str
    zone: str | None
    value: float
    threshold: float
    since: datetime
    at: datetime
    severity: Severity = "warning"
    message: str = ""
    gateway: str | None = None
    """Where the rule's display and actuator commands go."""
    display: str | None = None
    actuator: str | None = None
    action: SensorAction | None = None
    evidence: tuple[SensorReading, ...] = ()
    """The first sample past the threshold and the one that completed the duration."""


@dataclass(frozen=True, slots=True)
class SensorAlarmCleared:
    """The value came back past the rule's ``clear_at``; ``duration_s``: how long it was out (since → at)."""

    rule: str
    sensor: str
    zone: str | None
    value: float
    at: datetime
    duration_s: float
    gateway: str | None = None
    display: str | None = None
    """The display that showed the rule's message (cleared now)."""


@dataclass(frozen=True, slots=True)
class InventoryCycleReport:
    """The end of one zone's inventory cycle (the ALE event cycle): the tags read in it (``current``), those
    new since the previous cycle (``additions``) and those no longer read (``deletions``); sorted."""

    zone: str
    cycle: int
    """The cycle's number: its start is ``cycle * cycle_s`` seconds after 1970-01-01 UTC."""
    at: datetime
    """When the cycle ended."""
    current: tuple[str, ...]
    additions: tuple[str, ...]
    deletions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ItemMissing:
    """An in-store item was read in no zone for ``missing_after_cycles`` inventory cycles."""

    tag: str
    sku: str
    last_zone: str | None
    last_seen: datetime | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ItemFound:
    """A missing item was read again (in ``zone``): it is back in stock."""

    tag: str
    sku: str
    zone: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ItemMisplaced:
    """An item was read through a whole inventory cycle on a shelf or cooler that is not one of its homes."""

    tag: str
    sku: str
    zone: str
    home_zones: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class StockLow:
    """Fewer than ``threshold`` (the product's ``reorder_below``) items of a product were present in a zone at
    the end of an inventory cycle: replenish."""

    sku: str
    name: str
    zone: str
    count: int
    threshold: int
    at: datetime


@dataclass(frozen=True, slots=True)
class StockRestored:
    """The zone holds at least the product's ``reorder_below`` again at a cycle end."""

    sku: str
    zone: str
    count: int
    at: datetime


Decision = (
    VisitOpened
    | VisitClosed
    | BasketChanged
    | BasketSettling
    | BasketHeld
    | TransactionCommitted
    | TheftAlarm
    | ItemMoved
    | Alert
    | SensorAlarmRaised
    | SensorAlarmCleared
    | Departure
    | ItemReturned
    | AllowTags
    | DisallowTags
    | InventoryCycleReport
    | ItemMissing
    | ItemFound
    | ItemMisplaced
    | StockLow
    | StockRestored
)

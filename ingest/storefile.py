"""The store file (TOML): layout, catalog, members, staff, the tagged items in stock and sensor rules.

A trust boundary, so it is read strictly: unknown keys are errors, every value is checked, and the
references between sections must hold (an item's SKU exists, a tag is bound once, names are unique).
:func:`load_store_file` raises :class:`StoreFileError` whose message names the file, the field
(``products[3].price``) and what was expected.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from contract.topics import NAME_PATTERN
from crm.settings import CrmSettings
from ingest.rules.exitgate import ExitGate
from ingest.rules.inventory import InventorySettings
from ingest.rules.model import Product, RuleSettings, SensorAction, Severity, TagKind, Zone, ZoneType
from ingest.rules.sensors import SensorRule
from ingest.storefile_crm import ConsentEntry, CrmSection, DealEntry, HouseholdEntry, TagPeriod, _Section

Name = Annotated[str, StringConstraints(pattern=f"^{NAME_PATTERN}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")]
Tag = Annotated[
    str,
    StringConstraints(pattern=r"^(?:EPC:(?:[0-9A-Fa-f]{2}){2,62}|UID:[0-9A-Fa-f]{4,32})$"),
]


_DEFAULTS = RuleSettings()
_INVENTORY = InventorySettings()


class StoreFileError(ValueError):
    """A store file that cannot be used; ``problems`` lists ``field: what was wrong`` lines."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = tuple(problems)
        super().__init__(f"{self.path}: " + "; ".join(problems))


class StoreSection(_Section):
    id: Name
    name: Text
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "EUR"


class RulesSection(_Section):
    settle_time_s: float = Field(default=_DEFAULTS.settle_time_s, ge=0, le=3600)
    min_rssi: float = Field(default=_DEFAULTS.min_rssi, ge=-150, le=30)
    min_reads: int = Field(default=_DEFAULTS.min_reads, ge=1, le=1000)
    visit_timeout_s: float = Field(default=_DEFAULTS.visit_timeout_s, gt=0)
    alarm_repeat_s: float = Field(default=_DEFAULTS.alarm_repeat_s, ge=0)
    leave_together_s: float = Field(default=_DEFAULTS.leave_together_s, ge=0, le=60)


class ZoneEntry(_Section):
    name: Name
    type: ZoneType
    display: Name | None = None
    alarm: Name | None = None
    gateway: Name | None = None
    neighbours: list[Name] = Field(default_factory=list)


_GATE = ExitGate("", "", "")


class ExitEntry(_Section):
    """``[[exits]]``: a gate of two exit zones; leaving is ``inner`` then ``outer`` (see :mod:`ingest.rules.exitgate`)."""

    name: Name
    inner: Name
    outer: Name
    alarm: Name | None = None
    gateway: Name | None = None
    decide_at: Literal["edge", "ingest"] = "edge"
    window_s: float = Field(default=_GATE.window_s, gt=0, le=60)
    min_reads: int = Field(default=_GATE.min_reads, ge=1, le=1000)
    min_rssi: float = Field(default=_GATE.min_rssi, ge=-150, le=30)
    chatter_window_s: float = Field(default=_GATE.chatter_window_s, ge=0, le=86400)
    chatter_limit: int = Field(default=_GATE.chatter_limit, ge=1, le=100000)

    def gate(self) -> ExitGate:
        return ExitGate(
            self.name, self.inner, self.outer, self.window_s, self.min_reads, self.min_rssi,
            self.chatter_window_s, self.chatter_limit, self.alarm, self.gateway,
        )


class SensorRuleEntry(_Section):
    """``[[sensor_rules]]``: raise when a sensor is past ``above`` (or ``below``) for ``for_s`` seconds, clear
    once it is back past ``clear_at`` (see :mod:`ingest.rules.sensors`)."""

    name: Name
    sensor: Name | None = None
    kind: Literal["temperature", "humidity", "door", "power"] | None = None
    zone: Name | None = None
    above: float | None = Field(default=None, ge=-1e9, le=1e9)
    below: float | None = Field(default=None, ge=-1e9, le=1e9)
    for_s: float = Field(ge=0, le=86400)
    clear_at: float = Field(ge=-1e9, le=1e9)
    severity: Severity = "warning"
    message: Text | None = None
    display: Name | None = None
    actuator: Name | None = None
    action: SensorAction | None = None
    gateway: Name | None = None

    def problems(self, where: str) -> list[str]:
        """What does not hold between this rule's own fields (``where``: ``sensor_rules[0]``)."""
        problems: list[str] = []
        if (self.above is None) == (self.below is None):
            problems.append(f"{where}.above: give exactly one of above and below")
        if self.sensor is None and self.kind is None:
            problems.append(f"{where}.sensor: give a sensor name, or a kind (and zone)")
        if self.above is not None and self.below is None and self.clear_at > self.above:
            problems.append(f"{where}.clear_at: expected at most above ({self.above}), got {self.clear_at}")
        if self.below is not None and self.above is None and self.clear_at < self.below:
            problems.append(f"{where}.clear_at: expected at least below ({self.below}), got {self.clear_at}")
        if self.display is not None and self.message is None:
            problems.append(f"{where}.message: required when display is given (the text it shows)")
        if (self.actuator is None) != (self.action is None):
            missing = "action" if self.action is None else "actuator"
            problems.append(f"{where}.{missing}: give both actuator and action, or neither")
        return problems

    def rule(self) -> SensorRule:
        return SensorRule(
            name=self.name, clear_at=self.clear_at, above=self.above, below=self.below, for_s=self.for_s,
            sensor=self.sensor, kind=self.kind, zone=self.zone, severity=self.severity,
            message=self.message or self._default_message(), display=self.display, actuator=self.actuator,
            action=self.action, gateway=self.gateway,
        )

    def _default_message(self) -> str:
        what = self.sensor or f"{self.kind} in {self.zone or 'any zone'}"
        past = f"above {self.above}" if self.above is not None else f"below {self.below}"
        return f"{what} {past} for {self.for_s:g} s"


def _gtin_check_digit_ok(digits: str) -> bool:
    body, check = digits[:-1], int(digits[-1])
    weighted = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - weighted % 10) % 10 == check


class ProductEntry(_Section):
    sku: Ident
    name: Text
    price: Decimal = Field(ge=0, max_digits=12, decimal_places=4)
    gtin: str | None = None
    category: Annotated[str, StringConstraints(max_length=64)] = ""
    reorder_below: int = Field(default=0, ge=0)
    home_zones: list[Name] = Field(default_factory=list)
    brand: Literal["national", "store"] = "national"
    sensitive: bool = False

    @field_validator("price", mode="before")
    @classmethod
    def _price_is_a_number(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("expected a decimal price as a string (\"1.29\") or a number")
        return str(value) if isinstance(value, float) else value

    @field_validator("gtin")
    @classmethod
    def _gtin14(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.isdigit() or len(value) not in (8, 12, 13, 14):
            raise ValueError(f"expected a GTIN of 8, 12, 13 or 14 digits, got {value!r}")
        if not _gtin_check_digit_ok(value):
            raise ValueError(f"GTIN {value!r} has a wrong check digit")
        return value.zfill(14)


class PersonEntry(_Section):
    """A member or staff member. ``tags`` holds plain tags (``"UID:…"``) and tags valid for a period
    (``{tag = "UID:…", valid_from = …, valid_to = …}``); the latter are also listed in ``tag_periods``."""

    id: Ident
    name: Text
    tags: list[Tag] = Field(default_factory=list)
    tag_periods: list[TagPeriod] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _split_tag_periods(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("tags"), list):
            return data
        periods = [tag for tag in data["tags"] if isinstance(tag, dict)]
        if not periods:
            return data
        plain = [tag["tag"] if isinstance(tag, dict) and "tag" in tag else tag for tag in data["tags"]]
        return {**data, "tags": plain, "tag_periods": [*data.get("tag_periods", []), *periods]}

    @field_validator("tags")
    @classmethod
    def _upper(cls, tags: list[str]) -> list[str]:
        return [_norm_tag(tag) for tag in tags]

    @field_validator("tag_periods")
    @classmethod
    def _upper_periods(cls, periods: list[TagPeriod]) -> list[TagPeriod]:
        return [p.model_copy(update={"tag": _norm_tag(p.tag)}) for p in periods]

    def validity(self, tag: str) -> tuple[AwareDatetime | None, AwareDatetime | None]:
        """The period in which ``tag`` is this person's: (valid_from, valid_to); (None, None) = always."""
        found = next((p for p in self.tag_periods if p.tag == tag), None)
        return (None, None) if found is None else (found.valid_from, found.valid_to)


class MemberEntry(PersonEntry):
    """A member: a person plus household, join date, consent and how often the store may contact them."""

    household: Ident | None = None
    joined_at: AwareDatetime | None = None
    consent: ConsentEntry = ConsentEntry()
    max_contacts_per_week: int = Field(default=2, ge=0, le=100)


class ItemEntry(_Section):
    tag: Tag
    sku: Ident
    zone: Name | None = None

    @field_validator("tag")
    @classmethod
    def _upper(cls, tag: str) -> str:
        return _norm_tag(tag)


def _norm_tag(tag: str) -> str:
    scheme, _, value = tag.partition(":")
    return f"{scheme}:{value.upper()}"


@dataclass(frozen=True, slots=True)
class TagBinding:
    """What a tag stands for: an item of a product (``ref`` = SKU), a member or staff (``ref`` = id)."""

    tag: str
    kind: TagKind
    ref: str


class InventorySection(_Section):
    """``[inventory]``: ALE-style inventory cycles of the shelf, backroom and cooler zones (see
    :mod:`ingest.rules.inventory`). Without this section the store runs no inventory cycles."""

    cycle_s: float = Field(default=_INVENTORY.cycle_s, ge=1, le=86400)
    missing_after_cycles: int = Field(default=_INVENTORY.missing_after_cycles, ge=1, le=10000)

    def settings(self) -> InventorySettings:
        return InventorySettings(cycle_s=self.cycle_s, missing_after_cycles=self.missing_after_cycles)


class StoreFile(_Section):
    store: StoreSection
    rules: RulesSection = RulesSection()
    zones: list[ZoneEntry] = Field(default_factory=list)
    products: list[ProductEntry] = Field(default_factory=list)
    members: list[MemberEntry] = Field(default_factory=list)
    staff: list[PersonEntry] = Field(default_factory=list)
    items: list[ItemEntry] = Field(default_factory=list)
    sensor_rules: list[SensorRuleEntry] = Field(default_factory=list)
    exits: list[ExitEntry] = Field(default_factory=list)
    inventory: InventorySection | None = None
    crm: CrmSection = CrmSection()
    households: list[HouseholdEntry] = Field(default_factory=list)
    deals: list[DealEntry] = Field(default_factory=list)

    def zones_by_name(self) -> dict[str, Zone]:
        return {
            z.name: Zone(z.name, z.type, z.display, z.alarm, z.gateway, tuple(z.neighbours)) for z in self.zones
        }

    def products_by_sku(self) -> dict[str, Product]:
        return {
            p.sku: Product(p.sku, p.name, p.price, p.gtin, p.category, p.reorder_below, tuple(p.home_zones))
            for p in self.products
        }

    def exit_gates(self) -> list[ExitGate]:
        """The ``[[exits]]`` as gates for :class:`ingest.rules.exitgate.ExitGateDetector`."""
        return [entry.gate() for entry in self.exits]

    def edge_exits(self) -> frozenset[str]:
        """Names of the gates whose alarm the gateway decides (``decide_at = "edge"``)."""
        return frozenset(entry.name for entry in self.exits if entry.decide_at == "edge")

    def products_by_gtin(self) -> dict[str, Product]:
        """GTIN-14 -> product: SGTIN-96 EPCs of that GTIN bind to it."""
        by_sku = self.products_by_sku()
        return {p.gtin: by_sku[p.sku] for p in self.products if p.gtin is not None}

    def rule_settings(self) -> RuleSettings:
        return RuleSettings(**self.rules.model_dump())

    def inventory_settings(self) -> InventorySettings | None:
        """The ``[inventory]`` cycles, or None when the store file has no such section (no cycles)."""
        return self.inventory.settings() if self.inventory is not None else None

    def tag_bindings(self) -> dict[str, TagBinding]:
        """Every explicitly bound tag: member cards and wristbands, staff cards, item tags."""
        bindings: dict[str, TagBinding] = {}
        for member in self.members:
            bindings.update((tag, TagBinding(tag, "member", member.id)) for tag in member.tags)
        for person in self.staff:
            bindings.update((tag, TagBinding(tag, "staff", person.id)) for tag in person.tags)
        bindings.update((item.tag, TagBinding(item.tag, "item", item.sku)) for item in self.items)
        return bindings

    def rules_for_sensors(self) -> list[SensorRule]:
        """The ``[[sensor_rules]]`` as rules for :class:`ingest.rules.sensors.SensorRules`."""
        return [entry.rule() for entry in self.sensor_rules]

    def initial_locations(self) -> dict[str, str]:
        """Item tag -> the zone it is stocked in at the start (items given a ``zone``)."""
        return {item.tag: item.zone for item in self.items if item.zone is not None}

    def reference_problems(self) -> list[str]:
        """What does not hold between the sections (empty: the file is consistent)."""
        problems: list[str] = []
        _unique(problems, "zones", "name", [z.name for z in self.zones])
        _unique(problems, "products", "sku", [p.sku for p in self.products])
        _unique(problems, "products", "gtin", [p.gtin for p in self.products])
        _unique(problems, "members", "id", [m.id for m in self.members])
        _unique(problems, "staff", "id", [s.id for s in self.staff])
        _unique(problems, "sensor_rules", "name", [r.name for r in self.sensor_rules])
        zone_names = {z.name for z in self.zones}
        skus = {p.sku for p in self.products}
        bound: dict[str, str] = {}
        periods: dict[str, list[TagPeriod]] = {}
        for section, people in (("members", self.members), ("staff", self.staff)):
            for i, person in enumerate(people):
                for j, tag in enumerate(person.tags):
                    where = f"{section}[{i}].tags[{j}]"
                    period = next((p for p in person.tag_periods if p.tag == tag), None)
                    if period is None:
                        _bind_once(problems, bound, tag, where)
                        continue
                    if period.valid_from is not None and period.valid_to is not None \
                            and period.valid_to <= period.valid_from:
                        problems.append(f"{where}.valid_to: expected after valid_from, got {period.valid_to}")
                    others = periods.setdefault(tag, [])
                    if any(period.overlaps(other) for other in others) or (tag in bound and not others):
                        problems.append(f"{where}: tag {tag} is already bound for an overlapping period; "
                                        f"a tag is bound to one person at a time")
                    else:
                        bound.setdefault(tag, where)
                    others.append(period)
        for i, item in enumerate(self.items):
            _bind_once(problems, bound, item.tag, f"items[{i}].tag")
            if item.sku not in skus:
                problems.append(f"items[{i}].sku: {item.sku!r} is not the sku of any of [[products]]")
            if item.zone is not None and item.zone not in zone_names:
                problems.append(f"items[{i}].zone: {item.zone!r} is not the name of any of [[zones]]")
        zone_types = {z.name: z.type for z in self.zones}
        for i, zone in enumerate(self.zones):
            for j, other in enumerate(zone.neighbours):
                if other not in zone_names or other == zone.name:
                    problems.append(f"zones[{i}].neighbours[{j}]: {other!r} is not the name of another of [[zones]]")
        for i, product in enumerate(self.products):
            for j, home in enumerate(product.home_zones):
                if home not in zone_names:
                    problems.append(f"products[{i}].home_zones[{j}]: {home!r} is not the name of any of [[zones]]")
        _unique(problems, "exits", "name", [e.name for e in self.exits])
        gate_of: dict[str, str] = {}
        for i, entry in enumerate(self.exits):
            for side in ("inner", "outer"):
                zone_name = getattr(entry, side)
                if zone_types.get(zone_name) != "exit":
                    problems.append(f"exits[{i}].{side}: {zone_name!r} is not the name of a zone of type exit")
                elif zone_name in gate_of:
                    problems.append(f"exits[{i}].{side}: zone {zone_name!r} already belongs to {gate_of[zone_name]}")
                else:
                    gate_of[zone_name] = f"exits[{i}]"
            if entry.inner == entry.outer:
                problems.append(f"exits[{i}].outer: must be another zone than inner ({entry.inner!r})")
        problems.extend(self.crm_problems())
        for i, rule in enumerate(self.sensor_rules):
            problems.extend(rule.problems(f"sensor_rules[{i}]"))
            if rule.zone is not None and rule.zone not in zone_names:
                problems.append(f"sensor_rules[{i}].zone: {rule.zone!r} is not the name of any of [[zones]]")
        return problems


    def crm_problems(self) -> list[str]:
        """What does not hold in ``[crm]``, ``[[deals]]``, ``[[households]]`` and members' households."""
        problems = self.crm.problems()
        _unique(problems, "households", "id", [h.id for h in self.households])
        _unique(problems, "deals", "id", [d.id for d in self.deals])
        households = {h.id for h in self.households}
        for i, member in enumerate(self.members):
            if member.household is not None and member.household not in households:
                problems.append(f"members[{i}].household: {member.household!r} is not the id of any of [[households]]")
        skus = {p.sku for p in self.products}
        categories = {p.category for p in self.products}
        for i, deal in enumerate(self.deals):
            problems.extend(deal.problems(f"deals[{i}]"))
            if deal.sku is not None and deal.sku not in skus:
                problems.append(f"deals[{i}].sku: {deal.sku!r} is not the sku of any of [[products]]")
            if deal.category is not None and deal.category not in categories:
                problems.append(f"deals[{i}].category: {deal.category!r} is not the category of any of [[products]]")
        lane = self.crm.fast_lane
        if lane is not None and lane.zone not in {z.name for z in self.zones}:
            problems.append(f"crm.fast_lane.zone: {lane.zone!r} is not the name of any of [[zones]]")
        return problems

    def crm_settings(self) -> CrmSettings:
        """The ``[crm]`` thresholds (defaults when the section is absent)."""
        return self.crm.settings()


def _unique(problems: list[str], section: str, key: str, values: list[str | None]) -> None:
    first: dict[str, int] = {}
    for i, value in enumerate(values):
        if value is None:
            continue
        if value in first:
            problems.append(f"{section}[{i}].{key}: {value!r} is already used by {section}[{first[value]}]")
        else:
            first[value] = i


def _bind_once(problems: list[str], bound: dict[str, str], tag: str, where: str) -> None:
    if tag in bound:
        problems.append(f"{where}: tag {tag} is already bound by {bound[tag]}; a tag is bound once")
    else:
        bound[tag] = where


def _field(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(file)"


def _describe(error: Any) -> str:
    kind, message, value = error["type"], error["msg"], error.get("input")
    if kind == "extra_forbidden":
        return f"{_field(error['loc'])}: unknown key (not part of the store file format)"
    if kind == "missing":
        return f"{_field(error['loc'])}: required but missing"
    message = message.removeprefix("Value error, ")
    message = message.replace("Input should be", "expected").replace("String should", "expected to")
    if kind == "literal_error" or kind.startswith(("string_", "greater", "less", "decimal")):
        message = f"{message}, got {value!r}"
    return f"{_field(error['loc'])}: {message}"


def parse_store_file(data: dict[str, Any], source: Path | str = "<store file>") -> StoreFile:
    """Validate a parsed store file; raises :class:`StoreFileError` naming each wrong field."""
    try:
        store_file = StoreFile.model_validate(data)
    except ValidationError as exc:
        raise StoreFileError(source, [_describe(e) for e in exc.errors()]) from None
    problems = store_file.reference_problems()
    if problems:
        raise StoreFileError(source, problems)
    return store_file


def load_store_file(path: Path | str) -> StoreFile:
    """Read and check a store file (TOML)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreFileError(path, [f"cannot be read ({exc.__class__.__name__}: {exc})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StoreFileError(path, [f"not valid TOML: {exc}"]) from None
    return parse_store_file(data, path)


__all__ = [
    "ExitEntry",
    "InventorySection",
    "ItemEntry",
    "MemberEntry",
    "PersonEntry",
    "ProductEntry",
    "RulesSection",
    "SensorRuleEntry",
    "StoreFile",
    "StoreFileError",
    "StoreSection",
    "TagBinding",
    "ZoneEntry",
    "load_store_file",
    "parse_store_file",
]

"""What the live page shows between database queries: presence per zone, reads per second, sensors,
gateway status. Pure: every method takes the time it is called at; nothing here does I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

TagKind = Literal["member", "item", "staff", "unknown"]
RATE_WINDOW_S = 600
SERIES_POINTS = 1200


@dataclass(frozen=True, slots=True)
class TagIdentity:
    """What a tag is bound to, as the repository knows it."""

    tag: str
    kind: TagKind = "unknown"
    ref: str | None = None
    """SKU of an item, id of a member or staff card."""
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ZoneRead:
    """One smoothed read reduced to what presence needs."""

    tag: str
    zone: str
    event: Literal["seen", "left"]
    gateway: str
    reader: str
    rssi: float | None = None


@dataclass(frozen=True, slots=True)
class PresentTag:
    tag: str
    kind: TagKind
    ref: str | None
    name: str | None
    gateway: str
    reader: str
    rssi: float | None
    since: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class ZonePresence:
    zone: str
    members: tuple[PresentTag, ...]
    items: tuple[PresentTag, ...]
    others: tuple[PresentTag, ...]


@dataclass(frozen=True, slots=True)
class SensorValue:
    sensor: str
    kind: str
    value: float
    unit: str
    zone: str | None
    gateway: str
    at: datetime


@dataclass(frozen=True, slots=True)
class GatewayState:
    store: str
    gateway: str
    state: Literal["online", "offline"]
    at: datetime
    version: str = ""
    devices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Tick:
    """What the live feed sends each second: presence now and the last whole second's reads."""

    at: float
    second: int
    reads: dict[str, int]
    presence: tuple[ZonePresence, ...]
    sensors: tuple[SensorValue, ...]
    gateways: tuple[GatewayState, ...]


@dataclass(frozen=True, slots=True)
class Snapshot(Tick):
    """A tick plus history: reads per zone per second and the temperature series."""

    rate_start: int = 0
    rates: dict[str, list[int]] = field(default_factory=dict)
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


class LiveState:
    """Presence, reads per second (last ``RATE_WINDOW_S`` seconds), sensors and gateway status."""

    def __init__(self, presence_ttl_s: float = 5.0) -> None:
        self.presence_ttl_s = presence_ttl_s
        self._present: dict[str, dict[str, PresentTag]] = {}
        self._rates: dict[str, deque[tuple[int, int]]] = {}
        self._sensors: dict[str, SensorValue] = {}
        self._series: dict[str, deque[tuple[float, float]]] = {}
        self._gateways: dict[tuple[str, str], GatewayState] = {}

    # -- input ------------------------------------------------------------------------------------

    def apply_reads(self, reads: Iterable[ZoneRead], identities: Mapping[str, TagIdentity], now: float) -> None:
        second = int(now)
        for read in reads:
            self._count(read.zone, second)
            zone = self._present.setdefault(read.zone, {})
            if read.event == "left":
                zone.pop(read.tag, None)
                continue
            known = identities.get(read.tag, TagIdentity(read.tag))
            before = zone.get(read.tag)
            zone[read.tag] = PresentTag(
                tag=read.tag,
                kind=known.kind,
                ref=known.ref,
                name=known.name,
                gateway=read.gateway,
                reader=read.reader,
                rssi=read.rssi,
                since=before.since if before is not None else now,
                last_seen=now,
            )

    def apply_sensor(self, value: SensorValue) -> None:
        self._sensors[value.sensor] = value
        if value.kind == "temperature":
            series = self._series.setdefault(value.sensor, deque(maxlen=SERIES_POINTS))
            series.append((value.at.timestamp(), value.value))

    def apply_status(self, status: GatewayState) -> None:
        self._gateways[(status.store, status.gateway)] = status

    def know_zones(self, zones: Iterable[str]) -> None:
        """Zones from the store layout: shown even while nothing is in them."""
        for zone in zones:
            self._present.setdefault(zone, {})

    def expire(self, now: float) -> list[str]:
        """Forget tags not re-reported within the presence TTL; return the zones that changed."""
        changed = []
        for zone, tags in self._present.items():
            stale = [tag for tag, entry in tags.items() if now - entry.last_seen > self.presence_ttl_s]
            for tag in stale:
                del tags[tag]
            if stale:
                changed.append(zone)
        cutoff = int(now) - RATE_WINDOW_S
        for buckets in self._rates.values():
            while buckets and buckets[0][0] <= cutoff:
                buckets.popleft()
        for series in self._series.values():
            while series and series[0][0] < now - RATE_WINDOW_S:
                series.popleft()
        return changed

    # -- output -----------------------------------------------------------------------------------

    def reads_in(self, zone: str, second: int) -> int:
        for at, count in reversed(self._rates.get(zone, ())):
            if at == second:
                return count
            if at < second:
                break
        return 0

    def presence(self) -> tuple[ZonePresence, ...]:
        out = []
        for zone in sorted(self._present):
            entries = sorted(self._present[zone].values(), key=lambda e: (e.since, e.tag))
            out.append(
                ZonePresence(
                    zone=zone,
                    members=tuple(e for e in entries if e.kind in ("member", "staff")),
                    items=tuple(e for e in entries if e.kind == "item"),
                    others=tuple(e for e in entries if e.kind == "unknown"),
                )
            )
        return tuple(out)

    def tick(self, now: float) -> Tick:
        """Presence now and the reads of the last complete second."""
        last = int(now) - 1
        return Tick(
            at=now,
            second=last,
            reads={zone: self.reads_in(zone, last) for zone in sorted(self._zones())},
            presence=self.presence(),
            sensors=tuple(self._sensors[name] for name in sorted(self._sensors)),
            gateways=tuple(self._gateways[key] for key in sorted(self._gateways)),
        )

    def snapshot(self, now: float) -> Snapshot:
        tick = self.tick(now)
        start = tick.second - RATE_WINDOW_S + 1
        rates: dict[str, list[int]] = {}
        for zone in tick.reads:
            per_second = [0] * RATE_WINDOW_S
            for at, count in self._rates.get(zone, ()):
                if start <= at <= tick.second:
                    per_second[at - start] = count
            rates[zone] = per_second
        return Snapshot(
            at=tick.at,
            second=tick.second,
            reads=tick.reads,
            presence=tick.presence,
            sensors=tick.sensors,
            gateways=tick.gateways,
            rate_start=start,
            rates=rates,
            series={name: list(points) for name, points in sorted(self._series.items())},
        )

    def _zones(self) -> set[str]:
        return set(self._present) | set(self._rates)

    def _count(self, zone: str, second: int) -> None:
        buckets = self._rates.setdefault(zone, deque())
        if buckets and buckets[-1][0] == second:
            buckets[-1] = (second, buckets[-1][1] + 1)
        else:
            buckets.append((second, 1))

"""Anomalies the store should look at, and the zone trail every decision explains itself with.

Pure, like the engine that owns it (time comes from the sightings). Only strong ``seen`` reads
(``rssi >= min_rssi``, or no RSSI) of bound tags count: a weak read is a stray from a neighbouring zone.

* **clone** — the same tag read strongly in two zones that are neither the same nor neighbours (either
  zone's ``neighbours`` lists the other, or both are the inner and outer zone of one exit gate), and either
  the two read spans ``[first_seen, at]`` overlap by more than ``clone_overlap_s``, or the reads go back and forth (zone A, zone B, zone A
  again less than ``clone_window_s`` after A was last read). A tag carried from A to B is read in A, then
  in B, never both at once and never back within seconds: two tags carry the same code. A late report older
  than the tag's newest is only checked for overlap. At most one alert per tag per ``repeat_s``.
* **sold_item_in_store** — a sold item read strongly in a shelf, lane, backroom or cooler zone more than
  ``sold_grace_s`` after it was sold (a paid basket still in the lane is not an anomaly). Once per sale: a
  return or a new sale arms it again.
* **Zone trail** — per tag, the last ``TRAIL`` zones of its strong reads in order, repeats collapsed: the
  ``zone_sequence`` of the decisions about it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.rules.model import Alert, Evidence, Sighting, Zone

TRAIL = 8
IN_STORE = frozenset({"shelf", "lane", "backroom", "cooler"})
_PRUNE = 65536


@dataclass(slots=True)
class _Seen:
    """A tag's run of reads in one zone (updated in place while the tag stays there: the common case)."""

    zone: str
    first: datetime
    last: datetime
    evidence: Evidence


class AnomalyWatch:
    """Zone trails, clone and sold-item checks; :meth:`observe` returns the alerts one sighting raises."""

    def __init__(
        self,
        zones: Mapping[str, Zone],
        *,
        min_rssi: float,
        gate_pairs: Iterable[tuple[str, str]] = (),
        clone_window_s: float = 2.0,
        clone_overlap_s: float = 1.0,
        sold_grace_s: float = 30.0,
        repeat_s: float = 30.0,
    ) -> None:
        self.min_rssi = min_rssi
        self.clone_window = timedelta(seconds=clone_window_s)
        self.clone_overlap = timedelta(seconds=clone_overlap_s)
        self.sold_grace = timedelta(seconds=sold_grace_s)
        self.repeat = timedelta(seconds=repeat_s)
        self._pairs = frozenset(frozenset(p) for p in gate_pairs)
        self._near: set[frozenset[str]] = set()
        self.update_zones(zones)
        self._last: dict[str, _Seen] = {}
        self._prior: dict[str, _Seen] = {}
        """tag -> its run of reads in the zone before its current zone."""
        self._trail: dict[str, tuple[str, ...]] = {}
        """tag -> its zone trail. A tuple, replaced when the tag changes zones (rarely, against how often it is
        read); a tag that has been in one zone only shares that zone's one-zone trail: a store that reads a
        million items on their shelves holds a dict slot per item, not a sequence each."""
        self._one_zone: dict[str, tuple[str]] = {}
        self._clone_alerted: dict[str, datetime] = {}
        self._sold_at: dict[str, datetime | None] = {}
        """Sold tag -> when it was sold (None: sold before this engine started); removed once alerted."""

    def update_zones(self, zones: Mapping[str, Zone]) -> None:
        self._near = set(self._pairs)
        for zone in zones.values():
            self._near.update(frozenset((zone.name, other)) for other in zone.neighbours)

    def params(self) -> tuple[tuple[str, str], ...]:
        return (("clone_window_s", f"{self.clone_window.total_seconds():g}"),
                ("clone_overlap_s", f"{self.clone_overlap.total_seconds():g}"), ("min_rssi", f"{self.min_rssi:g}"))

    def zone_sequence(self, tag: str) -> tuple[str, ...]:
        return self._trail.get(tag, ())

    def sold(self, tag: str, at: datetime | None) -> None:
        self._sold_at[tag] = at

    def returned(self, tag: str) -> None:
        self._sold_at.pop(tag, None)

    def strong(self, s: Sighting) -> bool:
        return s.rssi is None or s.rssi >= self.min_rssi

    def observe(self, s: Sighting, *, sold: bool) -> list[Alert]:
        if s.event != "seen" or s.kind == "unknown" or not self.strong(s):
            return []
        zone = s.zone.name
        trail = self._trail.get(s.tag)
        if trail is None:
            trail = self._trail[s.tag] = self._one_zone.get(zone) or self._one_zone.setdefault(zone, (zone,))
        elif trail[-1] != zone:
            trail = self._trail[s.tag] = (*trail[1 - TRAIL:], zone)
        out: list[Alert] = []
        self._clone(s, out)
        if sold and s.zone.type in IN_STORE and s.tag in self._sold_at:
            sold_at = self._sold_at[s.tag]
            if sold_at is None or s.at - sold_at > self.sold_grace:
                del self._sold_at[s.tag]
                out.append(Alert(
                    kind="sold_item_in_store", severity="warning", at=s.at, zone=s.zone.name, tag=s.tag,
                    message=f"item {s.tag} ({s.ref or 'no product'}) was sold but is read in {s.zone.name} again",
                    evidence=(s.evidence(),), details={"sku": s.ref or ""}, rule="sold-item-in-store",
                    params=(("sold_grace_s", f"{self.sold_grace.total_seconds():g}"),
                            ("min_rssi", f"{self.min_rssi:g}")),
                    zone_sequence=trail,
                ))
        return out

    def forget(self, now: datetime) -> None:
        """Bound memory: drop clone look-backs older than the window once there are many."""
        if len(self._last) > _PRUNE:
            horizon = now - self.clone_window
            self._last = {tag: seen for tag, seen in self._last.items() if seen.last >= horizon}
            self._prior = {tag: seen for tag, seen in self._prior.items() if tag in self._last}
        if len(self._clone_alerted) > _PRUNE:
            horizon = now - self.repeat
            self._clone_alerted = {tag: at for tag, at in self._clone_alerted.items() if at > horizon}

    def _clone(self, s: Sighting, out: list[Alert]) -> None:
        first = min(s.first_seen, s.at)
        previous = self._last.get(s.tag)
        if previous is not None and previous.zone == s.zone.name:  # the common case: still where it was
            if s.at > previous.last:
                previous.last = s.at
                if first < previous.first:
                    previous.first = first
            return
        now = _Seen(s.zone.name, first, s.at, s.evidence())
        if previous is None:
            self._last[s.tag] = now
            return
        # Two read zones' edges overlap by a moment when a tag is carried across, and two gateways' clocks
        # differ a little: only an overlap longer than that is two tags at once.
        overlap = min(previous.last, s.at) - max(first, previous.first) > self.clone_overlap
        back = False
        if s.at >= previous.last:
            prior = self._prior.get(s.tag)
            back = prior is not None and prior.zone == s.zone.name and first - prior.last < self.clone_window
            self._prior[s.tag] = previous
            self._last[s.tag] = now
        if not (overlap or back) or frozenset((previous.zone, s.zone.name)) in self._near:
            return
        alerted = self._clone_alerted.get(s.tag)
        if alerted is not None and abs(s.at - alerted) < self.repeat:
            return
        self._clone_alerted[s.tag] = s.at
        zones = sorted((previous.zone, s.zone.name))
        out.append(Alert(
            kind="clone", severity="critical", at=s.at, zone=s.zone.name, tag=s.tag,
            message=f"tag {s.tag} was read in {zones[0]} and {zones[1]} at the same time: two tags carry one code",
            evidence=(previous.evidence, s.evidence()), details={"zones": ",".join(zones), "ref": s.ref or ""},
            rule="clone", params=self.params(), zone_sequence=(previous.zone, s.zone.name),
        ))

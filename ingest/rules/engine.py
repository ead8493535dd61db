"""The silent-commerce rules engine: a pure function of (state, sighting or time) -> decisions.

No I/O, no clock, no threads: time comes from the sightings (``Sighting.at``) and from :meth:`tick`.
Every read costs O(1) (dictionary look-ups keyed by tag, lane and member); only a commit touches the
lines of its basket. The rules (see docs/architecture.md):

* Visit: a member read at the entrance or a lane opens (or refreshes) the member's visit.
* Lane: a member's card is present from ``seen`` to ``left``. An item read strongly (``rssi >= min_rssi``)
  at least ``min_reads`` times in the lane joins the basket of the one member present. Two or more
  present: the lane is held (``BasketHeld`` and a ``lane_conflict`` alert) and nothing joins. An item
  that leaves while its member stays is put back. When the card leaves, the basket freezes and commits
  ``settle_time_s`` later unless the member returns first.
* Lane noise: a stray read (weak, or fewer than ``min_reads``) joins nothing; an item counted in another
  lane that it has not left joins no basket here until it leaves there (a cross-read of a neighbour's item);
  a read from before the present member's card was in the lane (a late report) joins nothing.
* Exit gates (``exits``, :mod:`ingest.rules.exitgate`): reads in a gate's zones go through the detector, and
  only a *departure* (inner then outer) counts. A member's card departing, or an item of an uncommitted
  basket, commits the basket at once; a sold item is silent; an unsold item in no basket sounds the alarm:
  for a gate in ``edge_exits`` the gateway has done so already, so the engine emits the ``Departure`` (ingest
  records the gateway's report and explains it) and commands nothing; otherwise a ``TheftAlarm``, at most
  once per ``alarm_repeat_s`` per tag. An unknown tag departing is an ``unknown_tag_at_exit`` alert.
  Built with ``keep_gate_reads``, the engine hands the reads it fed to the detector to its caller
  (:meth:`take_gate_reads`), which stores them; :meth:`restore` replays them, so a pass goes on across a restart.
* Exit zones in no gate (a store without ``[[exits]]``): a member or an item of an uncommitted basket at the
  exit commits the basket at once; an unsold item in no basket sounds the alarm (``TheftAlarm``), at most
  once per ``alarm_repeat_s`` per tag.
* Allow list: ``AllowTags`` when items join a basket, ``DisallowTags`` when put back or returned, so the
  gateway knows which tags may pass its gate without an alarm. A sold item joined a basket first, so it
  is allowed already; the sold items of the database are the gateway's snapshot (``allow_replace``).
* Anomalies and explanations: :mod:`ingest.rules.anomalies`. Every basket, sale, alarm and alert names its
  ``rule``, the rule's ``params`` and the ``zone_sequence`` of the tags involved.
* Stock: an item's last zone (shelf, backroom, cooler, lane) is kept; a change is an ``ItemMoved``.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Literal

from ingest.rules.anomalies import AnomalyWatch
from ingest.rules.baskets import (
    Basket,
    BasketLine,
    LaneReads,
    LaneState,
    Presence,
    basket_id,
    price_lines,
    total_of,
)
from ingest.rules.checks import check_catalog, check_settings
from ingest.rules.exitgate import Departure, ExitGate, ExitGateDetector, GateRead
from ingest.rules.inventory import InventoryCycles, InventorySettings
from ingest.rules.model import (
    Alert,
    AllowTags,
    BasketChanged,
    BasketHeld,
    BasketSettling,
    CommittedBasket,
    Decision,
    DisallowTags,
    Evidence,
    ItemMoved,
    ItemReturned,
    OpenBasket,
    OpenVisit,
    Product,
    RuleSettings,
    Sighting,
    TheftAlarm,
    TransactionCommitted,
    Zone,
)
from ingest.rules.views import BasketView, LaneView
from ingest.rules.visits import VisitBook

STOCK_ZONES = frozenset({"shelf", "backroom", "cooler", "lane"})
"""Zone types whose item reads keep the item's last known location."""
VISIT_ZONES = frozenset({"entrance", "lane"})
_ALARM_MEMORY_PRUNE = 4096
TriggerKind = Literal["settle", "exit"]


class StoreEngine:
    """One store's rules. Feed it every resolved read with :meth:`observe` and the clock with :meth:`tick`."""

    def __init__(
        self,
        zones: Mapping[str, Zone],
        products: Mapping[str, Product],
        settings: RuleSettings = RuleSettings(),  # noqa: B008 - a frozen value object
        *,
        sold: Iterable[str] = (),
        locations: Mapping[str, str] | None = None,
        inventory: InventorySettings | None = None,
        stock: Mapping[str, str] | None = None,
        missing: Iterable[str] = (),
        exits: Iterable[ExitGate] = (),
        edge_exits: Iterable[str] = (),
        clone_window_s: float = 2.0,
        sold_grace_s: float = 30.0,
        keep_gate_reads: bool = False,
    ) -> None:
        check_settings(settings)
        check_catalog(zones, products)
        self._zones: dict[str, Zone] = dict(zones)
        self._products: dict[str, Product] = dict(products)
        self.settings = settings
        self._settle = timedelta(seconds=settings.settle_time_s)
        self._together = timedelta(seconds=settings.leave_together_s)
        self._alarm_repeat = timedelta(seconds=settings.alarm_repeat_s)
        self._sold: set[str] = set(sold)
        self._visits = VisitBook(timedelta(seconds=settings.visit_timeout_s))
        self._lanes: dict[str, LaneState] = {}
        self._lane_reads: dict[tuple[str, str], LaneReads] = {}
        self._restored_at: datetime | None = None
        """When :meth:`restore` took back the database's state: the 'left' reads processed before it are gone."""
        self._baskets: dict[tuple[str, str], Basket] = {}
        """(lane, member) -> the member's uncommitted basket in that lane (open or settling)."""
        self._member_lanes: dict[str, dict[str, Basket]] = {}
        self._basket_of_item: dict[str, Basket] = {}
        self._committed: OrderedDict[str, datetime] = OrderedDict()
        """Id -> commit time of the baskets committed in the last ``committed_memory_s``, oldest first (a
        basket commits once); :meth:`tick` forgets the older ones."""
        self._committed_memory = timedelta(seconds=settings.committed_memory_s)
        self._settling: list[tuple[datetime, int, Basket]] = []
        self._order = itertools.count()
        self._start_locations: Mapping[str, str] = locations if locations is not None else {}
        """The items' last zones at the start, kept as given (a large store has a million)."""
        self._location: dict[str, tuple[str, datetime | None]] = {}
        """Tag -> (zone, time of the read) of the items located since the start."""
        self._last_alarm: dict[str, datetime] = {}
        self._gates = ExitGateDetector(exits)
        self._gate_zones = self._gates.zones()
        self._gate_reports: dict[tuple[str, str, str, int, datetime, int], datetime] = {}
        """Gate reads already fed to the detector: a redelivered report is not more evidence."""
        self.gate_memory = timedelta(seconds=max(
            (max(g.window_s, g.chatter_window_s) for g in self._gates.gates), default=0.0))
        """How long the gates' detector remembers a tag it no longer hears (zero: the store has no gates)."""
        self._heard: list[GateRead] | None = [] if keep_gate_reads else None
        """The gate reads fed to the detector since :meth:`take_gate_reads` (``keep_gate_reads``)."""
        self._edge_exits = frozenset(edge_exits)
        self._watch = AnomalyWatch(
            self._zones, min_rssi=settings.min_rssi, clone_window_s=clone_window_s, sold_grace_s=sold_grace_s,
            repeat_s=settings.alarm_repeat_s, gate_pairs=((g.inner, g.outer) for g in self._gates.gates),
        )
        for tag in self._sold:
            self._watch.sold(tag, None)
        self._latest: datetime | None = None
        self._inventory = InventoryCycles(zones, products, inventory, stock=stock, missing=missing,
                                          locations=locations,
                                          taken=lambda tag: tag in self._sold or tag in self._basket_of_item)

    # -- inputs ----------------------------------------------------------------------------------

    def observe(self, sighting: Sighting) -> list[Decision]:
        """Apply one resolved read; return what it decided, in order."""
        out: list[Decision] = []
        self._settle_due(sighting.at, out)
        out.extend(self._inventory.observe(sighting))
        if self._latest is None or sighting.at > self._latest:
            self._latest = sighting.at
        out.extend(self._watch.observe(sighting, sold=sighting.tag in self._sold))
        if sighting.zone.name in self._gate_zones:
            if sighting.event == "seen":
                self._gate(sighting, out)
        elif sighting.kind == "member":
            if sighting.ref is not None:
                self._member(sighting, sighting.ref, out)
        elif sighting.kind == "item":
            self._item(sighting, out)
        elif sighting.kind == "unknown" and sighting.zone.type == "exit":
            self._unknown_at_exit(sighting, out)
        return out

    def tick(self, now: datetime) -> list[Decision]:
        """Let time pass to ``now``: baskets whose settle time has come commit; idle visits time out."""
        out: list[Decision] = []
        self._settle_due(now, out)
        self._forget_committed(now - self._committed_memory)
        out.extend(self._inventory.tick(now))
        out.extend(self._visits.expire(now))
        self._gates.tick(now)
        if len(self._gate_reports) > _ALARM_MEMORY_PRUNE:
            horizon = now - self.gate_memory
            self._gate_reports = {key: at for key, at in self._gate_reports.items() if at > horizon}
        self._watch.forget(now)
        if len(self._last_alarm) > _ALARM_MEMORY_PRUNE:
            horizon = now - self._alarm_repeat
            self._last_alarm = {tag: at for tag, at in self._last_alarm.items() if at > horizon}
        return out

    def _forget_committed(self, horizon: datetime) -> None:
        """Forget the basket ids committed at or before ``horizon``, from the oldest end (amortised O(1)); an
        id remembered out of order (an older commit after a newer one) waits for the ones before it."""
        committed = self._committed
        while committed:
            if committed[next(iter(committed))] > horizon:
                return
            committed.popitem(last=False)

    def _remember_committed(self, bid: str, at: datetime) -> None:
        known = self._committed.get(bid)
        if known is None or at > known:
            self._committed[bid] = at

    def restore(self, *, visits: Iterable[OpenVisit] = (), baskets: Iterable[OpenBasket] = (),
                gate_reads: Iterable[GateRead] = (), alarms: Mapping[str, datetime] | None = None,
                returns: Mapping[str, datetime] | None = None,
                committed: Iterable[CommittedBasket] = (), at: datetime) -> None:
        """Take back the open visits, uncommitted baskets, recent commits, gate reads and recent alarms the
        database holds, at a restart at ``at``.

        A committed basket is not committed again: a late report of its card session (a redelivery, or a
        read the previous run processed before its ``left``) opens no basket under its id, and its card had
        left the lane by then (``settle_time_s`` before a settle commit, at the latest at an exit commit), so
        an older card report there puts nobody back in the lane, as it would not have before the restart.

        The database does not store whether the member's card is in the lane now, so a restored basket
        waits to settle: it commits ``settle_time_s`` after ``at`` (or after its last stored change, if that
        is later), unless its member's card is read in the lane before (still there: it reopens, as on a
        return); a card report from before the basket's last stored change (an item joining or leaving, or
        the card leaving: ``BasketSettling``) is a late one and reopens nothing. A basket of a held lane stays open: the clock
        alone does not charge a basket in doubt (its card leaving, or the exit, does). A visit is last seen at ``at``. Lines of items sold since, or of SKUs no longer in the
        catalog, are left out; a basket already known to the engine is kept as it is.

        Which items had left which lane is not stored either: a late ``seen`` from before ``at`` may belong to a
        presence whose ``left`` the previous run processed. So an item counted in a lane only by reads from
        before ``at`` does not hold it against a read in another lane after ``at`` (see ``_counted_elsewhere``).

        ``gate_reads``, the reads the previous run fed to the exit gates (in that order), are replayed into the
        detector, so a pass under way goes on: its outer half after the restart completes it. A departure the
        replay completes decides nothing: the batch that completed it was stored with its effects, so the
        previous run acted on it already. ``alarms`` (tag -> newest alarm) keep ``alarm_repeat_s`` across it.
        ``returns`` (tag -> newest return, of the items in stock again) end the replayed passes they ended before
        the restart (see :meth:`mark_returned`): the item carried out again is a new pass.
        """
        self._restored_at = at if self._restored_at is None else max(self._restored_at, at)
        for done in committed:
            self._remember_committed(done.basket_id, done.at)
            self._card_left(done.lane, done.member, done.at - self._settle if done.trigger == "settle" else done.at)
        for visit in visits:
            self._visits.restore(visit.member, visit.opened_at, max(visit.opened_at, at))
        for stored in baskets:
            if (stored.lane, stored.member) not in self._baskets and stored.basket_id not in self._committed:
                self._restore_basket(stored, at)
        for heard in gate_reads:
            if self._first_report(heard):
                self._gates.observe(heard)  # a departure completed here was decided before the restart
        for tag, returned in (returns or {}).items():
            if tag not in self._sold:
                self._gates.returned(tag, returned)
        for tag, alarmed in (alarms or {}).items():
            last = self._last_alarm.get(tag)
            if last is None or alarmed > last:
                self._last_alarm[tag] = alarmed

    def _restore_basket(self, stored: OpenBasket, at: datetime) -> None:
        lane = self._zones.get(stored.lane, Zone(stored.lane, "lane"))
        due = max(stored.last_change, at) + self._settle
        basket = Basket(stored.basket_id, stored.member, lane, lane.gateway or "", stored.opened_at)
        for line in stored.lines:
            product = self._products.get(line.sku)
            if product is None or line.tag in self._sold or line.tag in self._basket_of_item:
                continue
            proof = Evidence(line.tag, lane.name, basket.gateway, "", 0, None, 0, "seen", line.added_at)
            basket.lines[line.tag] = BasketLine(line.tag, product, proof)
            self._basket_of_item[line.tag] = basket
        self._baskets[(lane.name, basket.member)] = basket
        self._member_lanes.setdefault(basket.member, {})[lane.name] = basket
        if not stored.held:
            basket.status, basket.settles_at = "settling", due
            heapq.heappush(self._settling, (due, next(self._order), basket))
        self._card_left(lane.name, basket.member, stored.last_change)

    def _card_left(self, lane: str, member: str, at: datetime) -> None:
        """The member's card had left ``lane`` by ``at`` (state from the database): older reports are stale."""
        state = self._lanes.setdefault(lane, LaneState(lane))
        state.left_at[member] = max(state.left_at.get(member, at), at)

    def update_catalog(self, zones: Mapping[str, Zone], products: Mapping[str, Product]) -> None:
        """Admin edits: later commits use these prices, displays and gateways."""
        check_catalog(zones, products)
        self._zones = dict(zones)
        self._products = dict(products)
        self._inventory.update_catalog(zones, products)
        self._watch.update_zones(self._zones)

    def mark_sold(self, tag: str) -> None:
        """The item was sold (state from the database): it leaves any basket and never joins one again."""
        self._sold.add(tag)
        self._watch.sold(tag, None)
        basket = self._basket_of_item.pop(tag, None)
        if basket is not None:
            basket.lines.pop(tag, None)

    def mark_returned(self, tag: str, at: datetime | None = None, sku: str | None = None) -> list[Decision]:
        """The sold item came back into stock: it may be bought again, and guards the exit again (the gate
        pass it left by is over, so carrying it out again is a new pass).

        ``at``: when (default: the newest time the engine has seen). Returns ``ItemReturned`` and the
        ``DisallowTags`` for the gateways; nothing if the item was not sold."""
        if tag not in self._sold:
            return []
        self._sold.discard(tag)
        self._watch.returned(tag)
        when = at or self._latest or datetime.min
        self._gates.returned(tag, when)  # carried out again, it is a new pass through the gate
        return [ItemReturned(tag, sku, when), DisallowTags((tag,), "returned")]

    def sold_tags(self) -> frozenset[str]:
        """Every item the engine holds as sold (what the database is compared with on a reload)."""
        return frozenset(self._sold)

    def is_sold(self, tag: str) -> bool:
        return tag in self._sold

    # -- views -----------------------------------------------------------------------------------

    @property
    def remembered_commits(self) -> int:
        """How many committed baskets' ids the engine remembers (those of the last ``committed_memory_s``)."""
        return len(self._committed)

    def lane_view(self, lane: str) -> LaneView:
        """Who is in the lane, whether it is held, and the uncommitted baskets there (priced now)."""
        state = self._lanes.get(lane)
        baskets = sorted(
            (b for (name, _), b in self._baskets.items() if name == lane), key=lambda b: b.opened_at
        )
        views = []
        for b in baskets:
            lines = price_lines(b, self._products)
            views.append(BasketView(b.basket_id, b.member, b.status, lines, total_of(lines), b.settles_at))
        return LaneView(
            lane=lane,
            members=tuple(state.present) if state else (),
            held=state.held if state else False,
            baskets=tuple(views),
        )

    # -- members ---------------------------------------------------------------------------------

    def _member(self, s: Sighting, member: str, out: list[Decision]) -> None:
        zone_type = s.zone.type
        if zone_type == "exit":
            if s.event == "seen":
                self._member_exit(s, member, out)
            return
        if self._visits.is_stale(member, s.at):
            return
        if s.event == "seen":
            if zone_type in VISIT_ZONES:
                opened = self._visits.open_or_refresh(member, s.zone.name, s.at)
                if opened is not None:
                    out.append(opened)
            else:
                self._visits.refresh(member, s.at)
        if zone_type == "lane":
            if s.event == "seen":
                self._member_seen_in_lane(s, member, out)
            else:
                self._member_left_lane(s, member, out)

    def _member_seen_in_lane(self, s: Sighting, member: str, out: list[Decision]) -> None:
        lane = self._lanes.get(s.zone.name)
        if lane is None:
            lane = self._lanes[s.zone.name] = LaneState(s.zone.name)
        last_left = lane.left_at.get(member)
        if last_left is not None and s.at <= last_left:
            return  # a report from before the card left: stale
        presence = lane.present.get(member)
        if presence is not None:
            if s.at > presence.last_at:
                presence.last_at = s.at
            return
        evidence = s.evidence()
        lane.present[member] = Presence(member, s.first_seen, s.at, evidence)
        basket = self._baskets.get((lane.name, member))
        if basket is not None and basket.status == "settling":  # came back before the settle time
            basket.status = "open"
            basket.settles_at = None
            basket.evidence.append(evidence)
        if len(lane.present) >= 2 and not lane.held:
            lane.held = True
            members = tuple(lane.present)
            proof = tuple(p.evidence for p in lane.present.values())
            sequence = (lane.name,)
            out.append(BasketHeld(lane.name, members, s.at, proof, rule="lane-conflict", params=(),
                                  zone_sequence=sequence))
            out.append(Alert(
                kind="lane_conflict", severity="warning", at=s.at, zone=lane.name, evidence=proof,
                message=f"{len(members)} members in lane {lane.name} ({', '.join(members)}): "
                        "its basket is held and nothing is charged until only one is left",
                details={"members": ",".join(members)}, rule="lane-conflict", zone_sequence=sequence,
            ))

    def _member_left_lane(self, s: Sighting, member: str, out: list[Decision]) -> None:
        lane = self._lanes.get(s.zone.name)
        if lane is None:
            lane = self._lanes[s.zone.name] = LaneState(s.zone.name)
        presence = lane.present.get(member)
        if presence is None:
            # The 'left' overtook its 'seen' (reordered delivery): remember it, so the stale 'seen' that
            # follows does not put the member back in the lane for good.
            if s.at > lane.left_at.get(member, s.at - timedelta(seconds=1)):
                lane.left_at[member] = s.at
            return
        if s.at < presence.last_at:
            return  # an old 'left' from before the card's latest report
        del lane.present[member]
        lane.left_at[member] = s.at
        basket = self._baskets.get((lane.name, member))
        if basket is not None and basket.status == "open":
            self._freeze(basket, s, out)
        if lane.held and len(lane.present) < 2:
            lane.held = False
            out.append(Alert(
                kind="lane_conflict_cleared", severity="info", at=s.at, zone=lane.name,
                message=f"lane {lane.name} is clear again: "
                        f"{', '.join(lane.present) or 'no member'} present",
                evidence=(s.evidence(),), rule="lane-conflict", zone_sequence=(lane.name,),
            ))

    def _freeze(self, basket: Basket, s: Sighting, out: list[Decision]) -> None:
        """The card left: items put back just before it walked out with it; then wait for the settle time."""
        for tag, joined in list(basket.lines.items()):
            if joined.evidence.at > s.at:  # read after the card left, delivered out of order: not theirs
                del basket.lines[tag]
                del self._basket_of_item[tag]
                out.append(BasketChanged(basket.basket_id, basket.member, basket.lane.name, tag,
                                         joined.product.sku, "removed", s.at, (joined.evidence, s.evidence()),
                                         rule="lane-basket", params=self._lane_params(),
                                         zone_sequence=self._watch.zone_sequence(tag)))
                out.append(DisallowTags((tag,), "read after its member left the lane"))
        for tag, (line, left_at) in list(basket.put_back.items()):
            if line.evidence.at > s.at:
                continue  # joined on a read after the card left, then put back: never theirs (as above)
            if s.at - left_at <= self._together and tag not in self._sold and tag not in self._basket_of_item:
                self._add_line(basket, line, s.at, out)
        basket.put_back.clear()
        basket.evidence.append(s.evidence())
        basket.status = "settling"
        basket.settles_at = s.at + self._settle
        heapq.heappush(self._settling, (basket.settles_at, next(self._order), basket))
        out.append(BasketSettling(basket.basket_id, basket.member, basket.lane.name, s.at, basket.settles_at))

    def _member_exit(self, s: Sighting, member: str, out: list[Decision], *proof: Evidence) -> None:
        for basket in sorted(self._member_lanes.get(member, {}).values(), key=lambda b: b.opened_at):
            self._commit(basket, "exit", s.at, out, *(proof or (s.evidence(),)))
        for lane in self._lanes.values():
            if lane.present.pop(member, None) is not None:
                lane.left_at[member] = s.at
                if lane.held and len(lane.present) < 2:
                    lane.held = False
        closed = self._visits.close_at_exit(member, s.at)
        if closed is not None:
            out.append(closed)

    # -- items -----------------------------------------------------------------------------------

    def _item(self, s: Sighting, out: list[Decision]) -> None:
        zone_type = s.zone.type
        if zone_type == "exit":
            if s.event == "seen":
                self._item_exit(s, out)
            return
        if s.tag in self._sold:
            return
        if zone_type in STOCK_ZONES and s.event == "seen" and (zone_type != "lane" or self._strong(s)):
            self._locate(s, out)  # a weak read in a lane is a stray from nearby, not a move
        if zone_type == "lane":
            self._item_in_lane(s, out)

    def _strong(self, s: Sighting) -> bool:
        """Strong enough to be in the zone (a reader that gives no RSSI cannot tell: it counts)."""
        return s.rssi is None or s.rssi >= self.settings.min_rssi

    def _locate(self, s: Sighting, out: list[Decision]) -> None:
        previous = self._location.get(s.tag)
        if previous is None:
            start = self._start_locations.get(s.tag)
            previous = None if start is None else (start, None)
        if previous is not None:
            zone, at = previous
            if at is not None and s.at < at:
                return  # an older report than the location we know
            if zone == s.zone.name:
                self._location[s.tag] = (zone, s.at)
                return
        self._location[s.tag] = (s.zone.name, s.at)
        out.append(ItemMoved(s.tag, s.ref, s.zone.name, s.at))

    def _item_in_lane(self, s: Sighting, out: list[Decision]) -> None:
        key = (s.zone.name, s.tag)
        reads = self._lane_reads.get(key)
        if reads is None:
            reads = self._lane_reads[key] = LaneReads()
        if reads.left_at is not None and s.at <= reads.left_at:
            return  # from before the item last left this lane
        if s.event == "left":
            reads.count = 0
            reads.counted.clear()
            reads.left_at = s.at
            self._put_back(s, out)
            return
        if not self._strong(s):
            return  # a stray read: too weak to count
        source = (s.reader, s.antenna)
        newest = reads.counted.get(source)
        if newest is None or s.at > newest:
            reads.count += s.count
            reads.counted[source] = s.at
        if reads.count < self.settings.min_reads or s.tag in self._basket_of_item:
            return
        if self._counted_elsewhere(s):
            return  # a cross-read of an item that is (still) in a neighbouring lane
        product = self._products.get(s.ref) if s.ref is not None else None
        lane = self._lanes.get(s.zone.name)
        if product is None or lane is None or lane.held or len(lane.present) != 1:
            return
        presence = next(iter(lane.present.values()))
        if s.at < presence.since:
            return  # read before this member's card was in the lane (delivered late): not theirs
        basket = self._baskets.get((lane.name, presence.member))
        if basket is None:
            bid = basket_id(lane.name, presence.member, presence.since)
            if presence.paid or bid in self._committed:
                return  # a replay of a card session whose basket is already paid for
            basket = Basket(bid, presence.member, s.zone, presence.evidence.gateway, presence.since,
                            evidence=[presence.evidence])
            self._baskets[(lane.name, presence.member)] = basket
            self._member_lanes.setdefault(presence.member, {})[lane.name] = basket
        self._add_line(basket, BasketLine(s.tag, product, s.evidence()), s.at, out)

    def _counted_elsewhere(self, s: Sighting) -> bool:
        """Counted (``min_reads``) in another lane and not left there since.

        After a restart, a count there made only of reads from before it does not hold the item against a
        read here after it: the previous run may have processed that presence's ``left``, and this engine
        would keep the item in the other lane for good. An item still in the other lane is read there again
        within the gateway's report interval, which makes its count current again."""
        restored = self._restored_at
        for other, zone in self._zones.items():
            if zone.type == "lane" and other != s.zone.name:
                reads = self._lane_reads.get((other, s.tag))
                if reads is None or reads.count < self.settings.min_reads:
                    continue
                if restored is None or s.at < restored or max(reads.counted.values()) >= restored:
                    return True
        return False

    def _lane_params(self) -> tuple[tuple[str, str], ...]:
        return (("min_reads", str(self.settings.min_reads)), ("min_rssi", f"{self.settings.min_rssi:g}"))

    def _add_line(self, basket: Basket, line: BasketLine, at: datetime, out: list[Decision]) -> None:
        basket.lines[line.tag] = line
        basket.put_back.pop(line.tag, None)
        self._basket_of_item[line.tag] = basket
        out.append(BasketChanged(basket.basket_id, basket.member, basket.lane.name, line.tag,
                                 line.product.sku, "added", at, (line.evidence,), rule="lane-basket",
                                 params=self._lane_params(), zone_sequence=self._watch.zone_sequence(line.tag)))
        out.append(AllowTags((line.tag,), "joined a basket"))

    def _put_back(self, s: Sighting, out: list[Decision]) -> None:
        basket = self._basket_of_item.get(s.tag)
        if basket is None or basket.lane.name != s.zone.name or basket.status != "open":
            return
        line = basket.lines.pop(s.tag)
        del self._basket_of_item[s.tag]
        basket.put_back[s.tag] = (line, s.at)
        out.append(BasketChanged(basket.basket_id, basket.member, basket.lane.name, s.tag,
                                 line.product.sku, "removed", s.at, (s.evidence(),), rule="lane-basket",
                                 params=self._lane_params(), zone_sequence=self._watch.zone_sequence(s.tag)))
        out.append(DisallowTags((s.tag,), "put back"))

    def _item_exit(self, s: Sighting, out: list[Decision]) -> None:
        if s.tag in self._sold:
            return
        basket = self._basket_of_item.get(s.tag)
        if basket is not None:
            self._commit(basket, "exit", s.at, out, s.evidence())
            return
        if s.historical or not self._alarm_due(s):
            return
        out.append(TheftAlarm(s.tag, s.ref, s.zone.name, s.zone.gateway or s.gateway, s.zone.alarm, s.at,
                              (s.evidence(),), rule="exit-zone", params=self._exit_zone_params(),
                              zone_sequence=self._watch.zone_sequence(s.tag) or (s.zone.name,)))

    def _unknown_at_exit(self, s: Sighting, out: list[Decision]) -> None:
        if s.event != "seen" or s.historical or not self._alarm_due(s):
            return
        out.append(Alert(
            kind="unknown_tag_at_exit", severity="warning", at=s.at, zone=s.zone.name, tag=s.tag,
            message=f"tag {s.tag} is bound to nothing in this store and passed {s.zone.name}",
            evidence=(s.evidence(),), rule="exit-zone", params=self._exit_zone_params(),
            zone_sequence=(s.zone.name,),
        ))

    def _exit_zone_params(self) -> tuple[tuple[str, str], ...]:
        return (("alarm_repeat_s", f"{self.settings.alarm_repeat_s:g}"),)

    def _member_trail(self, basket: Basket) -> tuple[str, ...]:
        card = basket.evidence[0].tag if basket.evidence else ""
        return self._watch.zone_sequence(card) or (basket.lane.name,)

    # -- exit gates ------------------------------------------------------------------------------

    def take_gate_reads(self) -> list[GateRead]:
        """The gate reads fed to the detector since the last call, in that order (what ingest stores with the
        batch, so that :meth:`restore` can replay them); always empty unless built with ``keep_gate_reads``."""
        if not self._heard:
            return []
        heard, self._heard = self._heard, []
        return heard

    def _first_report(self, read: GateRead) -> bool:
        """Not a redelivery of a gate read the detector has counted (the raw reads of a gateway's chunk may
        share a time, but a smoothed report names its reader, antenna, time and count)."""
        key = (read.tag, read.zone, read.reader, read.antenna, read.at, read.count)
        if key in self._gate_reports:
            return False
        self._gate_reports[key] = read.at
        return True

    def _gate(self, s: Sighting, out: list[Decision]) -> None:
        """A read in a gate zone: only a departure (inner then outer) decides anything."""
        heard = GateRead(s.tag, s.zone.name, s.rssi, s.count, s.at, s.reader, s.antenna)
        if not self._first_report(heard):
            return
        if self._heard is not None:
            self._heard.append(heard)
        departure = self._gates.observe(heard)
        gate = self._gates.gate_of(s.zone.name)
        if departure is None or gate is None:
            return
        proof = tuple(
            Evidence(r.tag, r.zone, s.gateway, r.reader, r.antenna, r.rssi, r.count, "seen", r.at)
            for r in departure.evidence
        )
        if s.kind == "member":
            if s.ref is not None:
                self._member_exit(s, s.ref, out, *proof)
        elif s.kind == "item":
            if s.tag in self._sold:
                return
            basket = self._basket_of_item.get(s.tag)
            if basket is not None:
                self._commit(basket, "exit", departure.at, out, *proof)
            elif gate.name in self._edge_exits:
                out.append(departure)  # the gateway sounded the alarm itself; ingest records and explains
            elif not s.historical and self._alarm_due(s):
                out.append(TheftAlarm(
                    s.tag, s.ref, s.zone.name, gate.gateway or s.zone.gateway or s.gateway,
                    gate.alarm or s.zone.alarm, departure.at, proof, rule="exit-gate", params=departure.params,
                    zone_sequence=self._sequence(s.tag, departure),
                ))
        elif s.kind == "unknown" and not s.historical and self._alarm_due(s):
            out.append(Alert(
                kind="unknown_tag_at_exit", severity="warning", at=departure.at, zone=s.zone.name, tag=s.tag,
                message=f"tag {s.tag} is bound to nothing in this store and left through {gate.name}",
                evidence=proof, rule="exit-gate", params=departure.params, zone_sequence=departure.zone_sequence,
                details={"gate": gate.name},
            ))

    def _sequence(self, tag: str, departure: Departure) -> tuple[str, ...]:
        """The tag's trail in the store, then the gate's zones."""
        trail = [z for z in self._watch.zone_sequence(tag) if z not in self._gate_zones]
        return (*trail, *departure.zone_sequence)

    def _alarm_due(self, s: Sighting) -> bool:
        last = self._last_alarm.get(s.tag)
        if last is not None and abs(s.at - last) < self._alarm_repeat:
            return False
        self._last_alarm[s.tag] = s.at
        return True

    # -- transactions ----------------------------------------------------------------------------

    def _settle_due(self, now: datetime, out: list[Decision]) -> None:
        while self._settling and self._settling[0][0] <= now:
            due, _, basket = heapq.heappop(self._settling)
            if basket.status == "settling" and basket.settles_at == due:
                self._commit(basket, "settle", due, out)

    def _commit(
        self, basket: Basket, trigger: TriggerKind, at: datetime, out: list[Decision],
        *extra: Evidence,
    ) -> None:
        """Turn the basket into one transaction (once) and mark its items sold; an empty one just ends."""
        key = (basket.lane.name, basket.member)
        if self._baskets.get(key) is basket:
            del self._baskets[key]
        lanes = self._member_lanes.get(basket.member)
        if lanes is not None and lanes.get(basket.lane.name) is basket:
            del lanes[basket.lane.name]
            if not lanes:
                del self._member_lanes[basket.member]
        basket.status = "settling"
        basket.settles_at = None  # any heap entry of it is void now
        for tag in basket.lines:
            self._basket_of_item.pop(tag, None)
        if not basket.lines or basket.basket_id in self._committed:
            return
        self._remember_committed(basket.basket_id, at)
        lane = self._lanes.get(basket.lane.name)
        presence = lane.present.get(basket.member) if lane is not None else None
        if presence is not None and presence.since == basket.opened_at:
            presence.paid = True
        lines = price_lines(basket, self._products)
        total = total_of(lines)
        for line in lines:
            self._sold.add(line.tag)
            self._lane_reads.pop((basket.lane.name, line.tag), None)
        zone = self._zones.get(basket.lane.name, basket.lane)
        for line in lines:
            self._watch.sold(line.tag, at)
        out.append(TransactionCommitted(
            transaction_id=basket.basket_id, member=basket.member, lane=basket.lane.name, lines=lines,
            total=total, points=math.floor(total), at=at, trigger=trigger, display=zone.display,
            gateway=zone.gateway or basket.gateway or None, evidence=(*basket.line_evidence(), *extra),
            rule="lane-basket",
            params=(*self._lane_params(), ("settle_time_s", f"{self.settings.settle_time_s:g}"),
                    ("trigger", trigger)),
            zone_sequence=self._member_trail(basket),
        ))


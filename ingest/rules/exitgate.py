"""Exit gates with a direction of travel: inner zone, then outer zone, is leaving.

Pure (no I/O, no clock: time comes from the reads and from :meth:`ExitGateDetector.tick`), and shared:
the gateway feeds it raw reads (``count`` 1) to sound the alarm itself, and ingest feeds it smoothed reads
(``count`` = reads summed by the gateway) to commit baskets and explain the edge's alarms.

The rule, per gate and tag:

* **Evidence.** Only reads with ``rssi >= min_rssi`` count (a reader that gives no RSSI cannot tell: its
  reads count). A zone has evidence once its reads add up to ``min_reads``; a single glimpse is not enough.
* **Pass.** A tag's reads at the gate form one *pass* until the gate hears nothing of it for ``window_s``.
  A pass departs at most once.
* **Leaving.** The inner evidence completes at ``t_in``; the outer evidence counts only outer reads from
  the first inner read on and completes at ``t_out >= t_in``; and ``t_out`` is at most ``window_s`` after the
  last inner read before it. Decided on ``read.at`` values, not arrival order, so a batch that arrives
  reordered decides the same. Outer then inner (entering), one zone only (dwelling), too slow a walk-out:
  no departure.
* **Return.** A sold item brought back into the store (:meth:`ExitGateDetector.returned`) ends its pass: a read
  after the return starts a new pass (carried out again, it departs again), and a read from before it
  decides nothing.
* **Chatter.** Stock displayed beside the door is read again and again. Each ``window_s`` slot in which the
  gate hears a tag is one *gate presence*; a tag with more than ``chatter_limit`` presences within
  ``chatter_window_s`` is static stock and never departs while that lasts.

Memory is bounded: per tag a pass keeps at most ``_MAX_READS`` reads per zone and ``chatter_limit + 1``
presence starts; :meth:`tick` forgets tags the gate has not heard for ``max(window_s, chatter_window_s)``
(oldest first, O(forgotten)), and at most ``max_tags`` tags are tracked (the least recently heard go).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from ingest.rules.errors import RulesError

RULE = "exit-gate"
"""The rule's stable name in explanations."""
_MAX_READS = 64
Role = Literal["inner", "outer"]


@dataclass(frozen=True, slots=True)
class ExitGate:
    """One exit: an ``inner`` zone inside the door and an ``outer`` zone beyond it."""

    name: str
    inner: str
    outer: str
    window_s: float = 3.0
    min_reads: int = 2
    min_rssi: float = -70.0
    chatter_window_s: float = 300.0
    chatter_limit: int = 6
    alarm: str | None = None
    """The alarm actuator of the gate (a name on ``gateway``)."""
    gateway: str | None = None

    def params(self) -> tuple[tuple[str, str], ...]:
        """The thresholds, as strings, for explanations."""
        return (
            ("window_s", f"{self.window_s:g}"),
            ("min_reads", str(self.min_reads)),
            ("min_rssi", f"{self.min_rssi:g}"),
            ("chatter_window_s", f"{self.chatter_window_s:g}"),
            ("chatter_limit", str(self.chatter_limit)),
        )


@dataclass(frozen=True, slots=True)
class GateRead:
    """One read of a tag in a gate zone; ``count`` reads at ``at`` (1 for a raw read)."""

    tag: str
    zone: str
    rssi: float | None
    count: int
    at: datetime
    reader: str = ""
    antenna: int = 0


@dataclass(frozen=True, slots=True)
class Departure:
    """A tag left through ``gate``: its evidence completed at ``at``; the pass began at ``first_read_at``."""

    gate: str
    tag: str
    at: datetime
    first_read_at: datetime
    evidence: tuple[GateRead, ...]
    """The inner reads up to the inner evidence and the last inner read, then the outer reads that completed it."""
    zone_sequence: tuple[str, ...]
    """The zones of the pass's qualifying reads from the first inner one on, in time order, repeats collapsed."""
    chatter: int
    """Gate presences of the tag within ``chatter_window_s`` (this one included)."""
    params: tuple[tuple[str, str], ...]


@dataclass(slots=True)
class _Pass:
    first_at: datetime
    last_at: datetime
    inner: list[GateRead] = field(default_factory=list)
    outer: list[GateRead] = field(default_factory=list)
    departed: bool = False


@dataclass(slots=True)
class _TagState:
    gate: ExitGate
    last_at: datetime
    presences: deque[datetime]
    current: _Pass | None = None
    returned_at: datetime | None = None
    """When the item last came back into the store (a return): its reads up to then decide nothing."""


def _check(gates: list[ExitGate]) -> None:
    problems: list[str] = []
    names: set[str] = set()
    for gate in gates:
        where = f"exit gate {gate.name!r}"
        if gate.name in names:
            problems.append(f"{where}: the name is used twice")
        names.add(gate.name)
        if gate.inner == gate.outer:
            problems.append(f"{where}: inner and outer must be different zones, got {gate.inner!r} twice")
        if not gate.window_s > 0:
            problems.append(f"{where}: window_s must be > 0, got {gate.window_s!r}")
        if gate.min_reads < 1:
            problems.append(f"{where}: min_reads must be >= 1, got {gate.min_reads!r}")
        if not gate.chatter_window_s >= 0:
            problems.append(f"{where}: chatter_window_s must be >= 0, got {gate.chatter_window_s!r}")
        if gate.chatter_limit < 1:
            problems.append(f"{where}: chatter_limit must be >= 1, got {gate.chatter_limit!r}")
    if problems:
        raise RulesError("; ".join(problems))


def _by_time(read: GateRead) -> datetime:
    return read.at


class ExitGateDetector:
    """Decides, read by read, which tags leave through which gate (see the module's docstring)."""

    def __init__(self, gates: Iterable[ExitGate], *, max_tags: int = 65536) -> None:
        self._gates = list(gates)
        _check(self._gates)
        self._roles: dict[str, list[tuple[ExitGate, Role]]] = {}
        for gate in self._gates:
            self._roles.setdefault(gate.inner, []).append((gate, "inner"))
            self._roles.setdefault(gate.outer, []).append((gate, "outer"))
        self._tags: OrderedDict[tuple[str, str], _TagState] = OrderedDict()
        """(gate, tag) -> state; least recently heard first."""
        self._max_tags = max_tags

    @property
    def gates(self) -> tuple[ExitGate, ...]:
        return tuple(self._gates)

    def zones(self) -> frozenset[str]:
        """Every inner and outer zone of the gates."""
        return frozenset(self._roles)

    def gate_of(self, zone: str) -> ExitGate | None:
        """The (first) gate that ``zone`` belongs to."""
        roles = self._roles.get(zone)
        return roles[0][0] if roles else None

    def __len__(self) -> int:
        """Tags tracked now."""
        return len(self._tags)

    def observe(self, read: GateRead) -> Departure | None:
        """One read; a :class:`Departure` when it completes a leaving pass (once per pass)."""
        departure: Departure | None = None
        for gate, role in self._roles.get(read.zone, ()):
            found = self._observe(gate, role, read)
            if departure is None:
                departure = found
        return departure

    def tick(self, now: datetime) -> None:
        """Forget tags the gates have not heard for ``max(window_s, chatter_window_s)`` before ``now``."""
        while self._tags:
            key, state = next(iter(self._tags.items()))
            keep = timedelta(seconds=max(state.gate.window_s, state.gate.chatter_window_s))
            if state.last_at + keep > now:
                break
            del self._tags[key]

    def returned(self, tag: str, at: datetime) -> None:
        """The item came back into the store at ``at`` (a return): the pass it left by is over."""
        for gate in self._gates:
            state = self._tags.get((gate.name, tag))
            if state is None:
                continue
            if state.returned_at is None or at > state.returned_at:
                state.returned_at = at
            if state.current is not None and state.current.last_at <= at:
                state.current = None

    # -- internals -------------------------------------------------------------------------------

    def _observe(self, gate: ExitGate, role: Role, read: GateRead) -> Departure | None:
        key = (gate.name, read.tag)
        window = timedelta(seconds=gate.window_s)
        state = self._tags.get(key)
        if state is None:
            state = _TagState(gate, read.at, deque(maxlen=gate.chatter_limit + 1))
            self._tags[key] = state
            while len(self._tags) > self._max_tags:
                self._tags.popitem(last=False)
        else:
            self._tags.move_to_end(key)
        # gate presences: one per window_s slot in which the tag was heard
        if not state.presences or read.at >= state.presences[-1] + window:
            state.presences.append(read.at)
        if read.at > state.last_at:
            state.last_at = read.at
        if state.returned_at is not None and read.at <= state.returned_at:
            return None  # from before the item came back into the store
        # the pass this read belongs to
        current = state.current
        if current is None or read.at > current.last_at + window:
            current = state.current = _Pass(read.at, read.at)
        elif read.at < current.first_at - window:
            return None  # a late read of an earlier pass
        else:
            current.first_at = min(current.first_at, read.at)
            current.last_at = max(current.last_at, read.at)
        if read.count < 1 or (read.rssi is not None and read.rssi < gate.min_rssi):
            return None  # not evidence
        reads = current.inner if role == "inner" else current.outer
        if len(reads) < _MAX_READS:
            reads.append(read)
        if current.departed:
            return None
        departure = self._leaving(gate, current, read.tag)
        if departure is None:
            return None
        chatter = sum(1 for at in state.presences if at > read.at - timedelta(seconds=gate.chatter_window_s))
        current.departed = True
        if chatter > gate.chatter_limit:
            return None  # static stock by the door
        return Departure(
            gate.name, read.tag, departure[0], current.first_at, departure[1], departure[2], chatter,
            gate.params(),
        )

    @staticmethod
    def _leaving(
        gate: ExitGate, current: _Pass, tag: str
    ) -> tuple[datetime, tuple[GateRead, ...], tuple[str, ...]] | None:
        if not current.inner or not current.outer:
            return None
        inner = sorted(current.inner, key=_by_time)
        total = 0
        counted: list[GateRead] = []
        t_in: datetime | None = None
        for r in inner:
            total += r.count
            counted.append(r)
            if total >= gate.min_reads:
                t_in = r.at
                break
        if t_in is None:
            return None
        first_in = inner[0].at
        total = 0
        used: list[GateRead] = []
        t_out: datetime | None = None
        for r in sorted(current.outer, key=_by_time):
            if r.at < first_in:
                continue
            total += r.count
            used.append(r)
            if total >= gate.min_reads and r.at >= t_in:
                t_out = r.at
                break
        if t_out is None:
            return None
        last_in = _last_before(inner, t_out)
        if t_out - last_in.at > timedelta(seconds=gate.window_s):
            return None
        if last_in.at > counted[-1].at:
            counted.append(last_in)
        sequence: list[str] = []
        for r in sorted((*current.inner, *(o for o in current.outer if o.at >= first_in)), key=_by_time):
            if r.at > t_out:
                break
            if not sequence or sequence[-1] != r.zone:
                sequence.append(r.zone)
        return t_out, (*counted, *used), tuple(sequence)


def _last_before(reads: list[GateRead], until: datetime) -> GateRead:
    """The newest of ``reads`` (sorted by time, the first not after ``until``) that is not after ``until``."""
    last = reads[0]
    for r in reads:
        if r.at > until:
            break
        last = r
    return last


__all__ = ["RULE", "Departure", "ExitGate", "ExitGateDetector", "GateRead"]

"""What the store knows of each tag at start: its binding and its stock row, one entry per tag.

A large store has a million tagged items and a hundred thousand cards, and ingest loads them all at start:
the resolver needs each tag's binding (an item's SKU, a card's member) and the rules need the stock (the SKU,
last zone and status of each item not sold). Held as rows, or as one dictionary per use, that is about a
kilobyte per item (a string of the tag per structure, a row or a tuple per item). The :class:`TagTable`
is one dictionary, keyed by the tag (one string object per tag, whichever query or binding named it
first), whose value is a :class:`TagFacts`: the items of one product in one zone with one status share one
object, so an item costs its tag and its slot in the dictionary. The resolver and the rules see it through
read-only views (:attr:`TagTable.stock`, :attr:`~TagTable.locations`, :attr:`~TagTable.missing`,
:attr:`~TagTable.sold`) that hold nothing of their own.

A binding with a validity period, or a tag bound more than once (a reissued card, a returned tote), is kept
as its :class:`Binding` objects, latest-starting first; such tags are few.

Pure: built by the loader from rows, or from bindings (:meth:`TagTable.of`); no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter

BOUND_KINDS = frozenset({"member", "staff", "item"})
"""Binding kinds that identify a tag (what :meth:`TagTable.bound` answers)."""
UNSOLD = frozenset({"in_store", "missing"})
"""Item statuses that are stock."""
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Binding:
    """A tag bound to a member, a staff member or (kind ``item``) a product SKU."""

    tag: str
    kind: str
    ref: str
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    def valid_at(self, moment: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= moment) and (
            self.valid_to is None or moment < self.valid_to
        )


def _start(binding: Binding) -> datetime:
    return binding.valid_from or _EARLIEST


@dataclass(frozen=True, slots=True)
class TagFacts:
    """One tag's binding without a period (``kind``, ``ref``) and its item row (``sku``, ``zone``,
    ``status``); None where it has none. Shared by every tag with the same facts."""

    kind: str | None = None
    ref: str | None = None
    sku: str | None = None
    zone: str | None = None
    status: str | None = None


_NO_FACTS = TagFacts()
_Key = tuple[str | None, str | None, str | None, str | None, str | None]
_NOTHING: _Key = (None, None, None, None, None)


class TagTable:
    """Tag -> :class:`TagFacts`, plus the bindings that need their period checked (see the module)."""

    def __init__(self) -> None:
        self._facts: dict[str, TagFacts] = {}
        self._timed: dict[str, list[Binding]] = {}
        self._shared: dict[_Key, TagFacts] = {}
        """The facts of items, one object each (a member's facts are its own: not kept here)."""
        self._unsold = 0
        self._located = 0
        self._missing = 0
        self._sold = 0
        self.stock: Mapping[str, str] = _ItemColumn(self, "sku")
        """Tag -> SKU of every item not sold (in the store, or missing)."""
        self.locations: Mapping[str, str] = _ItemColumn(self, "zone")
        """Tag -> last zone of every item not sold that has one."""
        self.missing: Set[str] = _WithStatus(self, "missing")
        """Items whose status is ``missing``."""
        self.sold: Set[str] = _WithStatus(self, "sold")
        """Items whose status is ``sold``."""

    @classmethod
    def of(cls, bindings: Iterable[Binding]) -> TagTable:
        table = cls()
        for b in bindings:
            table.bind(b.tag, b.kind, b.ref, b.valid_from, b.valid_to)
        return table

    # -- building ---------------------------------------------------------------------------------

    def bind(self, tag: str, kind: str, ref: str, valid_from: datetime | None = None,
             valid_to: datetime | None = None) -> None:
        """Add a binding (in the order they were made: of equal starts, the later one is checked last)."""
        timed = self._timed.get(tag)
        facts = self._facts.get(tag, _NO_FACTS)
        if timed is None and facts.kind is None and valid_from is None and valid_to is None and kind in BOUND_KINDS:
            self._put(tag, facts, kind, ref, facts.sku, facts.zone, facts.status)
            return
        if timed is None:
            timed = self._timed[tag] = []
            if facts.kind is not None and facts.ref is not None:  # bound twice: both need their periods compared
                timed.append(Binding(tag, facts.kind, facts.ref))
                self._put(tag, facts, None, None, facts.sku, facts.zone, facts.status)
        timed.append(Binding(tag, kind, ref, valid_from, valid_to))
        # If periods overlap (an old owner's binding left open), the latest-starting one wins: a reissued card
        # or a returned tote never stands for its old owner again. (The sort is stable: equal starts keep their
        # order.)
        timed.sort(key=_start, reverse=True)

    def unbind_all(self) -> None:
        """Forget every binding, keeping the item rows (a reload binds the tags afresh: the rules keep the
        stock as it was at the start, so the item rows are not read again)."""
        unbound = []
        for tag, facts in self._facts.items():  # values replaced in place: no copy of a million entries
            if facts.kind is None:
                continue
            if facts.status is None:
                unbound.append(tag)  # a card: nothing left
            else:
                self._facts[tag] = self._facts_of((None, None, facts.sku, facts.zone, facts.status))
        for tag in unbound:
            del self._facts[tag]
        self._timed.clear()

    def add_item(self, tag: str, sku: str, status: str, zone: str | None) -> None:
        """Add an item's row (``status``: ``in_store``, ``missing`` or ``sold``)."""
        facts = self._facts.get(tag, _NO_FACTS)
        self._put(tag, facts, facts.kind, facts.ref, sku, zone, status)

    def _put(self, tag: str, old: TagFacts, kind: str | None, ref: str | None, sku: str | None, zone: str | None,
             status: str | None) -> None:
        self._count(old, -1)
        key = (kind, ref, sku, zone, status)
        facts = self._facts_of(key)
        if key == _NOTHING:
            self._facts.pop(tag, None)
        else:
            self._facts[tag] = facts  # an existing entry keeps its tag object: one string per tag
        self._count(facts, 1)

    def _facts_of(self, key: _Key) -> TagFacts:
        if key[0] in ("member", "staff"):
            return TagFacts(*key)
        return self._shared.get(key) or self._shared.setdefault(key, TagFacts(*key))

    def _count(self, facts: TagFacts, step: int) -> None:
        if facts.status in UNSOLD:
            self._unsold += step
            if facts.zone is not None:
                self._located += step
            if facts.status == "missing":
                self._missing += step
        elif facts.status == "sold":
            self._sold += step

    # -- reading ----------------------------------------------------------------------------------

    def bound(self, tag: str, at: datetime) -> tuple[str, str] | None:
        """What ``tag`` is bound to at ``at``: (kind, member id / staff id / SKU); None if to nothing then."""
        timed = self._timed.get(tag)
        if timed is None:
            facts = self._facts.get(tag)
            if facts is None or facts.kind is None or facts.ref is None:
                return None
            return facts.kind, facts.ref
        for binding in timed:
            if binding.valid_at(at) and binding.kind in BOUND_KINDS:
                return binding.kind, binding.ref
        return None

    def facts(self, tag: str) -> TagFacts | None:
        return self._facts.get(tag)

    def __len__(self) -> int:
        """Tags known (bound, or with an item row)."""
        return len(self._facts) + sum(1 for tag in self._timed if tag not in self._facts)


class _ItemColumn(Mapping[str, str]):
    """Tag -> one column (``sku`` or ``zone``) of the items not sold, where it is not empty."""

    def __init__(self, table: TagTable, column: str) -> None:
        self._table = table
        self._value = attrgetter(column)
        self._column = column

    def get(self, tag: str, default: str | None = None) -> str | None:  # type: ignore[override]
        facts = self._table._facts.get(tag)
        value: str | None = None if facts is None or facts.status not in UNSOLD else self._value(facts)
        return default if value is None else value

    def __getitem__(self, tag: str) -> str:
        value = self.get(tag)
        if value is None:
            raise KeyError(tag)
        return value

    def __iter__(self) -> Iterator[str]:
        return (tag for tag, f in self._table._facts.items() if f.status in UNSOLD and self._value(f) is not None)

    def __len__(self) -> int:
        return self._table._unsold if self._column == "sku" else self._table._located


class _WithStatus(Set[str]):
    def __init__(self, table: TagTable, status: str) -> None:
        self._table = table
        self._status = status

    def __contains__(self, tag: object) -> bool:
        facts = self._table._facts.get(tag) if isinstance(tag, str) else None
        return facts is not None and facts.status == self._status

    def __iter__(self) -> Iterator[str]:
        return (tag for tag, facts in self._table._facts.items() if facts.status == self._status)

    def __len__(self) -> int:
        return self._table._missing if self._status == "missing" else self._table._sold

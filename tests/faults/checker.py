"""The fault suite's referee: what the gateways' outboxes handed out against what ingest stored.

An outbox deletes a batch once the broker acknowledged it, so before a gateway first opens its outbox the
suite adds a *ledger* to the same SQLite file: a trigger copies every appended batch (``seq``, kind, payload)
into it in the outbox's own transaction. The ledger is therefore exactly what the gateway assigned, crash or
no crash. The checker compares it with ingest's database:

* lost: a ``seq`` the gateway assigned that ingest never stored (``gateway_batches``), with its reads;
* duplicated: a ``seq`` the gateway handed out twice, a stored ``seq`` the gateway never assigned, and a tag
  on more than one unreturned sale line (a member charged twice for one item);
* pending: batches still in an outbox (a checker run before the drain would call them lost).

Each fault test writes its figures to ``.run/faults/<test>.json`` and the session ends with a summary table.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from gateway.outbox import Outbox
from ingest.db import schema as t
from ingest.db.engine import make_engine
from silentcommerce.broker import REPO_ROOT

REPORT_DIR = REPO_ROOT / ".run" / "faults"

LEDGER = """
CREATE TABLE IF NOT EXISTS ledger (seq INTEGER NOT NULL, kind TEXT NOT NULL, payload BLOB NOT NULL,
                                   created_at REAL NOT NULL);
CREATE TRIGGER IF NOT EXISTS ledger_copy AFTER INSERT ON outbox BEGIN
    INSERT INTO ledger (seq, kind, payload, created_at) VALUES (new.seq, new.kind, new.payload, new.created_at);
END;
"""


def ledgered_outbox(path: Path, store: str, gateway: str) -> Path:
    """Create the gateway's outbox file with the ledger in it (before the gateway first opens it)."""
    Outbox(path, store, gateway).close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript(LEDGER)
    return path


@dataclass(frozen=True)
class LedgerEntry:
    seq: int
    kind: str
    items: int
    """Reads (or samples) in the batch; 1 for an alarm."""
    created_at: float
    payload: dict[str, Any]


def read_ledger(path: Path) -> list[LedgerEntry]:
    """Every batch the outbox at ``path`` ever assigned, in ``seq`` order (duplicates included)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT seq, kind, payload, created_at FROM ledger ORDER BY seq").fetchall()
    entries = []
    for seq, kind, payload, created_at in rows:
        body = json.loads(payload)
        items = len(body.get("reads", body.get("samples", [None])))
        entries.append(LedgerEntry(int(seq), str(kind), items, float(created_at), body))
    return entries


def assigned_seqs(path: Path) -> list[int]:
    """The ``seq`` of every batch the outbox at ``path`` assigned (cheaper than :func:`read_ledger`)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return [int(seq) for (seq,) in db.execute("SELECT seq FROM ledger ORDER BY seq")]


def outbox_depth(path: Path, *, up_to: int | None = None) -> int:
    """Batches waiting in the outbox at ``path`` for a PUBACK (only those with ``seq`` up to ``up_to`` if given);
    delivered entries the outbox keeps for a ``resend`` do not count."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        (depth,) = db.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND seq <= ?",
                              (up_to or 2**62,)).fetchone()
    return int(depth)


def stored_seqs(db_url: str, store: str) -> dict[str, list[int]]:
    """Gateway → the ``seq`` values ingest stored (one ``gateway_batches`` row each)."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(t.gateway_batches.c.gateway, t.gateway_batches.c.seq).where(
                t.gateway_batches.c.store == store)).all()
    finally:
        engine.dispose()
    stored: dict[str, list[int]] = {}
    for gateway, seq in rows:
        stored.setdefault(gateway, []).append(int(seq))
    return stored


@dataclass
class GatewayFigures:
    gateway: str
    batches: int
    reads: int
    stored: int
    pending: int
    lost: list[int] = field(default_factory=list)
    lost_kinds: dict[str, int] = field(default_factory=dict)
    reads_lost: int = 0
    reused: list[int] = field(default_factory=list)
    unassigned: list[int] = field(default_factory=list)


@dataclass
class FaultReport:
    name: str
    faults: int
    gateways: list[GatewayFigures]
    transactions: int
    double_charged: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return sum(len(g.lost) for g in self.gateways)

    @property
    def duplicated(self) -> int:
        return sum(len(g.reused) + len(g.unassigned) for g in self.gateways) + len(self.double_charged)

    @property
    def reads(self) -> int:
        return sum(g.reads for g in self.gateways)

    @property
    def batches(self) -> int:
        return sum(g.batches for g in self.gateways)

    def summary(self) -> str:
        return (f"{self.name}: {self.batches} batches / {self.reads} reads streamed, {self.faults} faults, "
                f"lost {self.lost} batches ({sum(g.reads_lost for g in self.gateways)} reads"
                f"{''.join(f'; {g.gateway} {g.lost[:10]} {g.lost_kinds}' for g in self.gateways if g.lost)}), "
                f"duplicated {self.duplicated}, transactions {self.transactions}, "
                f"pending {sum(g.pending for g in self.gateways)}"
                + "".join(f", {key} {value}" for key, value in self.extra.items()))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "lost": self.lost, "duplicated": self.duplicated, "reads": self.reads,
                "batches": self.batches}


def check(name: str, outboxes: Mapping[str, Path], db_url: str, store: str, *, faults: int,
          upto: Mapping[str, int] | None = None, **extra: Any) -> FaultReport:
    """Compare the ledgers of ``outboxes`` (gateway → outbox file) with ingest's database at ``db_url``;
    with ``upto`` (gateway → seq), only the batches up to that ``seq`` are judged."""
    stored = stored_seqs(db_url, store)
    figures = [_gateway_figures(gateway, path, set(stored.get(gateway, [])), (upto or {}).get(gateway))
               for gateway, path in outboxes.items()]
    transactions, double_charged = _charges(db_url, store)
    return FaultReport(name, faults, figures, transactions, double_charged, dict(extra))


def _gateway_figures(gateway: str, outbox: Path, stored: set[int], upto: int | None) -> GatewayFigures:
    ledger = read_ledger(outbox)
    every = {e.seq for e in ledger}
    judged = [e for e in ledger if upto is None or e.seq <= upto]
    items = {e.seq: e.items for e in judged}
    kinds = {e.seq: e.kind for e in judged}
    seqs = [e.seq for e in judged]
    lost = sorted(set(items) - stored)
    return GatewayFigures(
        gateway=gateway,
        batches=len(items),
        reads=sum(items.values()),
        stored=len(stored & set(items)),
        pending=outbox_depth(outbox, up_to=upto),
        lost=lost,
        lost_kinds=dict(Counter(kinds[s] for s in lost)),
        reads_lost=sum(items[s] for s in lost),
        reused=sorted({s for s in seqs if seqs.count(s) > 1}),
        unassigned=sorted(stored - every),
    )


def _charges(db_url: str, store: str) -> tuple[int, list[str]]:
    """How many transactions ingest committed, and the tags sold (and not returned) more than once."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            transactions = conn.execute(select(func.count()).select_from(t.transactions).where(
                t.transactions.c.store == store)).scalar_one()
            lines = t.transaction_lines
            twice = conn.execute(
                select(lines.c.tag).join(t.transactions, t.transactions.c.id == lines.c.transaction_id)
                .where(t.transactions.c.store == store, lines.c.returned_at.is_(None))
                .group_by(lines.c.tag).having(func.count() > 1)
            ).scalars().all()
    finally:
        engine.dispose()
    return int(transactions), sorted(twice)


def charged_baskets(db_url: str, store: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """Every transaction as (member, lane, its tags sorted), sorted: to compare with a scenario's purchases."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(t.transactions.c.id, t.transactions.c.member, t.transactions.c.lane,
                       t.transaction_lines.c.tag)
                .join(t.transaction_lines, t.transaction_lines.c.transaction_id == t.transactions.c.id)
                .where(t.transactions.c.store == store)
            ).all()
    finally:
        engine.dispose()
    baskets: dict[str, tuple[str, str, list[str]]] = {}
    for transaction, member, lane, tag in rows:
        baskets.setdefault(transaction, (member, lane, []))[2].append(tag)
    return sorted((member, lane, tuple(sorted(tags))) for member, lane, tags in baskets.values())


REPORTS: list[FaultReport] = []


def record(report: FaultReport) -> FaultReport:
    """Keep the figures for the session summary and write them to ``.run/faults/<name>.json``."""
    REPORTS.append(report)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / f"{report.name}.json").write_text(json.dumps(report.to_json(), indent=2))
    return report

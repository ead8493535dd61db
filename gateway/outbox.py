"""The durable outbox: every outbound data message waits in SQLite (WAL) until its PUBACK, and is kept a while after.

:meth:`Outbox.append` takes the gateway's next ``seq`` (one counter across reads, sensors, alarms and acks,
persisted in the same database) and stores the topic and payload in the same transaction, so a crash can
neither lose a batch nor reuse a ``seq``. The publisher calls :meth:`Outbox.mark_delivered` after a
successful PUBACK; a delivered entry is kept for ``keep_s`` seconds (at most ``keep_count`` of them) so that
ingest can ask for a ``seq`` it never received (:meth:`Outbox.resend`: the entries wait again). One row holds
one whole batch, so a transaction carries hundreds of reads.

The ids of the commands answered are kept too (:meth:`Outbox.answered`), so a command delivered twice is
carried out once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from contract.topics import GatewayKind, gateway_topic
from gateway.durable import immediate, open_durable
from gateway.errors import OutboxError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS answered (
    command_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS answered_seq ON answered (seq);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES ('last_seq', 0);
"""
_DELIVERED_AT = "ALTER TABLE outbox ADD COLUMN delivered_at REAL"
"""Added to an outbox file made before entries were kept after delivery (NULL: still waiting)."""
DEFAULT_KEEP_S = 3600.0
DEFAULT_KEEP_COUNT = 5000
ANSWERED_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    seq: int
    kind: str
    topic: str
    payload: bytes
    created_at: float
    """Wall-clock seconds (Unix time) when the entry was appended."""


class Outbox:
    """A SQLite outbox for one gateway; safe to share between threads."""

    def __init__(
        self,
        path: Path | str,
        store: str,
        gateway: str,
        *,
        keep_s: float = DEFAULT_KEEP_S,
        keep_count: int = DEFAULT_KEEP_COUNT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.store, self.gateway = store, gateway
        self.keep_s, self.keep_count = keep_s, keep_count
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self._db = open_durable(self.path, _SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
            if "delivered_at" not in columns:
                self._db.execute(_DELIVERED_AT)
            self._db.execute("CREATE INDEX IF NOT EXISTS outbox_waiting ON outbox (delivered_at, seq)")
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS outbox_kept ON outbox (seq) WHERE delivered_at IS NOT NULL"
            )
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"cannot open outbox {str(self.path)!r}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def append(
        self, kind: GatewayKind, build_payload: Callable[[int], bytes], *, answers: str | None = None
    ) -> OutboxEntry:
        """Store one message; ``build_payload(seq)`` makes its payload with the next ``seq``.

        ``answers``: the id of the command this message (an ack) answers, remembered in the same transaction.
        """
        topic = gateway_topic(self.store, self.gateway, kind)
        with self._lock:
            try:
                with immediate(self._db) as db:
                    (last,) = db.execute("SELECT value FROM counters WHERE name = 'last_seq'").fetchone()
                    seq = int(last) + 1
                    payload = build_payload(seq)
                    created = self._clock()
                    cursor = db.execute(
                        "INSERT INTO outbox (seq, kind, topic, payload, created_at) VALUES (?, ?, ?, ?, ?)",
                        (seq, kind, topic, payload, created),
                    )
                    db.execute("UPDATE counters SET value = ? WHERE name = 'last_seq'", (seq,))
                    if answers is not None:
                        db.execute(
                            "INSERT OR REPLACE INTO answered (command_id, seq) VALUES (?, ?)", (answers, seq)
                        )
                        db.execute(
                            "DELETE FROM answered WHERE seq <= ("
                            " SELECT seq FROM answered ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                            (ANSWERED_KEPT,),
                        )
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot append to outbox {str(self.path)!r}: {exc}") from exc
        assert cursor.lastrowid is not None
        return OutboxEntry(cursor.lastrowid, seq, kind, topic, payload, created)

    def pending(self, limit: int = 100, *, after_seq: int = 0) -> list[OutboxEntry]:
        """Up to ``limit`` waiting entries with ``seq`` above ``after_seq``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, seq, kind, topic, payload, created_at FROM outbox"
                " WHERE delivered_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [OutboxEntry(int(r[0]), int(r[1]), r[2], r[3], bytes(r[4]), float(r[5])) for r in rows]

    def mark_delivered(self, ids: Iterable[int]) -> int:
        """The broker took these entries: they stop waiting and are kept for :meth:`resend`; returns how many."""
        batch = [(self._clock(), i) for i in ids]
        if not batch:
            return 0
        with self._lock:
            try:
                with immediate(self._db) as db:
                    before = db.total_changes
                    db.executemany(
                        "UPDATE outbox SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL", batch
                    )
                    marked = db.total_changes - before
                    self._prune(db)
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot mark delivered in outbox {str(self.path)!r}: {exc}") from exc
        return marked

    def _prune(self, db: sqlite3.Connection) -> None:
        """Forget delivered entries older than ``keep_s`` or beyond the newest ``keep_count``."""
        db.execute(
            "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND (delivered_at < ? OR seq <= ("
            " SELECT seq FROM outbox WHERE delivered_at IS NOT NULL ORDER BY seq DESC LIMIT 1 OFFSET ?))",
            (self._clock() - self.keep_s, self.keep_count),
        )

    def resend(self, from_seq: int, to_seq: int) -> list[int]:
        """Make the kept entries from ``from_seq`` to ``to_seq`` wait again; return the ``seq`` not kept.

        An entry still waiting is left as it is (it goes out anyway); a ``seq`` that is no longer kept (or
        was never handed out) is returned so that the asker can be told it is lost.
        """
        with self._lock:
            try:
                with immediate(self._db) as db:
                    db.execute(
                        "UPDATE outbox SET delivered_at = NULL WHERE seq BETWEEN ? AND ? AND delivered_at IS NOT NULL",
                        (from_seq, to_seq),
                    )
                    kept = {
                        int(r[0])
                        for r in db.execute("SELECT seq FROM outbox WHERE seq BETWEEN ? AND ?", (from_seq, to_seq))
                    }
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot resend from outbox {str(self.path)!r}: {exc}") from exc
        return [seq for seq in range(from_seq, to_seq + 1) if seq not in kept]

    def answered(self, command_id: str) -> bool:
        """True if an ack for this command id went into the outbox (within the last 10,000 answers)."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM answered WHERE command_id = ?", (command_id,)).fetchone()
        return row is not None

    def kept(self) -> int:
        """Delivered entries kept for :meth:`resend`."""
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NOT NULL").fetchone()
        return int(count)

    def depth(self) -> int:
        """Entries waiting for their PUBACK."""
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").fetchone()
        return int(count)

    def last_seq(self) -> int:
        """The last ``seq`` handed out (0 before the first append)."""
        with self._lock:
            (value,) = self._db.execute("SELECT value FROM counters WHERE name = 'last_seq'").fetchone()
        return int(value)

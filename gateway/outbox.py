"""The durable outbox: every outbound data message waits in SQLite (WAL) until its PUBACK.

:meth:`Outbox.append` takes the gateway's next ``seq`` (one counter across reads and sensors, persisted in
the same database) and stores the topic and payload in the same transaction, so a crash can neither lose
a batch nor reuse a ``seq``. Entries leave only through :meth:`Outbox.remove`, which the publisher calls
after a successful PUBACK. One row holds one whole batch, so a transaction carries hundreds of reads.
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
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES ('last_seq', 0);
"""


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
        self, path: Path | str, store: str, gateway: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = Path(path)
        self.store, self.gateway = store, gateway
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self._db = open_durable(self.path, _SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"cannot open outbox {str(self.path)!r}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def append(self, kind: GatewayKind, build_payload: Callable[[int], bytes]) -> OutboxEntry:
        """Store one message; ``build_payload(seq)`` makes its payload with the next ``seq``."""
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
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot append to outbox {str(self.path)!r}: {exc}") from exc
        assert cursor.lastrowid is not None
        return OutboxEntry(cursor.lastrowid, seq, kind, topic, payload, created)

    def pending(self, limit: int = 100, *, after_seq: int = 0) -> list[OutboxEntry]:
        """Up to ``limit`` waiting entries with ``seq`` above ``after_seq``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, seq, kind, topic, payload, created_at FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [OutboxEntry(int(r[0]), int(r[1]), r[2], r[3], bytes(r[4]), float(r[5])) for r in rows]

    def remove(self, ids: Iterable[int]) -> int:
        """Delete delivered entries; returns how many were removed."""
        batch = [(i,) for i in ids]
        if not batch:
            return 0
        with self._lock:
            try:
                with immediate(self._db) as db:
                    before = db.total_changes
                    db.executemany("DELETE FROM outbox WHERE id = ?", batch)
                    removed = db.total_changes - before
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot remove from outbox {str(self.path)!r}: {exc}") from exc
        return removed

    def depth(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(count)

    def last_seq(self) -> int:
        """The last ``seq`` handed out (0 before the first append)."""
        with self._lock:
            (value,) = self._db.execute("SELECT value FROM counters WHERE name = 'last_seq'").fetchone()
        return int(value)

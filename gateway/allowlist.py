"""The allow list: the tags that may leave through this gateway's exits without an alarm.

Ingest keeps it up to date with ``allow``/``disallow`` commands (an item joined a basket, was sold, was put
back or returned; staff and asset tags) and sends a whole ``allow_replace`` snapshot when the gateway comes
online, possibly in several parts that share one snapshot id. The set lives in SQLite beside the outbox, so a
restarted gateway knows it before its uplink is back; a snapshot's parts are kept there too until the last
one arrives and the new set is swapped in, in one transaction. Only the newest snapshot's parts are kept.

Membership is answered from memory (:meth:`AllowList.__contains__` is what the reader threads ask, so it takes
no lock and touches no disk); every change is written to disk before it is applied in memory.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from gateway.durable import immediate, open_durable
from gateway.errors import AllowListError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS allowed (tag TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshot_parts (
    snapshot TEXT NOT NULL,
    part INTEGER NOT NULL,
    parts INTEGER NOT NULL,
    tags TEXT NOT NULL,
    PRIMARY KEY (snapshot, part)
);
"""


def allowlist_path(outbox: Path) -> Path:
    """Where the allow list of a gateway with this outbox lives: beside it (``outbox.db`` → ``outbox.allow.db``)."""
    return outbox.with_name(f"{outbox.stem}.allow.db")


class AllowList:
    """A persistent set of tag keys (``EPC:…``/``UID:…``); safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = open_durable(self.path, _SCHEMA)
            self._tags: frozenset[str] = frozenset(r[0] for r in self._db.execute("SELECT tag FROM allowed"))
        except (sqlite3.Error, OSError) as exc:
            raise AllowListError(f"cannot open allow list {str(self.path)!r}: {exc}") from exc

    def __contains__(self, tag: object) -> bool:
        return tag in self._tags

    def __len__(self) -> int:
        return len(self._tags)

    def snapshot(self) -> frozenset[str]:
        return self._tags

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def allow(self, tags: Iterable[str]) -> None:
        new = frozenset(tags)
        with self._lock:
            self._write(
                lambda db: db.executemany(
                    "INSERT OR IGNORE INTO allowed (tag) VALUES (?)", [(tag,) for tag in new]
                )
            )
            self._tags = self._tags | new

    def disallow(self, tags: Iterable[str]) -> None:
        gone = frozenset(tags)
        with self._lock:
            self._write(
                lambda db: db.executemany("DELETE FROM allowed WHERE tag = ?", [(tag,) for tag in gone])
            )
            self._tags = self._tags - gone

    def replace_part(self, snapshot: str, part: int, parts: int, tags: Iterable[str]) -> bool:
        """Store one part of a snapshot; when every part is there, swap the set in. True if swapped."""
        body = json.dumps(sorted(set(tags)))
        swapped: list[frozenset[str]] = []

        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM snapshot_parts WHERE snapshot != ? OR parts != ?", (snapshot, parts))
            db.execute(
                "INSERT OR REPLACE INTO snapshot_parts (snapshot, part, parts, tags) VALUES (?, ?, ?, ?)",
                (snapshot, part, parts, body),
            )
            rows = db.execute("SELECT tags FROM snapshot_parts WHERE snapshot = ?", (snapshot,)).fetchall()
            if len(rows) < parts:
                return
            new = frozenset(tag for (text,) in rows for tag in json.loads(text))
            db.execute("DELETE FROM allowed")
            db.executemany("INSERT INTO allowed (tag) VALUES (?)", [(tag,) for tag in new])
            db.execute("DELETE FROM snapshot_parts")
            swapped.append(new)

        with self._lock:
            self._write(work)
            if swapped:
                self._tags = swapped[0]
        return bool(swapped)

    def _write(self, work: Callable[[sqlite3.Connection], object]) -> None:
        try:
            with immediate(self._db) as db:
                work(db)
        except sqlite3.Error as exc:
            raise AllowListError(f"cannot write allow list {str(self.path)!r}: {exc}") from exc

"""The SQLite handling the gateway's durable files share (the outbox and the allow list).

Both are opened the same way (WAL, ``synchronous=FULL``, a busy time-out, autocommit so transactions are
explicit) and change only inside ``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any failure.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def open_durable(path: Path, schema: str) -> sqlite3.Connection:
    """Open (creating the folder and the tables if needed) a database shared between threads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")
    db.executescript(schema)
    return db


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: committed when the block ends, rolled back if it (or the commit) fails."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise

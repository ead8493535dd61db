"""The outbox keeps every batch until it is removed, across closes and crashes, and never reuses a seq."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest

from gateway.errors import OutboxError
from gateway.outbox import Outbox


def payload(seq: int) -> bytes:
    return json.dumps({"seq": seq}).encode()


def test_append_numbers_reads_and_sensors_with_one_counter(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", "demo", "gw1")
    a = outbox.append("reads", payload)
    b = outbox.append("sensors", payload)
    c = outbox.append("reads", payload)
    assert [a.seq, b.seq, c.seq] == [1, 2, 3]
    assert [e.topic for e in outbox.pending()] == [
        "sc/v1/demo/gw1/reads",
        "sc/v1/demo/gw1/sensors",
        "sc/v1/demo/gw1/reads",
    ]
    assert json.loads(outbox.pending()[1].payload) == {"seq": 2}
    assert outbox.depth() == 3


def test_remove_and_pending_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", "demo", "gw1")
    entries = [outbox.append("reads", payload) for _ in range(5)]
    assert outbox.mark_delivered([entries[0].id, entries[2].id]) == 2
    assert [e.seq for e in outbox.pending()] == [2, 4, 5]
    assert [e.seq for e in outbox.pending(2)] == [2, 4]
    assert [e.seq for e in outbox.pending(after_seq=2)] == [4, 5]
    assert outbox.mark_delivered([entries[0].id]) == 0


def test_reopen_keeps_entries_and_continues_the_seq(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    outbox = Outbox(path, "demo", "gw1")
    for _ in range(3):
        outbox.append("reads", payload)
    outbox.mark_delivered([outbox.pending()[0].id])
    outbox.close()

    reopened = Outbox(path, "demo", "gw1")
    assert [e.seq for e in reopened.pending()] == [2, 3]
    assert reopened.append("reads", payload).seq == 4
    # Even with everything delivered, a seq is never handed out twice.
    reopened.mark_delivered([e.id for e in reopened.pending()])
    reopened.close()
    assert Outbox(path, "demo", "gw1").append("sensors", payload).seq == 5


def _append_then_die(path: str, n: int) -> None:
    outbox = Outbox(path, "demo", "gw1")
    for _ in range(n):
        outbox.append("reads", payload)
    os._exit(0)  # no close, no clean-up: as if the process were killed


def test_survives_a_process_that_dies_without_closing(tmp_path: Path) -> None:
    path = str(tmp_path / "o.db")
    process = multiprocessing.get_context("spawn").Process(target=_append_then_die, args=(path, 25))
    process.start()
    process.join(30)
    assert process.exitcode == 0
    outbox = Outbox(path, "demo", "gw1")
    assert [e.seq for e in outbox.pending(100)] == list(range(1, 26))
    assert outbox.append("reads", payload).seq == 26


def test_a_failing_payload_builder_stores_nothing_and_burns_no_seq(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", "demo", "gw1")

    def broken(seq: int) -> bytes:
        raise ValueError("cannot encode")

    with pytest.raises(ValueError):
        outbox.append("reads", broken)
    assert outbox.depth() == 0
    assert outbox.append("reads", payload).seq == 1


def test_an_unusable_path_is_refused_with_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutboxError, match="file"):
        Outbox(blocker / "o.db", "demo", "gw1")


def test_delivered_entries_are_kept_for_resend_within_the_time_and_count_bounds(tmp_path: Path) -> None:
    now = [1000.0]
    outbox = Outbox(tmp_path / "o.db", "demo", "gw1", keep_s=60, keep_count=3, clock=lambda: now[0])
    entries = [outbox.append("reads", payload) for _ in range(5)]
    assert outbox.mark_delivered(e.id for e in entries[:4]) == 4
    assert (outbox.depth(), outbox.kept()) == (1, 3), "the oldest delivered entry is beyond keep_count"
    assert outbox.resend(1, 3) == [1]
    assert [e.seq for e in outbox.pending()] == [2, 3, 5]
    assert json.loads(outbox.pending()[0].payload) == {"seq": 2}, "resent unchanged"
    assert outbox.resend(5, 7) == [6, 7], "a seq never handed out is not kept either"
    now[0] += 61
    outbox.mark_delivered([entries[4].id])
    assert outbox.kept() == 1, "only the entry delivered within keep_s is kept"


def test_no_retention_forgets_at_delivery(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", "demo", "gw1", keep_count=0)
    entry = outbox.append("reads", payload)
    outbox.mark_delivered([entry.id])
    assert (outbox.kept(), outbox.resend(1, 1)) == (0, [1])


def test_answered_command_ids_are_remembered_across_a_reopen(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", "demo", "gw1")
    outbox.append("ack", payload, answers="alarm-1")
    outbox.close()
    reopened = Outbox(tmp_path / "o.db", "demo", "gw1")
    assert reopened.answered("alarm-1") and not reopened.answered("alarm-2")


def test_an_outbox_file_from_before_retention_is_upgraded_with_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL UNIQUE, kind TEXT NOT NULL,"
        " topic TEXT NOT NULL, payload BLOB NOT NULL, created_at REAL NOT NULL);"
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "INSERT INTO counters VALUES ('last_seq', 1);"
        "INSERT INTO outbox (seq, kind, topic, payload, created_at) VALUES (1, 'reads', 't', x'7b7d', 0);"
    )
    old.close()
    outbox = Outbox(path, "demo", "gw1")
    assert [e.seq for e in outbox.pending()] == [1]
    assert outbox.append("reads", payload).seq == 2

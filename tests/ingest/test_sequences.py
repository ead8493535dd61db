"""The in-memory book of (gateway, seq) messages ingest has taken: repeats, and what it cannot know."""

from __future__ import annotations

from ingest.sequences import SequenceBook

GW = ("s1", "gw1")


def test_a_gateway_never_heard_from_sends_new_batches_and_a_repeat_is_caught() -> None:
    book = SequenceBook()
    assert book.check(GW, 7) == "new"
    book.claim(GW, 7)
    assert book.check(GW, 7) == "repeat"
    assert book.check(GW, 8) == "new"


def test_a_late_one_fills_a_gap_once() -> None:
    book = SequenceBook()
    book.load(GW, 10, [*range(1, 8), 10])
    book.claim(GW, 14)
    assert [book.check(GW, s) for s in (8, 10, 12, 14)] == ["new", "repeat", "new", "repeat"]
    book.claim(GW, 8)
    assert book.check(GW, 8) == "repeat"


def test_a_seq_older_than_the_window_is_left_to_the_database() -> None:
    book = SequenceBook(window=100)
    book.load(GW, 1000, range(1, 1001))
    assert book.check(GW, 950) == "repeat"
    assert book.check(GW, 900) == "unknown"
    for seq in range(1001, 1400):
        book.claim(GW, seq)
    assert book.check(GW, 1200) == "unknown"
    assert book.check(GW, 1350) == "repeat"


def test_a_released_claim_makes_the_redelivery_new_again() -> None:
    book = SequenceBook()
    book.load(GW, 5, [4, 5])
    book.claim(GW, 6)
    book.claim(GW, 7)
    book.release(GW, 7)
    book.release(GW, 6)
    assert book.check(GW, 7) == "new" and book.check(GW, 6) == "new"
    assert book.check(GW, 5) == "repeat"


def test_gateways_are_kept_apart() -> None:
    book = SequenceBook()
    book.claim(GW, 1)
    assert book.check(("s1", "gw2"), 1) == "new"
    assert book.check(("s2", "gw1"), 1) == "new"

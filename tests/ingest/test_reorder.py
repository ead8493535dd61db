"""The reorder stage: a gateway's messages reach the rules in ``seq`` order whatever order they arrived in,
none lost or doubled; a real gap holds what follows it for ``wait_s`` at most."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.reorder import Reorder


def test_the_next_seq_goes_through_at_once_and_one_ahead_waits_for_the_seq_before_it() -> None:
    stage: Reorder[str] = Reorder(wait_s=0.5)
    stage.seed("gw1", 6)
    assert stage.offer("gw1", 7, "card", now=0.0) == ["card"]
    assert stage.offer("gw1", 9, "exit", now=0.1) == []
    assert stage.offer("gw1", 10, "exit again", now=0.1) == []
    assert stage.held == 2
    assert stage.offer("gw1", 8, "items", now=0.2) == ["items", "exit", "exit again"]
    assert stage.held == 0 and stage.next_due() is None
    assert (stage.stats.held, stage.stats.in_order, stage.stats.waited) == (2, 2, 0)


def test_a_new_gateway_starts_at_seq_1_and_one_that_starts_higher_waits_once() -> None:
    stage: Reorder[str] = Reorder(wait_s=0.5)
    assert stage.offer("new", 2, "items", now=0.0) == []
    assert stage.offer("new", 1, "card", now=0.1) == ["card", "items"]
    assert stage.offer("restored", 5000, "a", now=0.0) == []
    assert stage.due(now=0.5) == ["a"]
    assert stage.offer("restored", 5001, "b", now=0.6) == ["b"]


def test_a_repeat_or_a_seq_older_than_the_last_goes_through_for_the_caller_to_judge() -> None:
    stage: Reorder[str] = Reorder(wait_s=0.5)
    stage.seed("gw1", 20)
    assert stage.offer("gw1", 20, "repeat", now=0.0) == ["repeat"]
    assert stage.offer("gw1", 3, "resent long ago", now=0.0) == ["resent long ago"]
    assert stage.offer("gw1", 21, "next", now=0.0) == ["next"]


def test_a_real_gap_releases_what_is_held_in_order_after_the_wait_and_a_late_seq_then_goes_through() -> None:
    stage: Reorder[int] = Reorder(wait_s=0.5)
    stage.seed("gw1", 1)
    assert stage.offer("gw1", 4, 4, now=0.0) == []
    assert stage.offer("gw1", 3, 3, now=0.3) == []
    assert stage.offer("gw1", 6, 6, now=0.4) == []
    assert stage.next_due() == 0.5
    assert stage.due(now=0.49) == []
    assert stage.due(now=0.5) == [3, 4]  # 2 is given up waiting for; 6 has its own wait (5 is missing)
    assert stage.offer("gw1", 5, 5, now=0.6) == [5, 6]
    assert stage.offer("gw1", 2, 2, now=0.7) == [2]  # late: the caller's gap tracking fills it
    assert (stage.stats.waited, stage.stats.in_order) == (2, 1)


def test_gateways_are_ordered_each_on_its_own() -> None:
    stage: Reorder[str] = Reorder(wait_s=0.5)
    stage.seed("gw1", 1)
    stage.seed("gw2", 1)
    assert stage.offer("gw1", 3, "gw1-3", now=0.0) == []
    assert stage.offer("gw2", 2, "gw2-2", now=0.0) == ["gw2-2"]
    assert stage.offer("gw2", 3, "gw2-3", now=0.0) == ["gw2-3"]
    assert stage.offer("gw1", 2, "gw1-2", now=0.0) == ["gw1-2", "gw1-3"]


def test_beyond_max_held_the_oldest_held_goes_out_early_and_stop_gives_back_the_rest() -> None:
    stage: Reorder[int] = Reorder(wait_s=60.0, max_held=2)
    stage.seed("gw1", 0)
    assert stage.offer("gw1", 3, 3, now=0.0) == []
    assert stage.offer("gw1", 5, 5, now=1.0) == []
    assert stage.offer("gw1", 7, 7, now=2.0) == [3]
    assert stage.held == 2
    assert stage.take_all() == [5, 7]
    assert stage.held == 0 and stage.due(now=1e9) == []


arrivals = st.integers(min_value=1, max_value=30).flatmap(
    lambda n: st.tuples(st.permutations(range(1, n + 1)), st.lists(st.floats(0.0, 0.4), min_size=n, max_size=n)))


@given(arrivals)
def test_any_order_within_the_wait_comes_out_in_seq_order_once_each(arrival: tuple[list[int], list[float]]) -> None:
    """The first seq is known (seeded); the others arrive in any order within the wait: the output is the
    sequence itself, each message once, and nothing waited."""
    order, offsets = arrival
    stage: Reorder[int] = Reorder(wait_s=0.5)
    stage.seed("gw1", 0)
    out: list[int] = []
    for seq, at in zip(order, sorted(offsets), strict=True):
        out.extend(stage.due(at))
        out.extend(stage.offer("gw1", seq, seq, at))
    assert out == sorted(order)
    assert stage.held == 0 and stage.stats.waited == 0


@given(arrivals, st.data())
def test_a_missing_seq_holds_what_follows_it_until_the_wait_then_all_comes_out_in_order(
    arrival: tuple[list[int], list[float]], data: st.DataObject,
) -> None:
    order, offsets = arrival
    missing = data.draw(st.sampled_from(order))
    stage: Reorder[int] = Reorder(wait_s=0.5)
    stage.seed("gw1", 0)
    out: list[int] = []
    times = sorted(offsets)
    for seq, at in zip(order, times, strict=True):
        if seq != missing:
            out.extend(stage.due(at))
            out.extend(stage.offer("gw1", seq, seq, at))
    assert out == list(range(1, missing))  # nothing after the gap within the wait
    out.extend(stage.due(times[-1] + 0.5))
    assert out == [seq for seq in sorted(order) if seq != missing]
    assert stage.held == 0


@given(st.lists(st.tuples(st.integers(1, 40), st.floats(0.0, 5.0)), max_size=60),
       st.integers(min_value=1, max_value=50))
def test_with_gaps_repeats_and_any_timing_nothing_is_lost_or_doubled_or_released_past_a_lower_held_seq(
    arrivals: list[tuple[int, float]], max_held: int,
) -> None:
    """Whatever arrives (gaps, repeats, late seqs, any timing): every message comes out exactly once; what
    comes out above everything released before comes out in rising order and never while a lower seq is
    still held; nothing is held past ``wait_s`` once :meth:`due` was called; at most ``max_held`` are held."""
    stage: Reorder[tuple[int, int]] = Reorder(wait_s=0.5, max_held=max_held)
    stage.seed("gw1", 0)
    released: list[tuple[int, int]] = []
    highest = 0

    def took(items: list[tuple[int, int]]) -> None:
        nonlocal highest
        fresh = [seq for seq, _ in items if seq not in {s for s, _ in released}]
        assert fresh == sorted(fresh), "a call let a seq out before a lower one"
        for seq, n in items:
            if seq > highest:
                highest = seq
            released.append((seq, n))
        assert all(seq > highest for seq in stage.waiting("gw1"))
        assert stage.held <= max_held

    for n, (seq, at) in enumerate(sorted(arrivals, key=lambda a: a[1])):
        took(stage.due(at))
        due = stage.next_due()
        assert due is None or due > at
        took(stage.offer("gw1", seq, (seq, n), at))
    took(stage.due(1e9))
    assert sorted(released) == sorted((seq, n) for n, (seq, _) in enumerate(sorted(arrivals, key=lambda a: a[1])))
    assert stage.held == 0

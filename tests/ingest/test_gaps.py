"""The gap tracker: a skipped seq gets a grace period, then resend requests, then is reported lost."""

from __future__ import annotations

from contract.payloads import MAX_RESEND_SPAN, seq_ranges
from ingest.gaps import GapTracker, Resend


def test_in_order_seq_is_no_gap_and_a_reordered_one_arriving_in_grace_is_never_requested() -> None:
    gaps = GapTracker(grace_s=2.0)
    for seq in (1, 2, 3):
        assert gaps.observe("gw1", seq, now=0.0) == 0
    assert gaps.observe("gw1", 5, now=0.0) == 1
    assert gaps.due(now=1.0) == []
    gaps.observe("gw1", 4, now=1.5)
    assert gaps.due(now=10.0) == []
    assert (gaps.stats.noticed, gaps.stats.late, gaps.stats.requests, gaps.stats.lost) == (1, 1, 0, 0)


def test_missing_runs_are_requested_after_the_grace_once_per_retry_and_filled() -> None:
    gaps = GapTracker(grace_s=2.0, retry_s=10.0)
    gaps.observe("gw1", 1, now=0.0)
    gaps.observe("gw1", 5, now=0.0)  # 2-4 missing
    gaps.observe("gw1", 7, now=0.0)  # 6 missing
    assert gaps.due(now=2.0) == [Resend("gw1", 2, 4), Resend("gw1", 6, 6)]
    assert gaps.due(now=5.0) == []  # asked; not again before retry_s
    for seq in (2, 3, 4):
        gaps.observe("gw1", seq, now=6.0)
    assert gaps.due(now=12.0) == [Resend("gw1", 6, 6)]
    assert gaps.missing("gw1") == [6]
    assert gaps.stats.filled == 3


def test_unanswered_requests_back_off_and_keep_going_until_the_gateway_would_have_forgotten() -> None:
    """Requests lost to a broker killed again must not make ingest give up on a batch the gateway still keeps."""
    gaps = GapTracker(grace_s=1.0, retry_s=1.0, retry_max_s=4.0, give_up_s=30.0)
    gaps.observe("gw1", 1, now=0.0)
    gaps.observe("gw1", 3, now=0.0)
    asked = [t for t in range(0, 40) if gaps.due(now=float(t)) == [Resend("gw1", 2, 2)]]
    assert asked == [1, 2, 4, 8, 12, 16, 20, 24, 28]  # back-off 1, 2, 4, then capped at 4 s; none after 30 s
    assert gaps.take_lost() == {"gw1": [2]}
    assert gaps.take_lost() == {}
    assert gaps.stats.lost == 1 and gaps.missing("gw1") == []


def test_a_seq_filled_after_many_lost_requests_is_counted_filled_not_lost() -> None:
    gaps = GapTracker(grace_s=0.0, retry_s=1.0, retry_max_s=2.0, give_up_s=3600.0)
    gaps.observe("gw1", 1, now=0.0)
    gaps.observe("gw1", 3, now=0.0)
    for t in range(0, 600, 2):  # ten minutes of requests nobody answers
        gaps.due(now=float(t))
    gaps.observe("gw1", 2, now=600.0)
    assert (gaps.stats.filled, gaps.stats.lost, gaps.missing("gw1")) == (1, 0, [])


def test_a_refused_resend_gives_up_what_is_still_missing_in_its_range() -> None:
    gaps = GapTracker(grace_s=0.0)
    gaps.seed("gw1", 10)
    gaps.observe("gw1", 15, now=0.0)  # 11-14 missing (across a restart: the seed)
    assert gaps.due(now=0.0) == [Resend("gw1", 11, 14)]
    gaps.observe("gw1", 12, now=0.5)  # the gateway still had 12
    gaps.refused("gw1", 11, 14)
    assert gaps.take_lost() == {"gw1": [11, 13, 14]}


def test_memory_and_requests_stay_bounded_whatever_the_seq_jump() -> None:
    gaps = GapTracker(grace_s=0.0, max_missing=100, max_requests=2)
    gaps.observe("gw1", 1, now=0.0)
    assert gaps.observe("gw1", 1_000_000, now=0.0) == 999_998
    assert len(gaps.missing("gw1")) == 100
    assert len(gaps.take_lost()["gw1"]) == 999_898
    for seq in range(1_000_001, 1_000_400, 2):  # every other seq missing: many small runs
        gaps.observe("gw1", seq, now=0.0)
    assert len(gaps.missing("gw1")) == 100
    requests = gaps.due(now=0.0)
    assert len(requests) == 2


def test_a_long_run_is_split_into_requests_the_contract_accepts() -> None:
    gaps = GapTracker(grace_s=0.0, max_missing=5000)
    gaps.observe("gw1", 1, now=0.0)
    gaps.observe("gw1", 2 + MAX_RESEND_SPAN + 10, now=0.0)
    requests = gaps.due(now=0.0)
    assert [(r.from_seq, r.to_seq) for r in requests] == [(2, MAX_RESEND_SPAN + 1),
                                                           (MAX_RESEND_SPAN + 2, MAX_RESEND_SPAN + 11)]


def test_gateways_are_tracked_apart() -> None:
    gaps = GapTracker(grace_s=0.0)
    gaps.observe("gw1", 1, now=0.0)
    gaps.observe("gw2", 7, now=0.0)
    gaps.observe("gw2", 9, now=0.0)
    assert gaps.due(now=0.0) == [Resend("gw2", 8, 8)]


def test_seq_ranges_names_runs() -> None:
    assert seq_ranges([3, 4, 5, 9, 11, 12]) == "3-5,9,11-12"

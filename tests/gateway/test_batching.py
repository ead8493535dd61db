from __future__ import annotations

from gateway.batching import Batcher


def test_full_batches_leave_at_once_and_the_rest_after_the_delay() -> None:
    batcher: Batcher[int] = Batcher(max_items=3, max_delay_s=0.05)
    assert batcher.add(range(7), now=10.0) == [[0, 1, 2], [3, 4, 5]]
    assert batcher.due(10.04) is None
    assert batcher.next_due() == 10.05
    assert batcher.due(10.05) == [6]
    assert batcher.due(11.0) is None


def test_zero_delay_releases_every_add() -> None:
    batcher: Batcher[str] = Batcher(max_items=500, max_delay_s=0.0)
    assert batcher.add(["a", "b"], now=1.0) == [["a", "b"]]
    assert len(batcher) == 0

"""In a real Chromium an operator clicks an alarm, a held lane and a sale and sees why each was decided."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import RunningDashboard, signed_in_context
from tests.dashboard.explained import SALE_ID, WALKOUT_TAG, seed_explained

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name))
    if os.environ.get("SC_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["SC_SCREENSHOT_DIR"]) / name))


def test_operator_opens_the_evidence_of_an_alarm_a_held_lane_and_a_sale(
    live_dashboard: RunningDashboard, chromium: Any, tmp_path: Path
) -> None:
    seeded = seed_explained(live_dashboard.settings.db_url)
    context = signed_in_context(
        chromium, live_dashboard.url,
        viewport={"width": 1600, "height": 1100},
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(live_dashboard.url + "/")
        dialog = page.locator("#evidence")

        # The edge alarm: the gateway decided it, this fast, on these reads, by this rule.
        alarm = page.locator(f"#alerts .alert[data-id='{seeded.edge_alarm}']")
        alarm.wait_for(timeout=10_000)
        assert "gateway" in alarm.inner_text() and "142 ms" in alarm.inner_text()
        page.locator("#stock .low[data-sku='MILK-1L']").wait_for(timeout=10_000)
        _shot(page, tmp_path, "explain-page.png")
        alarm.click()
        dialog.wait_for(state="visible", timeout=5_000)
        page.locator("#evidence-badges .badge.edge").wait_for(timeout=5_000)
        text = dialog.inner_text()
        assert "decided at the gateway in 142 ms" in text
        assert "exit-gate" in text and "window_s" in text and "3.0" in text
        assert page.locator("#evidence .path li").all_inner_texts() == ["exit-inner", "exit-outer"]
        assert page.locator("#evidence-rows tr").count() == 4
        assert WALKOUT_TAG in page.locator("#evidence-rows").inner_text()
        assert "exit-uhf:2" in page.locator("#evidence-rows").inner_text()
        _shot(page, tmp_path, "explain-alarm.png")
        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden", timeout=5_000)

        # The held lane: who is in it and what their baskets hold; nothing charged.
        page.locator(f"#alerts .alert[data-id='{seeded.lane_conflict}']").click()
        page.locator("#evidence .members .chip", has_text="Grace Hopper").wait_for(timeout=5_000)
        _shot(page, tmp_path, "explain-held.png")
        held = dialog.inner_text().lower()
        assert "ada lovelace" in held and "rye bread" in held and "held, nothing charged" in held
        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden", timeout=5_000)

        # The sale: its lines, the rule that committed it and the reads it rests on.
        page.locator(f"#transactions .tx[data-id='{SALE_ID}']").click()
        dialog.wait_for(state="visible", timeout=5_000)
        page.locator("#evidence .rule-name", has_text="lane-basket").wait_for(timeout=5_000)
        sale = dialog.inner_text()
        assert "Organic milk 1 l" in sale and "min_reads" in sale and "lane-1-uhf" in sale
        assert page.locator("#evidence .path li").all_inner_texts() == ["entrance", "lane-1"]
        assert page.locator("#evidence-clear").is_hidden()
        _shot(page, tmp_path, "explain-sale.png")
        page.keyboard.press("Escape")

        # The operator acknowledges the missing item: it shows as cleared.
        page.locator(f"#alerts .alert[data-id='{seeded.missing}']").click()
        page.locator("#evidence-clear").click()
        page.locator(f"#alerts .alert.cleared[data-id='{seeded.missing}']").wait_for(timeout=5_000)
        assert "cleared" in page.locator("#evidence-badges").inner_text()
        assert errors == []
    finally:
        context.close()

"""The member and marketing pages in a real Chromium, on a store with a few months of simulated history."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import serving, settings_for, signed_in_context, unreachable_mqtt
from tests.dashboard.test_crm_api import crm_db_url  # noqa: F401  (the seeded history)

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def crm_dashboard(crm_db_url: str) -> Iterator[str]:  # noqa: F811
    """The dashboard on the seeded history (no broker needed: these pages only use the REST API)."""
    with serving(settings_for(crm_db_url, unreachable_mqtt())) as url:
        yield url


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    if os.environ.get("SC_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["SC_SCREENSHOT_DIR"]) / name), full_page=True)


def test_member_and_marketing_pages(crm_dashboard: str, chromium: Any, tmp_path: Path) -> None:
    context = signed_in_context(
        chromium, crm_dashboard,
        viewport={"width": 1440, "height": 1000},
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # the operator page's header leads to the marketing page, which lists the members
    page.goto(crm_dashboard + "/")
    page.locator("nav.nav a", has_text="Marketing").click()
    page.wait_for_selector("body[data-ready='true']", timeout=10_000)
    assert page.locator("#funnel-chart rect.bar").count() == 4
    assert page.locator("#heatmap .cell").count() == 9
    assert page.locator("#pareto-chart path.curve").count() == 2
    assert page.locator("#redemptions-chart rect.bar").count() >= 1
    assert "Spring flyer" in page.locator("#acquisition").inner_text() or "1 campaign" in page.locator(
        "#acquisition").inner_text()
    assert "Lager 6-pack" in page.locator("#pairs").inner_text()
    _shot(page, tmp_path, "marketing.png")

    page.locator("#members a", has_text="Ada Lovelace").click()
    page.wait_for_selector("body[data-ready='true']", timeout=10_000)
    page.wait_for_selector("#stages li.current", timeout=10_000)
    assert page.locator("#stages li.current").inner_text() == "commitment"
    assert "Organic milk 1 l" in page.locator("#cycles").inner_text()
    household = page.locator("#household").inner_text()  # Ada and Ben's household added up
    assert "Household: H-1" in household and "Ben Lovelace" in household
    offers = page.locator("#offers").inner_text()
    assert "Free-range eggs 6" in offers and "redeemed" in offers
    assert page.locator("#decisions .decision").count() >= 1
    _shot(page, tmp_path, "member.png")

    # the operator withdraws consent to offers: the active offer is withdrawn at once
    page.locator("#consent input[name='offers']").uncheck()
    page.locator("#consent button").click()
    page.locator("#offers .badge.withdrawn").wait_for(timeout=10_000)
    assert errors == []
    context.close()

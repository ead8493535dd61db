"""The member and marketing pages in a real Chromium, on a store with a few months of simulated history."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dashboard.conftest import OPERATOR, serving, settings_for, signed_in_context, unreachable_mqtt
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


def test_a_member_opens_their_own_link_without_a_login_and_disputes_a_charge(
        crm_dashboard: str, tmp_path: Path, chromium: Any) -> None:
    url = crm_dashboard
    with httpx.Client(base_url=url, auth=OPERATOR) as staff:
        link = staff.post("/api/members/M-1003/link", json={"valid_days": 3}).json()["url"]
        context = chromium.new_context(viewport={"width": 1280, "height": 900})  # no dashboard login at all
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url + link)
        page.wait_for_selector("body[data-ready='true']", timeout=10_000)
        assert page.locator("#me-h").text_content() == "Hello Cleo Byron"
        purchases = page.locator("#purchases .purchase")
        assert purchases.count() == 2 and "Ada" not in page.locator("main").inner_text()
        assert page.locator("#my-decisions").inner_text() != ""

        # her very first store milk: she disputes it, the store refunds it at once and says why
        first = purchases.last
        first.locator("tr", has_text="Store milk 1 l").get_by_role("button", name="Dispute").click()
        first.get_by_label("Why you dispute this item").fill("I was not there")
        first.get_by_role("button", name="Send").click()
        page.wait_for_function("document.getElementById('dispute-result').textContent.includes('refunded')",
                               timeout=10_000)
        assert "never bought this product" in page.locator("#dispute-result").inner_text()
        page.locator("#my-disputes .badge.refunded").wait_for(timeout=10_000)
        _shot(page, tmp_path, "member-own-page.png")
        assert errors == []

        forged = link.replace("M-1003", "M-1001")
        assert page.goto(url + forged).status == 401
        context.close()

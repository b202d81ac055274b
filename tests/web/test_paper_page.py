"""Paper trading in a real browser: a session started from the form opens its page,
and candles stepped afterwards (as the live stream and its task would) update the
page's equity chart and trades table through the WebSocket, without a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from backtest import paper, services
from backtest.models import PaperSession
from tests.backtest.api.conftest import sma_cross_definition
from tests.backtest.test_paper_sessions import BARS, store
from tests.web.conftest import screenshots, sign_in

pytestmark = pytest.mark.celery_worker

SESSION_URL = re.compile(r".*/paper/(\d+)/$")
WARM = 100  # candles stored before the session starts (more than any warm-up needs)


def test_start_a_session_and_watch_it_trade_live(browser_page, analyst):
    page = browser_page
    store(0, WARM)
    services.create_strategy(analyst, name="SMA cross", **sma_cross_definition())
    sign_in(page, analyst)

    page.goto("/paper/")
    expect(page.locator("[data-no-sessions]")).to_be_visible()
    page.locator("#paper-form[data-markets-loaded]").wait_for()
    page.select_option("#pt-strategy", label="SMA cross")
    page.select_option("#pt-symbol", "BTCUSDT")
    page.select_option("#pt-timeframe", "1h")
    page.fill("#pt-cash", "5000")
    page.select_option("#pt-direction", "both")
    page.click("[data-submit]")
    page.wait_for_url(SESSION_URL)
    session = PaperSession.objects.get(owner=analyst)
    assert page.url.endswith(f"/paper/{session.pk}/")
    expect(page.locator("[data-status]")).to_have_text("Running")
    expect(page.locator("[data-equity]")).to_have_text("5,000.00")
    expect(page.locator("[data-bars]")).to_have_text("0")
    expect(page.locator("[data-stop]")).to_be_visible()
    expect(page.locator("[data-kill]")).to_have_count(0)  # analysts have no kill switch

    page.evaluate("window.__same = true")
    store(WARM, BARS)
    stepped = paper.advance_session(session)
    session.refresh_from_db()
    assert stepped == BARS - WARM and session.trades.count() > 0
    expect(page.locator("[data-bars]")).to_have_text(str(stepped))
    expect(page.locator("[data-trade-count]")).to_have_text(str(session.trades.count()))
    expect(page.locator("[data-equity-chart]")).to_have_attribute("data-point-count", str(stepped))
    expect(page.locator("[data-trades-table] tr[data-row-id]").first).to_be_visible()
    assert page.evaluate("window.__same") is True, "the page reloaded"
    screenshots(page, "paper-session")

    page.click("[data-stop]")
    expect(page.locator("[data-status]")).to_have_text("Stopped")
    expect(page.locator("[data-stop]")).to_be_hidden()

    page.goto("/paper/")
    row = page.locator(f'tr[data-session-id="{session.pk}"]')
    expect(row.locator(".badge")).to_have_text("Stopped")
    screenshots(page, "paper-list")

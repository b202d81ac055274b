"""An analyst's whole day in the browser, as issue #6 names it: sign in through the form
→ build a strategy from a template and change a parameter → run it → the progress bar
reaches 100 % without a reload → the chart draws the trade markers and the trades table
lists the API's trades → run it again with an edit and compare the two runs → upload a
transaction file and replay it. Real daphne, PostgreSQL, Redis and Celery worker; only the
data is made by the test. Screenshots of each step at 1280 and 375 px."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from playwright.sync_api import expect

from backtest.models import Backtest, Strategy
from marketdata.services import import_candles
from replay.models import ReplayRun, TransactionHistory
from tests.backtest.api.conftest import sine_klines
from tests.web.conftest import screenshots

pytestmark = pytest.mark.celery_worker

PASSWORD = "Journey-Password-1"
STRATEGY_PAGE = re.compile(r".*/strategies/(\d+)/")
RUN_PAGE = re.compile(r".*/backtests/(\d+)/$")
FIRST_WINDOW = 'input[data-error-for="entry_rules.long.left.params.window"]'
# Fills inside the stored hourly candles (2024-01-01 onwards, prices around 90 to 110).
FILLS = (
    "time,symbol,side,price,quantity,fee,fee_asset,id\n"
    "2024-01-03T04:10:00Z,BTCUSDT,buy,101.5,2,0.2,USDT,J-1\n"
    "2024-01-04T09:30:00Z,BTCUSDT,sell,104.0,1,0.1,USDT,J-2\n"
    "2024-01-05T15:45:00Z,BTCUSDT,sell,97.2,1,0.1,USDT,J-3\n"
)


@pytest.fixture
def analyst_with_password(analyst):
    """The analyst, with a password the server process can check (the test process
    hashes with a fast hasher the server does not know)."""
    analyst.password = PBKDF2PasswordHasher().encode(PASSWORD, "journeysalt", iterations=1000)
    analyst.save(update_fields=["password"])
    return analyst


def sign_in_with_the_form(page, username: str) -> None:
    page.goto("/")
    page.locator("header").get_by_role("link", name="Sign in").click()
    screenshots(page, "journey-0-sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("[data-username]")).to_have_text(username)


def run_to_completion(page) -> int:
    """On a run page: the progress bar reaches 100 % and the result appears, all without a
    reload. Returns the run's id."""
    page.wait_for_url(RUN_PAGE)
    page.evaluate(
        """() => {
          window.__samePage = true;
          window.__progress = [];
          const bar = document.querySelector('[data-progress]');
          window.__progress.push(Number(bar.value));
          new MutationObserver(() => window.__progress.push(Number(bar.value)))
            .observe(bar, {attributes: true, attributeFilter: ['value']});
        }"""
    )
    run = page.locator("#run")
    expect(run).to_have_attribute("data-status", "completed", timeout=90_000)
    expect(run).to_have_attribute("data-result-ready", "true")
    assert page.evaluate("window.__samePage") is True, "the run page reloaded"
    assert page.evaluate("window.__progress")[-1] == 100
    return int(RUN_PAGE.match(page.url).group(1))


def test_an_analysts_day_in_the_browser(browser_page, analyst_with_password, tmp_path):
    page = browser_page
    import_candles(io.BytesIO(sine_klines()), symbol="BTCUSDT", timeframe="1h")

    # Sign in through the form.
    sign_in_with_the_form(page, analyst_with_password.username)
    screenshots(page, "journey-1-dashboard")

    # A strategy from a template, with one parameter changed.
    page.locator("nav.site-nav").get_by_role("link", name="Strategies").click()
    page.get_by_role("link", name="New strategy").click()
    page.locator("form[data-strategy-form][data-ready]").wait_for()
    page.get_by_label("Start from").select_option("sma_cross")
    page.locator(FIRST_WINDOW).fill("6")
    expect(page.locator("[data-validation-status]")).to_have_attribute("data-state", "valid")
    page.get_by_role("button", name="Save strategy").click()
    page.wait_for_url(STRATEGY_PAGE)
    strategy = Strategy.objects.get(owner=analyst_with_password)
    assert strategy.config["parameters"]["fast"] == 6
    screenshots(page, "journey-2-strategy")

    # Run it.
    page.locator("[data-run-backtest]").first.click()
    expect(page.locator("#bt-strategy")).to_have_value(str(strategy.pk))
    page.select_option("#bt-symbol", "BTCUSDT")
    page.select_option("#bt-timeframe", "1h")
    page.fill("#bt-start", "2024-01-02T00:00")
    page.fill("#bt-end", "2024-01-20T00:00")
    page.get_by_role("button", name="Run backtest").click()
    first_id = run_to_completion(page)

    # The chart's markers and the trades table agree with the API.
    trades = page.evaluate(f"Central.apiAll('/api/backtests/{first_id}/trades/?page_size=1000')")
    assert trades, "the sine wave makes the SMA cross trade"
    chart = page.locator("#candle-chart")
    expect(chart).to_have_attribute(
        "data-marker-count", str(sum(1 + (t["exit_time"] is not None) for t in trades))
    )
    assert chart.locator("canvas").count() > 0
    listed = []
    table = page.locator("[data-trades-table]")
    while True:
        listed += table.locator("tr[data-row-id]").evaluate_all(
            "rows => rows.map(r => Number(r.getAttribute('data-row-id')))"
        )
        following = table.locator('[data-page="next"]')
        if following.is_disabled():
            break
        following.click()
    assert sorted(listed) == sorted(t["id"] for t in trades)
    screenshots(page, "journey-3-result")

    # Re-run with an edit (a higher fee), then compare the two runs.
    page.locator("[data-rerun]").click()
    page.fill("#bt-fee", "0.002")
    page.get_by_role("button", name="Run backtest").click()
    second_id = run_to_completion(page)
    assert Backtest.objects.get(pk=second_id).parameters["fee"] == 0.002

    page.locator("nav.site-nav").get_by_role("link", name="Backtests").click()
    page.check(f"#pick-{first_id}")
    page.check(f"#pick-{second_id}")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r".*/backtests/compare/\?ids="))
    expect(page.locator("[data-compare-chart]")).to_have_attribute("data-series-count", "2")
    # The cheaper run has the better return.
    expect(page.locator('tr[data-metric="total_pnl_percentage"] td.best')).to_have_attribute(
        "data-run", str(first_id)
    )
    screenshots(page, "journey-4-compare")

    # Upload a transaction file and replay it.
    fills = tmp_path / "fills.csv"
    fills.write_text(FILLS)
    page.locator("nav.site-nav").get_by_role("link", name="Transactions").click()
    upload = page.locator("[data-upload-form]")
    upload.locator('input[name="file"]').set_input_files(str(fills))
    upload.get_by_role("button", name="Upload").click()
    expect(page.locator("[data-upload-result]")).to_have_attribute("data-outcome", "imported")
    expect(page.locator("[data-transactions] tr[data-row-id]")).to_have_count(3)
    assert TransactionHistory.objects.filter(owner=analyst_with_password).count() == 3

    form = page.locator("[data-replay-form]")
    expect(form.locator('select[name="symbol"] option[value="BTCUSDT"]')).to_have_count(1)
    form.locator('select[name="symbol"]').select_option("BTCUSDT")
    form.locator('select[name="timeframe"]').select_option("1h")
    form.get_by_role("button", name="Launch replay").click()
    page.wait_for_url(re.compile(r"/replays/\d+/$"))
    page.evaluate("window.__samePage = true")
    expect(page.locator("[data-replay]")).to_have_attribute(
        "data-status", "completed", timeout=60_000
    )
    expect(page.locator("[data-progress]")).to_have_attribute("data-value", "100")
    assert page.evaluate("window.__samePage") is True, "the replay page reloaded"
    expect(page.locator("[data-executions] tr[data-row-id]")).to_have_count(3)
    replay = ReplayRun.objects.get(owner=analyst_with_password)
    assert (replay.summary["transactions"], replay.summary["completed"]) == (3, 3)
    screenshots(page, "journey-5-replay")

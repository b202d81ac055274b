"""Transactions and replays in a real browser: upload (a refused file, then a good one),
the list, a replay followed live to its result, and a comparison with a backtest."""

import re

import pytest
from playwright.sync_api import expect

from replay.models import ImportBatch, ReplayRun, TransactionHistory
from tests.replay.replay_helpers import MINUTE, T0, make_backtest, store_candles
from tests.web.conftest import forgive_refusal, screenshots, sign_in

pytestmark = pytest.mark.celery_worker

HEADER = "time,symbol,side,price,quantity,fee,fee_asset,id\n"
# Around make_backtest's signals (a long 00:10→00:30, a short 00:40→00:50): the buy at
# 00:10:30 and the sell at 00:29 follow the long; the other two follow nothing.
GOOD_ROWS = (
    "2024-01-01T00:05:10Z,BTCUSDT,buy,100.9,0.2,0.02,USDT,F-1\n"
    "2024-01-01T00:10:30Z,BTCUSDT,buy,101.3,1,0.1,USDT,F-2\n"
    "2024-01-01T00:29:00Z,BTCUSDT,sell,102.7,1,0.1,USDT,F-3\n"
    "2024-01-01T00:55:00Z,BTCUSDT,buy,105.6,0.5,0.05,USDT,F-4\n"
)
BAD_ROWS = (
    "2024-01-01T00:05:10Z,BTCUSDT,buy,100.9,0.2,0.02,USDT,F-1\n"
    "2024-01-01T00:10:30Z,BTCUSDT,buy,abc,1,0.1,USDT,F-2\n"
)


def rising_candles() -> None:
    """70 one-minute BTCUSDT candles from T0, rising 0.1 a minute from 100."""
    rows = []
    for k in range(70):
        price = 100 + 0.1 * k
        rows.append((T0 + k * MINUTE, price, price + 0.3, price - 0.3, price + 0.1))
    store_candles("BTCUSDT", rows)


def upload(page, path) -> None:
    form = page.locator("[data-upload-form]")
    form.locator('input[name="file"]').set_input_files(str(path))
    form.get_by_role("button", name="Upload").click()


def test_upload_list_replay_and_compare_with_a_backtest(browser_page, analyst, tmp_path):
    page = browser_page
    rising_candles()
    backtest = make_backtest(analyst)
    bad, good = tmp_path / "bad.csv", tmp_path / "fills.csv"
    bad.write_text(HEADER + BAD_ROWS)
    good.write_text(HEADER + GOOD_ROWS)
    sign_in(page, analyst)
    page.goto("/transactions/")

    # A file with a bad line is refused whole, and the error names the line.
    upload(page, bad)
    result = page.locator("[data-upload-result]")
    expect(result).to_have_attribute("data-outcome", "refused")
    errors = page.locator("[data-upload-error]")
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("line 3")
    expect(errors.first).to_contain_text("price")
    assert TransactionHistory.objects.count() == 0 and ImportBatch.objects.count() == 0
    forgive_refusal(page, "/api/transactions/history/upload/")

    # With "skip invalid rows" the good row is stored and the bad one listed.
    page.locator("[data-upload-form] input[name='skip_invalid']").check()
    upload(page, bad)
    expect(result).to_have_attribute("data-outcome", "imported")
    expect(result).to_contain_text("1 added")
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("line 3")
    page.locator("[data-upload-form] input[name='skip_invalid']").uncheck()

    # A good file: its fills are listed, as many as the database holds.
    upload(page, good)
    expect(result).to_have_attribute("data-outcome", "imported")
    expect(result).to_contain_text("3 added, 1 already imported")
    stored = TransactionHistory.objects.filter(owner=analyst).count()
    assert stored == 4
    rows = page.locator("[data-transactions] tr[data-row-id]")
    expect(rows).to_have_count(stored)
    expect(page.locator("[data-transactions]")).to_have_attribute("data-total-count", str(stored))
    expect(page.locator("[data-imports] tr[data-row-id]")).to_have_count(2)
    expect(page.locator("[data-transaction-summary] tr[data-symbol='BTCUSDT']")).to_be_visible()
    filters = page.locator("[data-transaction-filters]")
    filters.locator("select[name='side']").select_option("sell")
    filters.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(1)
    expect(page.locator("[data-transaction-summary]")).to_contain_text("0 / 1")
    filters.get_by_role("button", name="Clear").click()
    expect(rows).to_have_count(stored)
    screenshots(page, "transactions")

    # Launch a replay; its page follows the progress live and shows the result in place.
    form = page.locator("[data-replay-form]")
    expect(form.locator('select[name="symbol"] option[value="BTCUSDT"]')).to_have_count(1)
    form.locator('select[name="symbol"]').select_option("BTCUSDT")
    form.get_by_role("button", name="Launch replay").click()
    page.wait_for_url(re.compile(r"/replays/\d+/$"))
    page.evaluate("window.__samePage = true")
    replay = page.locator("[data-replay]")
    expect(replay).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(page.locator("[data-progress]")).to_have_attribute("data-value", "100")
    expect(page.locator("[data-progress-text]")).to_have_text("100 %")
    assert page.evaluate("window.__samePage") is True  # no reload on the way
    expect(page.locator("[data-result]")).to_be_visible()
    expect(page.locator("[data-pnl-table] tr[data-symbol='BTCUSDT']")).to_be_visible()
    chart = page.locator("[data-replay-chart]")
    expect(chart).to_have_attribute("data-marker-count", "8")  # 4 real + 4 replayed
    assert int(chart.get_attribute("data-candle-count")) > 0
    expect(page.locator("[data-executions] tr[data-row-id]")).to_have_count(4)
    expect(page.locator("[data-comparison]")).to_be_hidden()
    run = ReplayRun.objects.get(owner=analyst, backtest=None)
    assert run.status == "completed" and run.transaction_count == 4
    screenshots(page, "replay-result")

    # Compare the same fills with the backtest.
    page.goto(f"/replays/new/?backtest={backtest.pk}")
    expect(page.locator("[data-backtest-symbol]")).to_have_text("BTCUSDT")
    page.get_by_role("button", name="Compare my trades").click()
    page.wait_for_url(re.compile(r"/replays/\d+/$"))
    expect(replay).to_have_attribute("data-status", "completed", timeout=30_000)
    comparison = page.locator("[data-comparison]")
    expect(comparison).to_be_visible()
    expect(comparison.locator("[data-matched] .value")).to_have_text("2")
    expect(comparison.locator("[data-missed] .value")).to_have_text("2")
    expect(comparison.locator("[data-unmatched] .value")).to_have_text("2")
    expect(comparison.locator(f"a[href='/backtests/{backtest.pk}/']")).to_be_visible()
    expect(chart).to_have_attribute("data-marker-count", "10")  # and the 2 missed signals
    # In the dark theme (the chart follows the switch).
    page.get_by_role("button", name="Switch between light and dark theme").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    screenshots(page, "replay-vs-backtest")


def test_a_viewer_gets_the_read_only_page(browser_page, viewer):
    page = browser_page
    sign_in(page, viewer)
    page.goto("/transactions/")
    expect(page.locator("[data-readonly-note]")).to_be_visible()
    assert page.locator("[data-upload-form], [data-replay-form], [data-fetch-form]").count() == 0
    expect(page.locator("[data-transactions]")).to_contain_text("No fills match.")
    expect(page.locator("[data-recent-replays]")).to_contain_text("No replays yet.")

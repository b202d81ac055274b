"""Running a backtest in a real browser: the form, live progress without a reload, the
result drawn in place (chart markers, trades table, equity), exports, a failing run,
the dashboard and the list with its compare picker."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from backtest import services
from backtest.models import Backtest, RunStatus, Strategy
from marketdata.services import import_candles
from tests.backtest.api.conftest import sine_klines, sma_cross_definition
from tests.web.conftest import screenshots, sign_in

pytestmark = pytest.mark.celery_worker

RUN_URL = re.compile(r".*/backtests/(\d+)/$")


@pytest.fixture
def scene(analyst) -> Strategy:
    """500 hourly BTCUSDT candles (a sine wave: the SMA cross trades regularly) and an
    SMA 5/20 cross strategy of the analyst's."""
    import_candles(io.BytesIO(sine_klines()), symbol="BTCUSDT", timeframe="1h")
    return services.create_strategy(analyst, name="SMA cross", **sma_cross_definition())


def hold_the_owners_slots(owner, strategy: Strategy) -> list[int]:
    """Runs that look running, so the owner's next run waits in the queue (the worker
    retries it every couple of seconds) until the test releases them: the run page is
    then certainly open before the run starts."""
    request = services.BacktestRequest(strategy=strategy, symbol="BTCUSDT", timeframe="1h")
    held = []
    for _ in range(2):
        run = services.create_backtest(owner, request)
        Backtest.objects.filter(pk=run.pk).update(
            status=RunStatus.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now()
        )
        held.append(run.pk)
    return held


def record_progress(page) -> None:
    """Remember every value the progress bar shows (the attribute reflects `value`)."""
    page.evaluate(
        """() => {
          window.__marker = 1;
          window.__progress = [];
          const bar = document.querySelector('[data-progress]');
          new MutationObserver(() => window.__progress.push(Number(bar.value)))
            .observe(bar, {attributes: true, attributeFilter: ['value']});
        }"""
    )


def table_ids(page) -> list[int]:
    """Trade ids of every page of the trades table."""
    ids = []
    table = page.locator("[data-trades-table]")
    while True:
        ids += [
            int(i)
            for i in table.locator("tr[data-row-id]").evaluate_all(
                "rows => rows.map(r => r.getAttribute('data-row-id'))"
            )
        ]
        following = table.locator('[data-page="next"]')
        if following.is_disabled():
            return ids
        following.click()


def test_run_a_backtest_and_read_its_result(browser_page, analyst, scene):
    page = browser_page
    held = hold_the_owners_slots(analyst, scene)
    sign_in(page, analyst)

    page.goto(f"/backtests/new/?strategy={scene.pk}")
    expect(page.locator("#bt-strategy")).to_have_value(str(scene.pk))
    page.select_option("#bt-symbol", "BTCUSDT")
    page.select_option("#bt-timeframe", "1h")
    expect(page.locator("[data-series-range]")).to_contain_text("500 candles")
    page.fill("#bt-start", "2024-01-02T00:00")
    page.fill("#bt-end", "2024-01-20T00:00")
    page.fill("#bt-fee", "0.0005")
    expect(page.locator("#bt-param-fast")).to_have_attribute("placeholder", "5")
    screenshots(page, "backtest-new")
    page.get_by_role("button", name="Run backtest").click()

    page.wait_for_url(RUN_URL)
    run_id = int(RUN_URL.match(page.url).group(1))
    run = page.locator("#run")
    expect(run).to_have_attribute("data-status", "queued")
    record_progress(page)
    Backtest.objects.filter(pk__in=held).update(status=RunStatus.CANCELLED)

    expect(run).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(run).to_have_attribute("data-result-ready", "true")
    assert page.evaluate("window.__marker") == 1, "the page reloaded"
    assert page.locator("[data-progress]").evaluate("bar => bar.value") == 100
    seen = page.evaluate("window.__progress")
    assert seen and seen[-1] == 100 and len(set(seen)) >= 2, seen

    backtest = Backtest.objects.get(pk=run_id)
    assert backtest.parameters["fee"] == 0.0005
    trades = page.evaluate(f"Central.apiAll('/api/backtests/{run_id}/trades/?page_size=1000')")
    assert trades
    chart = page.locator("#candle-chart")
    expected_markers = sum(1 + (trade["exit_time"] is not None) for trade in trades)
    expect(chart).to_have_attribute("data-marker-count", str(expected_markers))
    assert int(chart.get_attribute("data-candle-count")) == 18 * 24
    assert chart.locator("canvas").count() > 0
    assert page.locator("[data-overlay-legend]").inner_text().count("sma(") == 2
    equity = page.locator("#equity-chart")
    assert int(equity.get_attribute("data-point-count")) > 0 and equity.locator("canvas").count()
    assert page.locator("[data-metric='Trades'] .value").inner_text() == str(len(trades))

    assert table_ids(page) == [trade["id"] for trade in trades]
    previous = page.locator('[data-trades-table] [data-page="prev"]')
    while previous.is_enabled():
        previous.click()
    first = page.locator(f'tr[data-row-id="{trades[0]["id"]}"]')
    first.click()
    expect(first).to_have_class(re.compile(r"\bselected\b"))
    expect(run).to_have_attribute("data-selected-trade", str(trades[0]["id"]))

    page.select_option("#trade-side", "short")
    expect(page.locator("[data-trades-table] tr[data-row-id]")).to_have_count(0)
    page.select_option("#trade-side", "")
    page.fill("#trade-filter", "no such trade")
    expect(page.locator("[data-trades-table] tr[data-row-id]")).to_have_count(0)
    page.fill("#trade-filter", "")

    with page.expect_download() as csv_download:
        page.locator("[data-export=csv]").click()
    assert csv_download.value.suggested_filename == f"backtest-{run_id}-trades.csv"
    lines = Path(csv_download.value.path()).read_text().splitlines()
    assert lines[0].startswith("entry_time,exit_time,side") and len(lines) == len(trades) + 1
    with page.expect_download() as json_download:
        page.locator("[data-export=json]").click()
    report = json.loads(Path(json_download.value.path()).read_text())
    assert len(report["trades"]) == len(trades)

    expect(page.locator("[data-rerun]")).to_have_attribute("href", f"/backtests/new/?from={run_id}")
    screenshots(page, "backtest-result")

    page.goto("/")
    row = page.locator(f'[data-run-row="{run_id}"]')
    expect(row).to_have_attribute("data-status", "completed")
    expect(row.locator("[data-result-link]")).to_be_visible()
    screenshots(page, "dashboard")


def test_a_failing_run_shows_its_error_live_and_on_the_dashboard(browser_page, analyst, scene):
    page = browser_page
    sign_in(page, analyst)
    request = services.BacktestRequest(strategy=scene, symbol="BTCUSDT", timeframe="1h")
    with transaction.atomic():
        run = services.create_backtest(analyst, request)
        # A range without candles: accepted when checked, found empty by the worker.
        future = datetime(2030, 1, 1, tzinfo=UTC)
        Backtest.objects.filter(pk=run.pk).update(start_time=future)
        run.refresh_from_db()
        services.enqueue_backtest(run)

    page.goto(f"/backtests/{run.pk}/")
    root = page.locator("#run")
    expect(root).to_have_attribute("data-status", "failed", timeout=60_000)
    error = page.locator("[data-run-error]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("no BTCUSDT 1h candles in the requested range")
    expect(page.locator("[data-result]")).to_be_hidden()

    page.goto("/")
    row = page.locator(f'[data-run-row="{run.pk}"]')
    expect(row).to_have_attribute("data-status", "failed")
    expect(row.locator("[data-run-error]")).to_contain_text("candles in the requested range")


def test_the_list_picks_runs_to_compare(browser_page, analyst, scene):
    page = browser_page
    sign_in(page, analyst)
    request = services.BacktestRequest(strategy=scene, symbol="BTCUSDT", timeframe="1h")
    runs = [services.create_backtest(analyst, request) for _ in range(3)]
    Backtest.objects.filter(pk=runs[2].pk).update(status=RunStatus.FAILED, error="it broke")
    # The comparison page belongs elsewhere; here only the address it is asked for counts.
    page.route(
        re.compile(r".*/backtests/compare/\?ids=.*"),
        lambda route: route.fulfill(status=200, content_type="text/html", body="<p>compare</p>"),
    )

    page.goto("/backtests/")
    for run in runs:
        expect(page.locator(f'tr[data-row-id="{run.pk}"]')).to_be_visible()
    expect(page.locator(f'tr[data-row-id="{runs[2].pk}"] .run-error')).to_have_text("it broke")
    screenshots(page, "backtest-list")
    page.check(f"#pick-{runs[0].pk}")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator(".form-errors")).to_contain_text("at least two")
    page.check(f"#pick-{runs[1].pk}")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r".*/backtests/compare/\?ids=\d+,\d+$"))
    ids = sorted(int(i) for i in page.url.split("ids=")[1].split(","))
    assert ids == sorted([runs[0].pk, runs[1].pk])


def test_a_viewer_cannot_run_backtests(browser_page, viewer):
    page = browser_page
    sign_in(page, viewer)
    page.goto("/backtests/new/")
    expect(page.locator("[data-cannot-run]")).to_be_visible()
    assert page.locator("#backtest-form").count() == 0

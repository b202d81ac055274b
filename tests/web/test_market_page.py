"""The market-data page in a real browser: a large series loads downsampled and refines
on zoom; operators sync from the (fake) Binance and follow the run live."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from playwright.sync_api import expect

from marketdata import selectors
from marketdata.importers.batch import CandleBatch
from marketdata.models import SyncRun
from marketdata.services import get_or_create_series, get_or_create_symbol
from marketdata.storage import upsert_candles
from tests.fakes.fake_binance import make_klines
from tests.web.conftest import screenshots, sign_in

pytestmark = pytest.mark.celery_worker

START = datetime(2024, 1, 1, tzinfo=UTC)
LARGE = 250_000  # one-minute candles: about 174 days


def store_series(symbol: str, timeframe: str, count: int, step: timedelta, seed: int) -> None:
    """A random walk of `count` candles, written with one binary COPY (no ORM objects)."""
    rng = np.random.default_rng(seed)
    close = 40_000 * np.exp(np.cumsum(rng.normal(0, 0.001, count)))
    open_ = np.r_[40_000.0, close[:-1]]
    spread = np.abs(rng.normal(0, 0.0005, count)) * close
    start_us = int(START.timestamp() * 1_000_000)
    batch = CandleBatch(
        timestamp_us=start_us + np.arange(count, dtype=np.int64) * int(step.total_seconds() * 1e6),
        open=open_.round(2),
        high=(np.maximum(open_, close) + spread).round(2),
        low=(np.minimum(open_, close) - spread).round(2),
        close=close.round(2),
        volume=rng.gamma(2.0, 5.0, count).round(5),
        quote_volume=np.full(count, np.nan),
        trade_count=np.full(count, -1, dtype=np.int64),
        line=np.arange(1, count + 1, dtype=np.int64),
    )
    upsert_candles(get_or_create_series(symbol, timeframe), batch)


def chart_attribute(page, name: str) -> int:
    return int(page.get_attribute("#market-chart", name))


def canvas_is_drawn(page) -> bool:
    """Some pixel of the chart's canvases differs from its corner (the background)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('#market-chart canvas')).some((c) => {
            if (!c.width || !c.height) return false;
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 4; i < px.length; i += 4) {
                if (px[i] !== px[0] || px[i + 1] !== px[1] || px[i + 2] !== px[2]) return true;
            }
            return false;
        })"""
    )


def test_a_large_series_loads_downsampled_and_refines_on_zoom(browser_page, analyst):
    store_series("BTCUSDT", "1m", LARGE, timedelta(minutes=1), seed=3)
    store_series("ETHUSDT", "1h", 600, timedelta(hours=1), seed=4)
    page = browser_page
    sign_in(page, analyst)

    # A link preselects the series; the small one is shown whole, at full resolution.
    page.goto("/market/?symbol=ETHUSDT&timeframe=1h")
    chart = page.locator("#market-chart")
    expect(chart).to_have_attribute("data-candle-count", "600")
    expect(chart).to_have_attribute("data-bucket-seconds", "3600")
    expect(page.locator("#market-summary")).to_have_text("Showing all 600 candles (1h).")

    # Picking the large series loads all of it, downsampled to about two candles a pixel.
    page.select_option("#pick-symbol", "BTCUSDT")
    expect(page.locator("#market-summary")).to_contain_text("of 250,000 candles")
    assert re.search(r"\?symbol=BTCUSDT&timeframe=1m$", page.url)
    assert page.input_value("#pick-timeframe") == "1m"
    count = chart_attribute(page, "data-candle-count")
    bucket = chart_attribute(page, "data-bucket-seconds")
    assert 1000 <= count <= 4000 and bucket > 60
    assert count * bucket >= LARGE * 60  # the whole stored range
    expect(page.locator("#market-summary")).to_contain_text(f"{bucket // 60}-minute buckets")
    page.wait_for_function("() => document.querySelectorAll('#market-chart canvas').length > 0")
    assert canvas_is_drawn(page)
    assert page.locator("#sync-form").count() == 0 and page.locator("#sync-runs").count() == 0
    screenshots(page, "market")
    # The whole series stays in view on a phone (the chart refits on resize).
    page.set_viewport_size({"width": 375, "height": 900})
    page.wait_for_function(
        "() => { const r = Central.marketChart.chart.timeScale().getVisibleRange(), rows ="
        " Central.marketChart.rows(); return r && r.from <= rows[0].t"
        " && r.to >= rows[rows.length - 1].t; }"
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Switch between light and dark theme").click()
    screenshots(page, "market-dark")
    # The refit after the last resize is done before the zoom below, not after it.
    page.evaluate(
        "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )

    # Zooming to three hours fetches that window at full resolution, in place.
    zoom_start = START + timedelta(days=100, hours=5)
    start_s = int(zoom_start.timestamp())
    page.evaluate(
        "([from, to]) => Central.marketChart.chart.timeScale().setVisibleRange({from, to})",
        [start_s, start_s + 3 * 3600],
    )
    expect(chart).to_have_attribute("data-bucket-seconds", "60")
    expect(page.locator("#market-summary")).to_contain_text("full 1m resolution in view")
    shown = page.evaluate(
        "(t) => Central.marketChart.rows().filter((r) => r.t === t)[0]", start_s + 3600
    )
    series = selectors.find_series("BTCUSDT", "1m")
    moment = zoom_start + timedelta(hours=1)
    stored = selectors.candle_arrays(series, moment, moment + timedelta(minutes=1))
    assert shown is not None
    for field in ("open", "high", "low", "close", "volume"):
        assert shown[field] == pytest.approx(float(stored[field][0])), field
    # Outside the window the coarse candles stay: far fewer than the 250,000 stored.
    assert chart_attribute(page, "data-candle-count") < 2 * 4000
    assert canvas_is_drawn(page)

    # A link to a series that is not stored says so and shows a stored one.
    page.goto("/market/?symbol=XRPUSDT&timeframe=1h")
    expect(page.locator("#market-error")).to_contain_text("No XRPUSDT 1h candles are stored")
    expect(page.locator("#market-summary")).to_contain_text("candles")


def test_operator_syncs_from_binance_and_follows_it_live(browser_page, operator, fake_binance):
    fake_binance.load_klines("SOLUSDT", "1m", make_klines("1m", START, START + timedelta(days=1)))
    waiting = SyncRun.objects.create(
        symbol=get_or_create_symbol("ADAUSDT"), timeframe="1h", start=START, requested_by=operator
    )
    page = browser_page
    sign_in(page, operator)
    page.goto("/market/")

    # Nothing stored yet: a helpful message, and the form to fetch something.
    expect(page.locator("#market-empty")).to_be_visible()
    expect(page.locator("#market-view")).to_be_hidden()

    # A pending run can be cancelled from its row.
    row = page.locator(f'#sync-runs tr[data-row-id="{waiting.pk}"]')
    expect(row.locator("[data-status]")).to_have_text("pending")
    row.get_by_role("button", name=f"Cancel sync run {waiting.pk}").click()
    expect(row.locator("[data-status]")).to_have_text("cancelled")
    expect(row).to_contain_text("cancelled by ops")
    expect(row.locator("[data-progress]")).to_have_text("stopped")
    waiting.refresh_from_db()
    assert waiting.status == SyncRun.Status.CANCELLED

    # An invalid request is refused in place.
    page.fill("#sync-symbol", "SOLUSDT")
    page.select_option("#sync-timeframe", "1m")
    page.fill("#sync-start", "2024-01-01T00:00")
    page.fill("#sync-end", "2023-12-31T00:00")
    page.get_by_role("button", name="Start sync").click()
    expect(page.locator("#sync-form .field-error")).to_contain_text("must be after start")
    # The browser logs the refused request itself; that error is the expected one.
    refused = [e for e in page.console_errors if "status of 400" in e]
    assert len(refused) == 1, page.console_errors
    page.console_errors.remove(refused[0])
    assert not SyncRun.objects.filter(symbol__name="SOLUSDT").exists()

    page.fill("#sync-end", "2024-01-02T00:00")
    page.get_by_role("button", name="Start sync").click()
    expect(page.locator("#sync-feedback")).to_contain_text("queued")
    run = SyncRun.objects.get(symbol__name="SOLUSDT")
    row = page.locator(f'#sync-runs tr[data-row-id="{run.pk}"]')
    expect(row.locator("[data-status]")).to_have_text("succeeded", timeout=30_000)
    expect(row.locator("[data-progress]")).to_have_text("100 %")
    expect(row).to_contain_text("1,440")
    expect(page.locator("#sync-feedback")).to_contain_text("1,440 candles stored")

    # The new series appears in the picker and on the chart.
    expect(page.locator("#pick-symbol option[value=SOLUSDT]")).to_have_count(1)
    expect(page.locator("#market-view")).to_be_visible()
    expect(page.locator("#market-chart")).to_have_attribute("data-candle-count", "1440")
    expect(page.locator("#market-empty")).to_be_hidden()
    screenshots(page, "market-operator")

"""Live candles on the market page, in a real browser: what `publish_candle` sends in the
test process reaches the live daphne server through the shared Redis channel layer and
updates the chart in place, without a reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from playwright.sync_api import expect

from marketdata.importers.batch import CandleBatch
from marketdata.live import publish_candle
from marketdata.services import get_or_create_series
from marketdata.storage import upsert_candles
from tests.web.conftest import screenshots, sign_in

pytestmark = pytest.mark.celery_worker

START = datetime(2024, 1, 1, tzinfo=UTC)
STORED = 120  # one-minute candles: shown whole, at full resolution


def store_minutes(symbol: str, count: int, first: int = 0) -> None:
    """`count` one-minute candles from minute `first` after START, the close of minute m
    being 100 + m."""
    minutes = np.arange(first, first + count, dtype=np.int64)
    close = 100.0 + minutes
    open_ = close - 0.5
    start_us = int(START.timestamp() * 1_000_000)
    batch = CandleBatch(
        timestamp_us=start_us + minutes * 60_000_000,
        open=open_,
        high=close + 1,
        low=open_ - 1,
        close=close,
        volume=np.full(count, 2.0),
        quote_volume=np.full(count, np.nan),
        trade_count=np.full(count, -1, dtype=np.int64),
        line=np.arange(1, count + 1, dtype=np.int64),
    )
    upsert_candles(get_or_create_series(symbol, "1m"), batch)


def candle(minute: int, close: float, volume: float = 3.0) -> dict:
    return {"time": START + timedelta(minutes=minute), "open": 219.5, "high": max(close, 221.0),
            "low": 218.0, "close": close, "volume": volume}  # fmt: skip


def drawn_last_bar(page) -> dict:
    """The chart library's own last candle and volume bar (not the page's copy)."""
    return page.evaluate(
        """() => { const m = Central.marketChart, c = m.candles.data(), v = m.volume.data();
            return {...c[c.length - 1], volume: v[v.length - 1].value, bars: c.length}; }"""
    )


def test_live_candles_update_the_chart_in_place(browser_page, viewer):
    store_minutes("BTCUSDT", STORED)
    store_minutes("ETHUSDT", 6000)  # drawn in buckets: too many for the chart's width
    page = browser_page
    sockets = []
    page.on("websocket", lambda socket: sockets.append(socket))
    sign_in(page, viewer)  # no permission at all: candles are everyone's reference data

    page.goto("/market/?symbol=BTCUSDT&timeframe=1m")
    chart = page.locator("#market-chart")
    status = page.locator("[data-live-status]")
    last_price = page.locator("[data-last-price]")
    expect(chart).to_have_attribute("data-candle-count", str(STORED))
    # "live" once the server confirmed the subscription: nothing published after is lost.
    expect(status).to_have_attribute("data-live-status", "live")
    expect(last_price).to_have_text("219")  # the last stored close
    next_minute = int((START + timedelta(minutes=STORED)).timestamp())

    # A forming candle after the last stored one extends the chart by one bar...
    publish_candle("BTCUSDT", "1m", candle(STORED, 220.25), closed=False)
    expect(last_price).to_have_text("220.25")
    expect(chart).to_have_attribute("data-candle-count", str(STORED + 1))
    bar = drawn_last_bar(page)
    assert (bar["time"], bar["close"], bar["volume"], bar["bars"]) == (
        next_minute, 220.25, 3.0, STORED + 1)  # fmt: skip

    # ...then updates that bar as it forms, and the closed version finalises it.
    publish_candle("BTCUSDT", "1m", candle(STORED, 222.5, volume=4.0), closed=False)
    expect(last_price).to_have_text("222.5")
    publish_candle("BTCUSDT", "1m", candle(STORED, 221.75, volume=5.5), closed=True)
    expect(last_price).to_have_text("221.75")
    bar = drawn_last_bar(page)
    assert (bar["time"], bar["close"], bar["high"], bar["volume"], bar["bars"]) == (
        next_minute, 221.75, 221.75, 5.5, STORED + 1)  # fmt: skip
    expect(chart).to_have_attribute("data-candle-count", str(STORED + 1))
    expect(page.locator('[data-stat="count"]')).to_have_text(str(STORED + 1))
    expect(page.locator('[data-stat="last"]')).to_have_text("2024-01-01 02:00 UTC")
    expect(page.locator("#market-summary")).to_have_text(f"Showing all {STORED + 1} candles (1m).")
    # Another series' candle does not reach this chart; the next minute's does.
    publish_candle("ETHUSDT", "1m", candle(STORED + 1, 999.0), closed=False)
    publish_candle("BTCUSDT", "1m", candle(STORED + 1, 223.0), closed=False)
    expect(last_price).to_have_text("223")
    expect(chart).to_have_attribute("data-candle-count", str(STORED + 2))
    assert page.evaluate("() => Central.marketChart.rows().some((r) => r.close === 999)") is False
    expect(status).to_have_text("live")
    # After a reconnect, what was stored meanwhile (here: the forming minute, closed,
    # and the one after) is fetched and drawn in place.
    store_minutes("BTCUSDT", 2, first=STORED + 1)
    page.evaluate("() => Central.market.live.catchUp()")
    expect(chart).to_have_attribute("data-candle-count", str(STORED + 3))
    bar = drawn_last_bar(page)
    assert (bar["time"], bar["close"]) == (next_minute + 120, 100 + STORED + 2)
    assert page.evaluate("() => Central.marketChart.rows().at(-2).close") == 100 + STORED + 1
    assert page.url.endswith("/market/?symbol=BTCUSDT&timeframe=1m")  # no reload happened
    screenshots(page, "market-live")

    # Switching series closes the old socket and opens the new series' one. Its end is
    # drawn in buckets: live candles update the price but not the chart ("paused").
    page.select_option("#pick-symbol", "ETHUSDT")
    expect(page.locator("#market-summary")).to_contain_text("of 6,000 candles")
    expect(status).to_have_attribute("data-live-status", "paused")
    assert [s.url.split("/ws/")[1] for s in sockets] == ["market/BTCUSDT/1m/", "market/ETHUSDT/1m/"]
    if not sockets[0].is_closed():
        sockets[0].wait_for_event("close")
    assert not sockets[1].is_closed()
    drawn = int(chart.get_attribute("data-candle-count"))
    assert drawn < 6000
    publish_candle("ETHUSDT", "1m", candle(6000, 5999.5), closed=False)
    expect(last_price).to_have_text("5,999.5")
    assert int(chart.get_attribute("data-candle-count")) == drawn

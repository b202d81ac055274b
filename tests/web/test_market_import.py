"""The market-data page's import panel in a real browser: an analyst uploads Binance
kline files through POST /api/market-data/import/. A file with a bad row is refused whole
(the row's line and field are listed, nothing is stored); with "Skip invalid rows" the
good rows are stored and the bad one listed; a good file's series appears in the pickers
and on the chart."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from marketdata.models import Candle, CandleSeries
from tests.marketdata.fixtures.candle_files import (
    HOUR_MS,
    field,
    join_lines,
    klines,
    lines_of,
    set_field,
    table_counts,
)
from tests.web.conftest import forgive_refusal, screenshots, sign_in

pytestmark = pytest.mark.celery_worker

IMPORT_URL = "/api/market-data/import/"
ROWS = 30
BAD_LINE = 7  # its high is below its open


def file_with_one_bad_line() -> bytes:
    lines = lines_of(klines(ROWS, seed=11))
    bad = lines[BAD_LINE - 1]
    lines[BAD_LINE - 1] = set_field(bad, 2, f"{float(field(bad, 1)) - 1:.2f}")
    return join_lines(lines)


def upload(page, name: str, data: bytes) -> None:
    files = [{"name": name, "mimeType": "text/csv", "buffer": data}]
    page.set_input_files("#import-file", files=files)


def submit(page) -> None:
    page.get_by_role("button", name="Import", exact=True).click()


def test_analyst_imports_candle_files(browser_page, analyst):
    page = browser_page
    sign_in(page, analyst)
    page.goto("/market/")
    expect(page.locator("#market-empty")).to_contain_text("Import a candle file")
    expect(page.locator("#import-timeframe option[value='1m']")).to_have_count(1)
    result = page.locator("#import-result")

    # Nothing filled in: the API's field errors appear next to their controls.
    submit(page)
    expect(page.locator("#import-form .field-error")).to_have_count(3)  # file, symbol, timeframe
    expect(page.locator("#import-file")).to_have_attribute("aria-invalid", "true")
    forgive_refusal(page, IMPORT_URL)

    # A Binance file with one bad row: its name fills in symbol and timeframe, and the
    # whole file is refused, naming the line and the field; nothing is stored.
    before = table_counts()
    upload(page, "BTCUSDT-1m-2024-01-01.csv", file_with_one_bad_line())
    expect(page.locator("#import-symbol")).to_have_value("BTCUSDT")
    expect(page.locator("#import-timeframe")).to_have_value("1m")
    submit(page)
    expect(result).to_have_attribute("data-state", "refused")
    expect(result.locator("[data-import-summary]")).to_have_text(
        f"1 of {ROWS} rows are invalid; nothing was stored."
    )
    errors = result.locator("[data-import-error]")
    expect(errors).to_have_count(1)
    expect(errors.first).to_have_attribute("data-line", str(BAD_LINE))
    expect(errors.first).to_have_attribute("data-field", "high")
    expect(errors.first).to_have_text(
        f"Line {BAD_LINE}, field high: high is below max(open, close)"
    )
    forgive_refusal(page, IMPORT_URL)
    assert table_counts() == before
    expect(page.locator("#market-empty")).to_be_visible()

    # The same file with "Skip invalid rows": the good rows are stored, the bad one listed,
    # and the new series is shown.
    page.get_by_label("Skip invalid rows").check()
    submit(page)
    expect(result).to_have_attribute("data-state", "warn")
    expect(result.locator("[data-import-summary]")).to_have_text(
        f"Imported BTCUSDT 1m (binance): {ROWS - 1} candles stored,"
        " 0 already stored (duplicates), 1 row rejected."
    )
    expect(result.locator(f'[data-import-error][data-line="{BAD_LINE}"]')).to_have_count(1)
    series = CandleSeries.objects.get(symbol__name="BTCUSDT", timeframe="1m", source="binance")
    assert Candle.objects.filter(series=series).count() == ROWS - 1
    expect(page.locator("#market-view")).to_be_visible()
    expect(page.locator("#market-chart")).to_have_attribute("data-candle-count", str(ROWS - 1))
    expect(page.locator("#pick-symbol")).to_have_value("BTCUSDT")
    screenshots(page, "market-import")

    # A good file under another name and source: typed symbol and timeframe; the series
    # appears in the pickers, is selected, and the chart draws all its candles.
    good = klines(48, step_ms=HOUR_MS, seed=12)
    page.get_by_label("Skip invalid rows").uncheck()
    upload(page, "eth-hourly.csv", good)
    page.fill("#import-symbol", "eth/usdt")
    page.select_option("#import-timeframe", "1h")
    page.fill("#import-source", "example-csv")
    submit(page)
    expect(result).to_have_attribute("data-state", "ok")
    expect(result.locator("[data-import-summary]")).to_have_text(
        "Imported ETHUSDT 1h (example-csv): 48 candles stored,"
        " 0 already stored (duplicates), 0 rows rejected."
    )
    expect(result.locator("[data-import-error]")).to_have_count(0)
    expect(page.locator("#pick-symbol option[value=ETHUSDT]")).to_have_count(1)
    expect(page.locator("#pick-symbol")).to_have_value("ETHUSDT")
    expect(page.locator("#pick-timeframe")).to_have_value("1h")
    expect(page.locator("#market-chart")).to_have_attribute("data-candle-count", "48")
    assert "symbol=ETHUSDT&timeframe=1h" in page.url
    page.wait_for_function("() => document.querySelectorAll('#market-chart canvas').length > 0")

    # Uploading it again stores nothing new: all duplicates, the chart stays as it is.
    submit(page)
    expect(result.locator("[data-import-summary]")).to_contain_text(
        "0 candles stored, 48 already stored (duplicates)"
    )
    assert Candle.objects.filter(series__symbol__name="ETHUSDT").count() == 48

"""The sweep pages in a real browser: a two-parameter sweep launched from the form (a bad
value first, reported in place), run by the real worker while the page follows it, then
every cell in the results table and a heat map whose cells hold the API's values; the
list shows it finished. A sweep with a fixed value for the parameter outside its grid,
a sizing and a stop loss (a bad risk value first, reported in place) whose cells all ran
with them. A viewer it is shared with sees neither cancel nor sharing."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import expect

from accounts import sharing
from backtest import services
from backtest.models import Sweep
from marketdata.services import import_candles
from tests.backtest.api.conftest import sine_klines, sma_cross_definition
from tests.web.conftest import forgive_refusal, screenshots, sign_in

pytestmark = pytest.mark.celery_worker

FAST, SLOW = [5, 8], [20, 30, 40]  # 2 columns x 3 rows


def test_launch_a_sweep_follow_it_and_read_the_heat_map(browser_page, analyst):
    import_candles(io.BytesIO(sine_klines(count=300)), symbol="BTCUSDT", timeframe="1h")
    strategy = services.create_strategy(analyst, name="SMA cross", **sma_cross_definition())
    page = browser_page
    sign_in(page, analyst)

    page.goto("/sweeps/")
    page.get_by_role("link", name="New sweep").click()
    expect(page).to_have_url(re.compile(r"/sweeps/new/$"))
    form = page.locator("[data-sweep-form]")
    expect(page.get_by_label("Strategy")).to_have_value(str(strategy.pk))
    expect(page.get_by_label("Symbol")).to_have_value("BTCUSDT")
    rows = form.locator("[data-grid-row]")
    expect(rows).to_have_count(2)  # the strategy's two parameters, one row each
    expect(rows.nth(0).locator("[data-param]")).to_have_value("fast")
    expect(rows.nth(1).locator("[data-param]")).to_have_value("slow")
    page.get_by_label("Name").fill("Windows")

    # A value that is not a number: the API's error appears next to that row.
    rows.nth(0).get_by_label("Values", exact=True).fill("5, x")
    page.get_by_role("button", name="Start sweep").click()
    error = rows.nth(0).locator(".field-error")
    expect(error).to_be_visible()
    expect(rows.nth(0).get_by_label("Values", exact=True)).to_have_attribute("aria-invalid", "true")
    assert not Sweep.objects.exists()
    # Chromium logs the refused fetch() on the console: that one 400 was provoked here.
    refused = [e for e in page.console_errors if "status of 400" in e and "/api/sweeps/" in e]
    assert len(refused) == 1, page.console_errors
    page.console_errors.remove(refused[0])

    rows.nth(0).get_by_label("Values", exact=True).fill("5, 8")
    rows.nth(1).get_by_label("From", exact=True).fill("20")
    rows.nth(1).get_by_label("To", exact=True).fill("40")
    rows.nth(1).get_by_label("Step", exact=True).fill("10")
    rows.nth(1).get_by_role("button", name="Fill row").click()
    expect(rows.nth(1).get_by_label("Values", exact=True)).to_have_value("20, 30, 40")
    expect(form.locator("[data-combinations]")).to_have_text("6 combinations")
    page.get_by_label("Rank cells by").select_option("total_pnl_percentage")
    screenshots(page, "sweep-new")
    page.get_by_role("button", name="Start sweep").click()

    expect(page).to_have_url(re.compile(r"/sweeps/\d+/$"))
    sweep = Sweep.objects.get()
    assert (sweep.name, sweep.grid, sweep.rank_metric) == (
        "Windows",
        {"fast": FAST, "slow": SLOW},
        "total_pnl_percentage",
    )
    # Followed live until the worker has run every cell.
    expect(page.locator("[data-sweep-status]")).to_have_attribute(
        "data-sweep-status", "completed", timeout=60_000
    )
    expect(page.locator("[data-progress-text]")).to_contain_text("6 of 6 cells finished")
    expect(page.locator("[data-cancel-sweep]")).to_be_hidden()

    ranking = page.locator("[data-ranking] tr[data-row-id]")
    expect(ranking).to_have_count(6)
    api = page.request.get(f"/api/sweeps/{sweep.pk}/").json()
    assert {str(cell["backtest"]) for cell in api["ranking"]} == {
        ranking.nth(i).get_attribute("data-row-id") for i in range(6)
    }
    heatmap = page.locator("table.heatmap")
    expect(heatmap).to_have_attribute("data-rows", str(len(SLOW)))
    expect(heatmap).to_have_attribute("data-cols", str(len(FAST)))
    cells = heatmap.locator("td[data-x]")
    expect(cells).to_have_count(len(FAST) * len(SLOW))
    expected = {
        (str(c["parameters"]["fast"]), str(c["parameters"]["slow"])): c["value"]
        for c in api["ranking"]
    }
    for i in range(cells.count()):
        cell = cells.nth(i)
        key = (cell.get_attribute("data-x"), cell.get_attribute("data-y"))
        assert float(cell.get_attribute("data-value")) == pytest.approx(expected[key])
        assert cell.evaluate("td => td.style.backgroundColor") != ""
    best = next(c for c in api["ranking"] if c["rank"] == 1)
    best_cell = heatmap.locator(
        f'td[data-x="{best["parameters"]["fast"]}"][data-y="{best["parameters"]["slow"]}"] a'
    )
    expect(best_cell).to_have_attribute("href", f"/backtests/{best['backtest']}/")

    # Another metric re-ranks through the API and recolours the map with its values.
    page.get_by_label("Metric", exact=True).select_option("max_drawdown_percentage")
    expect(page.locator("[data-ranking] caption")).to_have_text("Ranked by Max drawdown %")
    by_drawdown = page.request.get(
        f"/api/sweeps/{sweep.pk}/?rank_metric=max_drawdown_percentage"
    ).json()
    lowest = next(c for c in by_drawdown["ranking"] if c["rank"] == 1)
    lowest_cell = heatmap.locator(
        f'td[data-x="{lowest["parameters"]["fast"]}"][data-y="{lowest["parameters"]["slow"]}"]'
    )
    assert float(lowest_cell.get_attribute("data-value")) == pytest.approx(lowest["value"])
    expect(page.locator("[data-heatmap-legend]")).to_contain_text("better")
    screenshots(page, "sweep-result")

    page.goto("/sweeps/")
    row = page.locator(f'[data-sweep-table] tr[data-row-id="{sweep.pk}"]')
    expect(row).to_contain_text("Windows")
    expect(row.locator(".badge")).to_have_text("completed")
    screenshots(page, "sweep-list")


def test_a_sweep_with_a_fixed_parameter_sizing_and_a_stop_loss(browser_page, analyst):
    import_candles(io.BytesIO(sine_klines(count=300)), symbol="BTCUSDT", timeframe="1h")
    strategy = services.create_strategy(analyst, name="SMA cross", **sma_cross_definition())
    page = browser_page
    sign_in(page, analyst)
    page.goto(f"/sweeps/new/?strategy={strategy.pk}")
    form = page.locator("[data-sweep-form]")
    rows = form.locator("[data-grid-row]")
    expect(rows).to_have_count(2)
    fast, slow = page.locator("#sweep-param-fast"), page.locator("#sweep-param-slow")
    # Both parameters are in the grid: none is offered as a fixed value.
    expect(fast).to_be_hidden()
    expect(slow).to_be_hidden()
    expect(form.locator("[data-fixed-help]")).to_have_text("Every parameter is in the grid.")

    # Out of the grid, a parameter joins the fixed list (its default greyed), and back.
    rows.nth(1).get_by_role("button", name="Remove row").click()
    expect(slow).to_be_visible()
    expect(slow).to_have_attribute("placeholder", "20")
    expect(fast).to_be_hidden()
    page.get_by_role("button", name="Add parameter").click()
    expect(rows.nth(1).locator("[data-param]")).to_have_value("slow")
    expect(slow).to_be_hidden()
    rows.nth(1).get_by_role("button", name="Remove row").click()
    expect(slow).to_be_visible()

    rows.nth(0).get_by_label("Values", exact=True).fill("5, 8")
    expect(form.locator("[data-combinations]")).to_have_text("2 combinations")
    slow.fill("30")
    # The strategy's own settings are greyed in the empty option fields.
    expect(page.locator("#sweep-fee")).to_have_attribute("placeholder", "0.001")
    expect(page.locator("#sweep-direction option[value='']")).to_have_text("strategy's (long)")
    page.locator("#sweep-sizing-mode").select_option("fraction")
    page.locator("#sweep-sizing-value").fill("0.5")

    # A stop loss out of range: the API's error appears next to its field.
    stop_loss = page.locator("#sweep-stop-loss")
    stop_loss.fill("1.5")
    page.get_by_role("button", name="Start sweep").click()
    expect(stop_loss).to_have_attribute("aria-invalid", "true")
    expect(form.locator("#sweep-stop-loss + .field-error")).to_contain_text("< 1")
    assert not Sweep.objects.exists()
    forgive_refusal(page, "/api/sweeps/")

    stop_loss.fill("0.03")
    expect(form.locator("#sweep-stop-loss + .field-error")).to_have_count(0)
    screenshots(page, "sweep-new-options")
    page.get_by_role("button", name="Start sweep").click()
    expect(page).to_have_url(re.compile(r"/sweeps/\d+/$"))
    sweep = Sweep.objects.get()
    assert sweep.grid == {"fast": [5, 8]}
    assert sweep.options == {
        "sizing": {"mode": "fraction", "value": 0.5},
        "risk": {"stop_loss": 0.03},
    }
    expect(page.locator("[data-sweep-status]")).to_have_attribute(
        "data-sweep-status", "completed", timeout=60_000
    )
    cells = list(sweep.backtests.order_by("parameters__parameters__fast"))
    assert [cell.status for cell in cells] == ["completed", "completed"]
    assert [cell.parameters["parameters"] for cell in cells] == [
        {"fast": 5, "slow": 30},
        {"fast": 8, "slow": 30},
    ]
    for cell in cells:
        assert cell.parameters["sizing"]["mode"] == "fraction"
        assert cell.parameters["sizing"]["value"] == 0.5
        assert cell.parameters["risk"]["stop_loss"] == 0.03
        assert cell.parameters["fee"] == 0.001  # left empty: the strategy's own


def test_a_viewer_of_a_shared_sweep_gets_no_cancel_or_sharing(browser_page, analyst, viewer):
    import_candles(io.BytesIO(sine_klines(count=300)), symbol="BTCUSDT", timeframe="1h")
    strategy = services.create_strategy(analyst, name="SMA cross", **sma_cross_definition())
    sweep = services.submit_sweep(
        analyst,
        services.BacktestRequest(strategy=strategy, symbol="BTCUSDT", timeframe="1h"),
        {"fast": [5, 8]},
    )
    sharing.share(sweep, grantee_type="user", grantee=viewer.username, actor=analyst)
    page = browser_page
    sign_in(page, viewer)
    page.goto(f"/sweeps/{sweep.pk}/")
    expect(page.locator("[data-sweep-status]")).to_have_attribute(
        "data-sweep-status", "completed", timeout=60_000
    )
    expect(page.locator("[data-param-bars] td[data-x]")).to_have_count(2)
    assert page.locator("[data-cancel-sweep]").count() == 0
    assert page.locator("[data-share-panel]").count() == 0
    page.goto("/sweeps/")
    expect(page.locator(f'tr[data-row-id="{sweep.pk}"]')).to_be_visible()
    assert page.get_by_role("link", name="New sweep").count() == 0

"""The comparison page in a real browser: two completed backtests overlaid (normalised
equity, one series each), the better value of a metric marked on the right run, and
the picker that builds a comparison from ticked runs."""

from __future__ import annotations

import io

import pytest
from playwright.sync_api import expect

from backtest import services
from backtest.execution import execute_backtest
from backtest.models import Backtest, RunStatus
from marketdata.services import import_candles
from tests.backtest.api.conftest import sine_klines, sma_cross_definition
from tests.web.conftest import screenshots, sign_in

pytestmark = pytest.mark.celery_worker


def completed_run(owner, name: str, fast: int, slow: int) -> Backtest:
    """A run made through the service and executed in this process by the function the
    worker calls (its results are stored exactly as the worker stores them)."""
    strategy = services.create_strategy(owner, name=name, **sma_cross_definition())
    backtest = services.submit_backtest(
        owner,
        services.BacktestRequest(
            strategy=strategy,
            symbol="BTCUSDT",
            timeframe="1h",
            parameters={"fast": fast, "slow": slow},
        ),
    )
    execute_backtest(backtest.pk, respect_user_limit=False)
    backtest.refresh_from_db()
    assert backtest.status == RunStatus.COMPLETED, backtest.error
    return backtest


def test_two_backtests_overlaid_with_the_better_values_marked(browser_page, analyst):
    import_candles(io.BytesIO(sine_klines(count=300)), symbol="BTCUSDT", timeframe="1h")
    quick = completed_run(analyst, "SMA 5/20", 5, 20)
    slow = completed_run(analyst, "SMA 10/40", 10, 40)
    returns = [r.performance_summary.metrics["total_pnl_percentage"] for r in (quick, slow)]
    assert returns[0] != returns[1]
    winner = (quick, slow)[returns.index(max(returns))]
    page = browser_page
    sign_in(page, analyst)

    # Built from the picker: tick both runs and compare.
    page.goto("/backtests/compare/")
    expect(page.locator("[data-compare-hint]")).to_be_visible()
    page.get_by_label(f"#{quick.pk} SMA 5/20").check()
    page.get_by_label(f"#{slow.pk} SMA 10/40").check()
    page.get_by_role("button", name="Compare selected").click()

    chart = page.locator("[data-compare-chart]")
    expect(chart).to_have_attribute("data-series-count", "2")
    expect(page.locator("[data-compare-legend] li")).to_have_count(2)
    best_return = page.locator('tr[data-metric="total_pnl_percentage"] td.best')
    expect(best_return).to_have_count(1)
    expect(best_return).to_have_attribute("data-run", str(winner.pk))
    header = page.locator(f'th[data-run="{winner.pk}"] a')
    expect(header).to_have_attribute("href", f"/backtests/{winner.pk}/")

    page.get_by_label("Show drawdowns").check()
    expect(page.locator("[data-drawdown-chart]")).to_have_attribute("data-series-count", "2")
    screenshots(page, "compare")


def test_unknown_ids_are_listed_not_a_crash(browser_page, analyst):
    page = browser_page
    sign_in(page, analyst)
    page.goto("/backtests/compare/?ids=424242,abc")
    errors = page.locator("[data-compare-errors]")
    expect(errors).to_contain_text("No backtest you can see has the id #424242.")
    expect(errors).to_contain_text("Not backtest ids: “abc”.")
    expect(page.locator("[data-compare-chart]")).to_have_count(0)

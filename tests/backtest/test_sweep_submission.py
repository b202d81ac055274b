"""Submitting a sweep: every cell checked, and a few queries whatever its size."""

import pytest

from backtest import services
from backtest.models import Backtest, RunStatus

pytestmark = pytest.mark.django_db


def test_a_large_sweep_is_checked_and_stored_in_a_bounded_number_of_queries(
    analyst, hourly_candles, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    request = services.BacktestRequest(symbol="BTCUSDT", timeframe="1h", template="sma_cross")
    grid = {"fast": [3, 4, 5, 6, 7, 8, 9, 10], "slow": [20, 30, 40, 50, 60]}
    with (
        django_capture_on_commit_callbacks(execute=False) as launches,
        # Owner object permissions: a lookup and one insert each for the sweep and cells.
        django_assert_max_num_queries(14),
    ):
        sweep = services.submit_sweep(analyst, request, grid, rank_metric="sqn")
    assert len(launches) == 1  # one chord, sent after the commit
    cells = Backtest.objects.filter(sweep=sweep)
    assert cells.count() == sweep.cell_count == 40
    assert {cell.status for cell in cells} == {RunStatus.QUEUED}
    assert {
        (c.parameters["parameters"]["fast"], c.parameters["parameters"]["slow"]) for c in cells
    } == {(fast, slow) for fast in grid["fast"] for slow in grid["slow"]}
    assert all(analyst.has_perm("backtest.delete_backtest", cell) for cell in cells)
    assert analyst.has_perm("backtest.change_sweep", sweep)


def test_a_cell_whose_window_outgrows_the_data_is_named_and_nothing_is_stored(
    analyst, hourly_candles
):
    request = services.BacktestRequest(symbol="BTCUSDT", timeframe="1h", template="sma_cross")
    with pytest.raises(services.InvalidBacktestInput) as refused:
        services.submit_sweep(analyst, request, {"slow": [50, 5000]})
    assert "grid cell 1 {'slow': 5000}" in str(refused.value)
    assert "600 bars" in str(refused.value)
    assert not Backtest.objects.exists()
